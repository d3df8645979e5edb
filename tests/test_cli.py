"""The `digitnet` command, run through its installed entry point in a subprocess."""

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import shared_file
from PIL import Image

DIGITNET = str(Path(sys.executable).with_name("digitnet"))


def run(*args, cwd=None, check=True, env=None):
    result = subprocess.run(
        [DIGITNET, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(f"digitnet {args} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def course_model(tmp_path_factory):
    """The course's weights imported as a digitnet model."""
    path = tmp_path_factory.mktemp("models") / "course.npz"
    run("import", shared_file("ex4weights.mat"), path)
    return path


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "digits.npz"
    run("train", "--max-iter", "40", "--validation", "0.1", "--out", path)
    return path


def test_help_for_every_command():
    commands = ["train", "evaluate", "predict", "gradcheck", "selftest", "export", "import"]
    commands += ["show", "report", "serve", "explore"]
    assert all(command in run("--help").stdout for command in commands)
    for command in commands:
        assert "Usage: digitnet" in run(command, "--help").stdout


def test_default_train_reads_the_embedded_digits(tmp_path):
    result = run("train", cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", result.stdout).group(1))
    assert accuracy >= 95
    assert list(tmp_path.iterdir()) == []  # nothing written without --out


def test_an_existing_model_is_not_overwritten(digits_model):
    before = digits_model.read_bytes()
    result = run("train", "--max-iter", "2", "--out", digits_model, check=False)
    assert result.returncode == 2
    assert "exists; pass --force" in result.stderr
    assert digits_model.read_bytes() == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_keeps_its_weights_and_resumes(tmp_path, sig):
    out = tmp_path / "m.npz"
    process = subprocess.Popen(
        [
            DIGITNET,
            "train",
            "--hidden",
            "200",
            "--max-iter",
            "100000",
            "--validation",
            "0.2",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(6)  # start-up and some iterations
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "stopped: interrupted" in stderr

    from digitnet import model_io

    model = model_io.load(out)
    n_iter = model.info["n_iter"]
    assert model.info["stop_reason"] == "interrupted" and n_iter >= 1
    assert len(model.history["cost"]) == n_iter
    # Without --early-stopping the weights kept are the last completed iteration's.
    assert model.info["best_iteration"] == n_iter
    assert np.all(np.isfinite(model.history["val_accuracy"]))

    resumed = tmp_path / "resumed.npz"
    run("train", "--resume", out, "--max-iter", "3", "--out", resumed)
    assert len(model_io.load(resumed).history["cost"]) == n_iter + 3


def test_evaluate_json(digits_model):
    report = json.loads(run("evaluate", digits_model, "--json", "--all-rows").stdout)
    assert 0.9 < report["accuracy"] <= 1 and report["n"] == 1797
    assert (report["rows"], report["seen_in_training"]) == ("all", 1797 - 360)
    assert set(report["per_class"]) == {str(d) for d in range(10)}
    assert np.sum(report["confusion"]) == 1797
    assert "precision" in run("evaluate", digits_model).stdout


def test_evaluate_and_report_leave_out_the_training_rows(tmp_path):
    model = tmp_path / "m.npz"
    trained = run("train", "--max-iter", "30", "--out", model)
    test_line = re.search(r"test accuracy: ([\d.]+)% of (\d+)", trained.stdout)
    result = run("evaluate", model, "--json")
    report = json.loads(result.stdout)
    # The held-out rows are exactly train's test split: the same accuracy on the same 360 rows.
    assert (report["rows"], report["seen_in_training"], report["n"]) == ("held-out", 0, 360)
    assert f"{100 * report['accuracy']:.2f}" == test_line.group(1)
    assert "left out the 1437 rows" in result.stderr and "--all-rows" in result.stderr
    text = run("evaluate", model, "--all-rows").stdout
    assert "all 1797 rows, 1437 seen in training" in text
    run("report", model, "--out", tmp_path / "r.html")
    assert "360 held-out rows" in (tmp_path / "r.html").read_text()


def test_a_model_trained_on_a_whole_file_has_no_held_out_rows(tmp_path):
    model = tmp_path / "m.npz"
    run("train", "--max-iter", "5", "--test-size", "0", "--out", model)
    refused = run("evaluate", model, check=False)
    assert refused.returncode == 1
    assert "all 1797 rows of sklearn digits" in refused.stderr and "--all-rows" in refused.stderr
    report = json.loads(run("evaluate", model, "--json", "--all-rows").stdout)
    assert (report["rows"], report["seen_in_training"]) == ("all", 1797)


def mnist_test_digits(count):
    """`count` held-out MNIST digits (28x28 uint8, ink bright) and labels, a seeded sample (the
    file is sorted by class)."""
    with gzip.open(shared_file("mnist-8k/t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(shared_file("mnist-8k/t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    rows = np.random.default_rng(0).choice(len(labels), count, replace=False)
    return images[rows], labels[rows]


def test_predict_reads_photos_at_other_sizes_and_polarities(tmp_path, course_model):
    images, labels = mnist_test_digits(20)
    paths = []
    for i, image in enumerate(images):
        # Scaled up 2-5x on a larger canvas off centre, half of them dark ink on white paper.
        side = 28 * (2 + i % 4)
        canvas = Image.new("L", (side + 40, side + 15 * (i % 3)), 0)
        canvas.paste(Image.fromarray(image).resize((side, side), Image.BICUBIC), (30, 5))
        picture = Image.eval(canvas, lambda v: 255 - v) if i % 2 else canvas
        paths.append(tmp_path / f"digit{i}.png")
        picture.save(paths[-1])
    results = json.loads(run("predict", course_model, *paths, "--json").stdout)
    assert [r["file"] for r in results] == [str(p) for p in paths]
    for r in results:
        assert sum(r["probabilities"].values()) == pytest.approx(1)
        assert r["label"] == int(max(r["probabilities"], key=r["probabilities"].get))
    read = np.array([r["label"] for r in results])
    assert np.mean(read == labels) >= 0.85
    assert "digit0.png:" in run("predict", course_model, paths[0]).stdout


def test_gradcheck_any_architecture():
    result = run("gradcheck", "--inputs", "6", "--hidden", "5", "--hidden", "4", "--lam", "1")
    assert re.search(r"relative difference [\d.e-]+ \(ok", result.stdout)
    assert "Theta3[" in result.stdout


def test_selftest_passes_and_fails_honestly():
    assert run("selftest").stdout.count("ok ") == 3
    # mnist20-5000.mat is not the course's ex4data1.mat: the published costs must not match.
    result = run(
        "selftest",
        "--data",
        shared_file("mnist20-5000.mat"),
        "--weights",
        shared_file("ex4weights.mat"),
        check=False,
    )
    assert result.returncode == 1
    assert "FAIL cost at lambda 0 = 0.287629" in result.stdout


def test_octave_export_import_round_trip(tmp_path, course_model):
    exported = tmp_path / "weights.mat"
    run("export", course_model, exported)
    original = scipy.io.loadmat(shared_file("ex4weights.mat"))
    back = scipy.io.loadmat(exported)
    for name in ("Theta1", "Theta2"):
        np.testing.assert_array_equal(back[name], original[name])


@pytest.mark.parametrize("kind", ["data", "hidden", "curves", "confusion", "mistakes"])
def test_show_writes_each_picture(tmp_path, digits_model, kind):
    out = tmp_path / f"{kind}.png"
    args = ["show", kind] + ([] if kind == "data" else [digits_model]) + ["--out", out]
    assert f"wrote {out}" in run(*args).stdout
    image = np.asarray(Image.open(out).convert("L"), dtype=float)
    assert image.shape[0] > 200 and image.var() > 100


def test_report_and_train_report(tmp_path, digits_model):
    out = tmp_path / "report.html"
    run("report", digits_model, "--out", out)
    page = out.read_text()
    for section in ["Model card", "Metrics", "Hidden units", "Learning curves", "Confusion"]:
        assert section in page
    assert page.count("data:image/png;base64,") == 5
    assert not re.search(r"(src|href)=\"(http|//)", page)
    run("train", "--max-iter", "5", "--out", tmp_path / "m.npz", "--report")
    assert (tmp_path / "m.html").exists()


def test_errors_are_one_line_with_exit_1_and_traceback_with_debug(tmp_path):
    result = run("train", "--data", tmp_path / "missing.mat", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("digitnet: error:")
    assert "missing.mat" in result.stderr and "Traceback" not in result.stderr
    debug = run("--debug", "train", "--data", tmp_path / "missing.mat", check=False)
    assert "Traceback" in debug.stderr
    assert run("train", "--solver", "newton", check=False).returncode == 2
    assert run("train", "--epochs", "3", check=False).returncode == 2


def test_explore_prints_the_grid_and_plots_it(tmp_path):
    out = tmp_path / "explore.png"
    result = run(
        "explore",
        "--lam",
        "0",
        "--lam",
        "3",
        "--max-iter",
        "5",
        "--max-iter",
        "15",
        "--hidden",
        "10",
        "--out",
        out,
    )
    rows = [line.split() for line in result.stdout.splitlines()[1:5]]
    assert [(r[0], r[1]) for r in rows] == [("0", "5"), ("0", "15"), ("3", "5"), ("3", "15")]
    assert Image.open(out).size[0] > 500


def test_train_on_a_local_dask_cluster_matches_one_machine(tmp_path):
    pytest.importorskip("distributed")
    args = ["train", "--max-iter", "10", "--validation", "0.2", "--chunk-size", "300"]
    run(*args, "--workers", "2", "--out", tmp_path / "cluster.npz")
    run(*args, "--out", tmp_path / "local.npz")

    from digitnet import model_io

    cluster, local = model_io.load(tmp_path / "cluster.npz"), model_io.load(tmp_path / "local.npz")
    for a, b in zip(cluster.thetas, local.thetas):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    refused = run("train", "--workers", "2", "--solver", "adam", check=False)
    assert refused.returncode == 2 and "train with lbfgs or cg" in refused.stderr


def test_show_without_a_display_says_where_the_picture_is(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = run("show", "data", "--out", tmp_path / "d.png", "--show", env=env)
    assert f"wrote {tmp_path / 'd.png'}" in result.stdout
    assert "no display here" in result.stderr
