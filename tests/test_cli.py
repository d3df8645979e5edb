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


def test_default_train_reads_the_embedded_digits_and_keeps_the_model(tmp_path):
    (tmp_path / "model.npz").write_bytes(b"an earlier model")
    result = run("train", cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", result.stdout).group(1))
    assert accuracy >= 95
    # Saved under a new name, never over what is there, and said so at the end.
    assert result.stderr.strip().splitlines()[-1] == "saved model-2.npz"
    assert (tmp_path / "model.npz").read_bytes() == b"an earlier model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-2.npz", "model.npz"]
    report = json.loads(run("evaluate", tmp_path / "model-2.npz", "--json").stdout)
    assert report["accuracy"] >= 0.95


def test_an_existing_model_is_not_overwritten(digits_model):
    before = digits_model.read_bytes()
    result = run("train", "--max-iter", "2", "--out", digits_model, check=False)
    assert result.returncode == 2
    assert "exists; pass --force" in result.stderr
    assert digits_model.read_bytes() == before


def test_an_output_that_could_not_be_written_is_refused_before_training(tmp_path):
    started = time.perf_counter()
    result = run("train", "--out", tmp_path / "no" / "m.npz", check=False)
    assert result.returncode == 2
    assert "folder" in result.stderr and "does not exist" in result.stderr
    assert "training" not in result.stderr
    assert time.perf_counter() - started < 60  # refused, not trained first
    result = run("train", "--out", tmp_path, check=False)
    assert result.returncode == 2 and "is a directory" in result.stderr


def test_a_lost_cluster_saves_the_weights_reached_and_exits_with_an_error(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from digitnet import cli, model_io
    from digitnet import train as training

    def cluster_lost_after_training(X, y, scheduler, workers, common, progress):
        # As train.train returns when the scheduler goes away (tests/test_distributed.py).
        model = training.train(X, y, progress=progress, **common)
        model.info["stop_reason"] = "cluster_lost"
        return model

    monkeypatch.setattr(cli, "_train_on_cluster", cluster_lost_after_training)
    out = tmp_path / "m.npz"
    result = CliRunner().invoke(
        cli.main, ["train", "--workers", "1", "--max-iter", "2", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "the Dask cluster was lost after 2 iterations" in result.output
    assert model_io.load(out).info["stop_reason"] == "cluster_lost"


def test_a_file_that_takes_the_name_during_training_is_kept_and_the_model_saved_beside(
    tmp_path, capsys
):
    from digitnet import cli, data, model_io, train

    digits = data.load_digits()
    model = train.train(digits.X, digits.y, max_iter=2)
    out = tmp_path / "m.npz"
    out.write_bytes(b"written while training ran")
    saved = cli._save_trained(model, out, overwrite=False)
    assert saved == tmp_path / "m-2.npz"
    assert out.read_bytes() == b"written while training ran"
    np.testing.assert_array_equal(model_io.load(saved).thetas[0], model.thetas[0])
    assert "m.npz appeared while training; saving to" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--max-checks", "0"], "--max-checks"),
        (["--classes", "1"], "--classes"),
        (["--examples", "0"], "--examples"),
        (["--hidden", "0"], "--hidden"),
        (["--lam", "-1"], "--lam"),
        (["--lam", "nan"], "--lam"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_gradcheck_refuses_settings_that_would_check_nothing_or_fail_for_nothing(args, named):
    result = run("gradcheck", *args, check=False)
    assert result.returncode == 2, result.stdout
    assert named in result.stderr and "ok" not in result.stdout


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
    first = process.stderr.readline()  # "training ...": the data is loaded, training begins
    time.sleep(3)  # some iterations (the signal handler is in place by then)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    stderr = first + stderr
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


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu"])
def test_gradcheck_takes_activation_and_output(activation):
    result = run("gradcheck", "--activation", activation, "--output", "softmax", "--lam", "1")
    assert f"{activation}, softmax output" in result.stdout
    assert re.search(r"relative difference [\d.e-]+ \(ok", result.stdout)


def test_train_a_relu_softmax_network_with_every_mini_batch_setting(tmp_path):
    out = tmp_path / "relu.npz"
    args = ["--activation", "relu", "--output", "softmax", "--solver", "adam", "--epochs", "3",
            "--dropout", "0.2", "--schedule", "cosine", "--augment", "--hidden", "30"]  # fmt: skip
    result = run("train", *args, "--out", out)
    assert "test accuracy" in result.stdout
    from digitnet import model_io

    model = model_io.load(out)
    assert (model.activation, model.output) == ("relu", "softmax")
    assert model.info["dropout"] == 0.2 and model.info["schedule"] == "cosine"
    assert model.info["augment"] is True
    refused = run("export", out, tmp_path / "relu.mat", check=False)
    assert refused.returncode == 1
    assert "sigmoid outputs; this model has relu" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_resumed_model_is_not_scored_on_rows_any_of_its_runs_trained_on(tmp_path):
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    run("train", "--seed", "1", "--max-iter", "5", "--out", first)
    run("train", "--resume", first, "--max-iter", "2", "--out", second)  # split again, seed 0
    held_out = json.loads(run("evaluate", second, "--json").stdout)
    from digitnet import data, holdout

    y = data.load_digits().y
    never = np.intersect1d(holdout.split_rows(y, 0.2, 1)[1], holdout.split_rows(y, 0.2, 0)[1])
    assert held_out["rows"] == "held-out" and held_out["n"] == len(never) < 360


def test_resume_keeps_the_models_dtype_unless_told(tmp_path):
    from digitnet import model_io

    first, second, third = (tmp_path / f"{name}.npz" for name in "abc")
    run("train", "--dtype", "float32", "--max-iter", "3", "--out", first)
    run("train", "--resume", first, "--max-iter", "2", "--out", second)
    assert model_io.load(second).dtype == np.float32
    run("train", "--resume", first, "--max-iter", "2", "--dtype", "float64", "--out", third)
    assert model_io.load(third).dtype == np.float64


def test_resume_keeps_the_activation_and_output(tmp_path):
    out = tmp_path / "relu.npz"
    run("train", "--activation", "relu", "--output", "softmax", "--solver", "adam", "--epochs", "1",
        "--out", out)  # fmt: skip
    run("train", "--resume", out, "--solver", "adam", "--epochs", "1", "--out", out)
    from digitnet import model_io

    resumed = model_io.load(out)
    assert (resumed.activation, resumed.output) == ("relu", "softmax")
    assert len(resumed.history["cost"]) == 2
    refused = run("train", "--resume", out, "--activation", "tanh", "--solver", "adam",
                  "--out", tmp_path / "other.npz", check=False)  # fmt: skip
    assert refused.returncode == 2
    assert "--activation tanh does not match" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dropout", "0.3"], "--dropout needs a mini-batch solver (adam, sgd), not lbfgs"),
        (["--solver", "adam", "--nesterov"], "--nesterov is a momentum of sgd, not of adam"),
        (["--activation", "gelu"], "'gelu' is not one of"),
        (["--init-epsilon", "big"], "'big' is neither a number nor 'auto'"),
    ],
)
def test_new_training_flags_are_usage_errors_when_wrong(args, message):
    result = run("train", *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr


def test_selftest_passes_and_fails_honestly(tmp_path):
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
    assert "hold only for the course's own ex4data1.mat" in result.stdout  # the caveat, said
    three = {"Theta1": np.zeros((6, 401)), "Theta2": np.zeros((4, 7)), "Theta3": np.zeros((10, 5))}
    deep = tmp_path / "deep.mat"
    scipy.io.savemat(deep, three)
    result = run("selftest", "--data", shared_file("mnist20-5000.mat"), "--weights", deep,
                 check=False)  # fmt: skip
    assert result.returncode == 2
    assert "Theta1 and Theta2 for 400 inputs; deep.mat holds (6, 401) and (4, 7) and" in (
        result.stderr
    )


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
    # Any network trains there (not only the course's sigmoid one), to the same weights.
    more = ["--activation", "tanh", "--output", "softmax", "--hidden", "8"]
    run(*args, *more, "--workers", "2", "--out", tmp_path / "tanh-cluster.npz")
    run(*args, *more, "--out", tmp_path / "tanh-local.npz")
    cluster = model_io.load(tmp_path / "tanh-cluster.npz")
    local = model_io.load(tmp_path / "tanh-local.npz")
    assert cluster.info["n_workers"] == 2 and cluster.activation == "tanh"
    for a, b in zip(cluster.thetas, local.thetas):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    refused = run("train", "--workers", "2", "--solver", "adam", check=False)
    assert refused.returncode == 2 and "train with lbfgs or cg" in refused.stderr


def test_show_without_a_display_says_where_the_picture_is(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = run("show", "data", "--out", tmp_path / "d.png", "--show", env=env)
    assert f"wrote {tmp_path / 'd.png'}" in result.stdout
    assert "no display here" in result.stderr


# --- one layout, one set of settings, every door failing cleanly ---------------------------------


@pytest.fixture(scope="module")
def row_major_course_data(tmp_path_factory):
    """mnist20-5000.mat's 5000 digits saved row-major in an .npz, as a user might save them."""
    mat = scipy.io.loadmat(shared_file("mnist20-5000.mat"))
    images = mat["X"].reshape(-1, 20, 20, order="F")  # upright
    path = tmp_path_factory.mktemp("data") / "rows.npz"
    np.savez(
        path,
        X=images.reshape(len(images), 400),
        y=mat["y"].ravel() % 10,
        image_shape=np.array([20, 20]),
        pixel_order=np.array("C"),
    )
    return path


def test_evaluate_reads_either_pixel_order_the_same(course_model, row_major_course_data):
    column_major = json.loads(
        run("evaluate", course_model, "--data", shared_file("mnist20-5000.mat"), "--json").stdout
    )
    row_major = json.loads(
        run("evaluate", course_model, "--data", row_major_course_data, "--json").stdout
    )
    assert column_major["accuracy"] == pytest.approx(0.9516, abs=1e-4)  # the course's weights
    assert row_major["accuracy"] == column_major["accuracy"]
    assert row_major["confusion"] == column_major["confusion"]


def test_the_training_rows_are_left_out_in_either_pixel_order(tmp_path, row_major_course_data):
    # Trained on the column-major .mat; the same digits saved row-major are the same data.
    model = tmp_path / "m.npz"
    run("train", "--data", shared_file("mnist20-5000.mat"), "--max-iter", "3", "--out", model)
    column_major = run("evaluate", model, "--data", shared_file("mnist20-5000.mat"), "--json")
    row_major = run("evaluate", model, "--data", row_major_course_data, "--json")
    for result in (column_major, row_major):
        assert "left out the 4000 rows" in result.stderr
    scores = [json.loads(result.stdout) for result in (column_major, row_major)]
    assert [score.pop("data") for score in scores] == ["mnist20-5000.mat", "rows.npz"]
    assert scores[0] == scores[1]
    assert scores[0]["n"] == 1000 and scores[0]["rows"] == "held-out"


def test_other_image_sizes_are_refused_or_resized(course_model):
    mnist = shared_file("mnist-8k")
    refused = run("evaluate", course_model, "--data", mnist, check=False)
    assert refused.returncode == 1
    assert "28x28" in refused.stderr and "20x20" in refused.stderr
    assert "--resize" in refused.stderr
    resized = json.loads(
        run("evaluate", course_model, "--data", mnist, "--resize", "--json").stdout
    )
    assert resized["n"] == 3000 and resized["accuracy"] > 0.9


def write_pngs(folder, images):
    """Dark ink on white paper, as a scan would be."""
    paths = []
    for k, image in enumerate(images):
        paths.append(folder / f"digit{k}.png")
        Image.fromarray(255 - image).save(paths[-1])
    return paths


def test_a_classifier_records_its_layout_for_predict(tmp_path, mnist20):
    from digitnet import DigitNetClassifier

    X, y = mnist20
    images, labels = mnist_test_digits(20)
    pngs = write_pngs(tmp_path, images)
    clf = DigitNetClassifier(max_iter=60, image_shape=(20, 20), pixel_order="F").fit(X, y % 10)
    clf.save(tmp_path / "clf.npz")
    read = json.loads(run("predict", tmp_path / "clf.npz", *pngs, "--json").stdout)
    assert np.mean([r["label"] for r in read] == labels) >= 0.8
    # Fit on bare arrays, the model says it cannot read pictures instead of guessing.
    DigitNetClassifier(max_iter=2).fit(X, y % 10).save(tmp_path / "bare.npz")
    result = run("predict", tmp_path / "bare.npz", pngs[0], check=False)
    assert result.returncode == 1
    assert "digit0.png" in result.stderr and "image_shape and pixel_order" in result.stderr


def test_the_same_seed_gives_the_same_weights_through_every_door(tmp_path):
    from digitnet import DigitNetClassifier, data, model_io, train

    digits = data.load_digits()
    run("train", "--test-size", "0", "--max-iter", "5", "--out", tmp_path / "cli.npz")
    from_cli = model_io.load(tmp_path / "cli.npz").thetas
    from_train = train.train(digits.X, digits.y, max_iter=5).thetas
    from_classifier = DigitNetClassifier(max_iter=5).fit(digits.X, digits.y).thetas_
    for a, b, c in zip(from_cli, from_train, from_classifier):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--early-stopping", "--validation", "0"], ["--early-stopping", "--validation"]),
        (["--solver", "adam", "--max-iter", "5"], ["--max-iter", "--epochs"]),
        (["--solver", "lbfgs", "--epochs", "5"], ["--epochs", "--max-iter"]),
        (["--lam", "-1"], ["--lam must be >= 0"]),
        (["--hidden", "0"], ["--hidden"]),
        (["--solver", "adam", "--epochs", "0"], ["--epochs must be >= 1"]),
        (["--solver", "adam", "--workers", "2"], ["--workers"]),
        (["--workers", "2", "--threads", "2"], ["--threads", "--workers"]),
        (["--seed", "-1"], ["--seed must be a non-negative int"]),
        (["--test-size", "-0.1"], ["--test-size"]),
        (["--test-size", "1"], ["--test-size"]),
        (["--threads", "0"], ["--threads"]),
        (["--chunk-size", "0"], ["--chunk-size"]),
    ],
)
def test_usage_errors_name_the_flags_before_any_data_is_read(tmp_path, args, named):
    result = run("train", "--data", tmp_path / "missing.mat", *args, check=False)
    assert result.returncode == 2
    assert all(words in result.stderr for words in named)
    assert "missing.mat" not in result.stderr  # refused before the data was looked at


def test_resume_keeps_the_network_and_may_write_its_own_file(tmp_path, digits_model):
    resumed = tmp_path / "r.npz"
    resumed.write_bytes(digits_model.read_bytes())
    refused = run("train", "--resume", resumed, "--hidden", "50", check=False)
    assert refused.returncode == 2
    assert "--hidden 50" in refused.stderr and "r.npz" in refused.stderr
    before = np.load(resumed)["history_cost"].size
    run("train", "--resume", resumed, "--out", resumed, "--max-iter", "3")
    assert np.load(resumed)["history_cost"].size == before + 3


def test_resuming_into_its_own_file_keeps_it_whole_until_the_new_one_is(
    tmp_path, digits_model, monkeypatch
):
    from click.testing import CliRunner

    from digitnet import cli

    resumed = tmp_path / "r.npz"
    resumed.write_bytes(digits_model.read_bytes())
    before = resumed.read_bytes()

    def dies_half_way(file, **arrays):
        file.write(b"PK\x03\x04 half a model")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", dies_half_way)
    args = ["train", "--resume", str(resumed), "--out", str(resumed), "--max-iter", "2"]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 1 and "disk full" in result.output
    assert resumed.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]


def test_predict_answers_every_readable_file_and_names_the_others(tmp_path, course_model):
    images, _ = mnist_test_digits(2)
    good = write_pngs(tmp_path, images)
    bad = tmp_path / "bad.txt"
    bad.write_text("not a picture")
    result = run("predict", course_model, good[0], bad, good[1], "--json", check=False)
    assert result.returncode == 1
    entries = json.loads(result.stdout)
    assert [e["file"] for e in entries] == [str(good[0]), str(bad), str(good[1])]
    assert "label" in entries[0] and "label" in entries[2]
    assert set(entries[1]) == {"file", "error"} and "bad.txt" in entries[1]["error"]
    text = run("predict", course_model, good[0], bad, good[1], check=False)
    assert text.returncode == 1
    assert len(text.stdout.splitlines()) == 2 and "bad.txt" in text.stderr


def test_predict_picks_the_unit_of_largest_logit(tmp_path):
    from digitnet import model_io
    from digitnet.labels import LabelMap
    from digitnet.model import Model

    theta2 = np.zeros((3, 3))
    theta2[:, 0] = [50.0, 40.0, -50.0]  # sigmoids 1.0, 1.0, ~0: a tie after the sigmoid
    model = Model([np.zeros((2, 5)), theta2], LabelMap(["a", "b", "c"]), (2, 2), "C")
    model_io.save(model, tmp_path / "m.npz")
    np.save(tmp_path / "row.npy", np.full(4, 0.5))
    result = json.loads(run("predict", tmp_path / "m.npz", tmp_path / "row.npy", "--json").stdout)
    assert result[0]["label"] == "a"


def test_a_closed_pipe_ends_quietly(digits_model):
    process = subprocess.Popen(
        [DIGITNET, "evaluate", digits_model, "--all-rows"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # the reader is gone before anything is written, as with `| head -0`
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0
    assert b"Broken pipe" not in stderr and b"Traceback" not in stderr


def test_serve_on_a_busy_port_is_one_line(digits_model):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [DIGITNET, "serve", digits_model, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"port {port}" in result.stderr and "in use" in result.stderr


def without_module(tmp_path, name):
    """An environment where importing ``name`` fails as if it were not installed."""
    fake = tmp_path / "missing" / name
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(f"raise ImportError(\"No module named '{name}'\")\n")
    path = os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_a_missing_extra_is_named(tmp_path, digits_model):
    dask = run("train", "--workers", "2", env=without_module(tmp_path, "distributed"), check=False)
    assert dask.returncode == 1 and "digitnet[dask]" in dask.stderr
    web = run("serve", digits_model, env=without_module(tmp_path, "fastapi"), check=False)
    assert web.returncode == 1 and "digitnet[web]" in web.stderr
