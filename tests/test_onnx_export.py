"""ONNX export: the file runs in onnxruntime and answers what digitnet answers.

Every file is written through the installed `digitnet export` command; onnxruntime, an
independent runtime, runs it. The activation table is checked against a plain per-example loop.
"""

import gzip
import json
import math
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import shared_file
from hypothesis import given, settings
from hypothesis import strategies as st

from digitnet import model_io
from digitnet.labels import LabelMap
from digitnet.model import Model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from digitnet import onnx_export  # noqa: E402  (after the skip: it needs onnx)

DIGITNET = str(Path(sys.executable).with_name("digitnet"))


def digitnet(*args, env=None, check=True):
    result = subprocess.run(
        [DIGITNET, *map(str, args)], capture_output=True, text=True, timeout=300, env=env
    )
    if check and result.returncode != 0:
        raise AssertionError(f"digitnet {args} exited {result.returncode}:\n{result.stderr}")
    return result


def run_onnx(path_or_proto, X):
    source = path_or_proto if isinstance(path_or_proto, Path) else path_or_proto.SerializeToString()
    session = ort.InferenceSession(
        str(source) if isinstance(source, Path) else source, providers=["CPUExecutionProvider"]
    )
    return session.run(["probabilities", "label"], {"X": X})


def metadata(path):
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def random_model(sizes, labels, seed=0, dtype=np.float64, scale=1.0, pixel_order="C"):
    rng = np.random.default_rng(seed)
    thetas = [rng.normal(scale=scale, size=(b, a + 1)).astype(dtype) for a, b in pairwise(sizes)]
    side = math.isqrt(sizes[0])
    shape = (side, side) if side * side == sizes[0] else (1, sizes[0])
    return Model(thetas, LabelMap(labels), shape, pixel_order)


@pytest.fixture(scope="module")
def course_onnx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course")
    digitnet("import", shared_file("ex4weights.mat"), folder / "course.npz")
    digitnet("export", folder / "course.npz", folder / "course.onnx")
    return model_io.load(folder / "course.npz"), folder / "course.onnx"


def test_course_model_in_onnxruntime_on_real_digits(course_onnx):
    model, path = course_onnx
    X = scipy.io.loadmat(shared_file("mnist20-5000.mat"))["X"].astype(np.float32)
    probabilities, labels = run_onnx(path, X)
    assert probabilities.dtype == np.float32 and probabilities.shape == (5000, 10)
    expected = model.predict_proba(X.astype(np.float64))
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, model.predict(X.astype(np.float64)))
    assert (
        np.mean(labels == scipy.io.loadmat(shared_file("mnist20-5000.mat"))["y"].ravel() % 10) > 0.9
    )


def test_metadata_says_how_to_feed_the_graph(course_onnx):
    _, path = course_onnx
    meta = metadata(path)
    assert json.loads(meta["labels"]) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert json.loads(meta["image_shape"]) == [20, 20]
    assert meta["pixel_order"] == "F"
    assert json.loads(meta["layer_sizes"]) == [400, 25, 10]
    assert (meta["activation"], meta["output"]) == ("sigmoid", "sigmoid")
    from digitnet import __version__

    assert meta["digitnet_version"] == __version__
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["X"]
    assert [o.name for o in proto.graph.output] == ["probabilities", "label"]


def test_trained_deep_row_major_model_on_held_out_mnist(tmp_path):
    model_path, out = tmp_path / "deep.npz", tmp_path / "deep.onnx"
    digitnet(
        "train",
        "--data",
        shared_file("mnist-8k"),
        "--hidden",
        "30",
        "--hidden",
        "20",
        "--max-iter",
        "15",
        "--dtype",
        "float32",
        "--out",
        model_path,
    )
    digitnet("export", model_path, out)
    model = model_io.load(model_path)
    assert model.dtype == np.float32 and metadata(out)["pixel_order"] == "C"
    with gzip.open(shared_file("mnist-8k/t10k-images-idx3-ubyte.gz")) as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / np.float32(255)
    X = X.astype(np.float32)
    probabilities, labels = run_onnx(out, X)
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_models_trained_with_every_activation_and_output(activation, output, tmp_path):
    from digitnet.data import load_digits
    from digitnet.train import train

    digits = load_digits()
    X, y = digits.X[:600], digits.y[:600]
    model = train(X, y, hidden_layer_sizes=(12, 8), activation=activation, output=output,
                  solver="adam", max_iter=3, dropout=0.1, image_shape=digits.image_shape,
                  pixel_order=digits.pixel_order)  # fmt: skip
    out = onnx_export.export_onnx(model, tmp_path / "m.onnx")  # reads the model's own family
    assert (metadata(out)["activation"], metadata(out)["output"]) == (activation, output)
    probabilities, labels = run_onnx(out, X.astype(np.float32))
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(labels, model.predict(X))


def test_a_relu_softmax_model_from_the_command_line(tmp_path):
    model_path, out = tmp_path / "relu.npz", tmp_path / "relu.onnx"
    digitnet("train", "--activation", "relu", "--output", "softmax", "--solver", "adam",
             "--epochs", "2", "--hidden", "20", "--out", model_path)  # fmt: skip
    digitnet("export", model_path, out)
    model = model_io.load(model_path)
    assert (metadata(out)["activation"], metadata(out)["output"]) == ("relu", "softmax")
    X = np.random.default_rng(0).uniform(0, 16, size=(20, 64)).astype(np.float32)
    probabilities, labels = run_onnx(out, X)
    np.testing.assert_allclose(probabilities, model.predict_proba(X.astype(np.float64)), atol=1e-6)
    np.testing.assert_array_equal(labels, model.predict(X.astype(np.float64)))


def test_string_labels_come_out_as_strings(tmp_path):
    model = random_model([16, 6, 3], ["cat", "dog", "eel"], seed=1)
    model_io.save(model, tmp_path / "pets.npz")
    digitnet("export", tmp_path / "pets.npz", tmp_path / "pets.onnx")
    X = np.random.default_rng(2).uniform(size=(50, 16)).astype(np.float32)
    probabilities, labels = run_onnx(tmp_path / "pets.onnx", X)
    assert labels.tolist() == model.predict(X.astype(np.float64)).tolist()
    assert set(labels.tolist()) <= {"cat", "dog", "eel"}
    np.testing.assert_allclose(probabilities, model.predict_proba(X.astype(np.float64)), atol=1e-6)


def test_outputs_that_all_underflow_keep_their_ranking():
    # Output logits -1000, -1001, -1003 whatever the input: every sigmoid output is 0 in float64,
    # yet g(z) ~ exp(z) there, so the normalized outputs are softmax(0, -1, -3).
    model = random_model([9, 4, 3], [0, 1, 2], seed=3)
    model.thetas[-1][:] = 0
    model.thetas[-1][:, 0] = [-1000, -1001, -1003]
    X = np.random.default_rng(4).uniform(size=(20, 9)).astype(np.float32)
    probabilities, labels = run_onnx(onnx_export.to_onnx(model), X)
    expected = np.exp([0, -1, -3]) / np.exp([0, -1, -3]).sum()
    np.testing.assert_allclose(probabilities, np.tile(expected, (20, 1)), rtol=1e-6)
    np.testing.assert_array_equal(labels, np.zeros(20))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_outputs_that_tie_in_probability_are_labelled_by_their_logits(dtype):
    # Logits 40, 50, -5: both large sigmoid outputs round to 1, so the probabilities tie, but
    # the second unit's logit is the larger, and Model.predict (the argmax of the logits) says 1.
    model = random_model([4, 3, 3], [0, 1, 2], seed=5, dtype=dtype)
    model.thetas[-1][:] = 0
    model.thetas[-1][:, 0] = [40, 50, -5]
    X = np.random.default_rng(6).uniform(size=(8, 4)).astype(np.float32)
    probabilities, labels = run_onnx(onnx_export.to_onnx(model), X)
    assert probabilities[0, 0] == probabilities[0, 1]
    np.testing.assert_array_equal(labels, np.ones(8))
    assert labels.tolist() == model.predict(X.astype(dtype)).tolist()


def test_a_model_that_does_not_know_its_pixel_order_exports(tmp_path):
    model = random_model([9, 4, 3], [0, 1, 2], seed=7, pixel_order=None)
    path = onnx_export.export_onnx(model, tmp_path / "unknown.onnx")
    assert metadata(path)["pixel_order"] == ""
    X = np.random.default_rng(8).uniform(size=(5, 9)).astype(np.float32)
    assert run_onnx(path, X)[1].tolist() == model.predict(X.astype(np.float64)).tolist()


@settings(max_examples=25, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 12), min_size=0, max_size=3),
    n=st.integers(1, 30),
    K=st.integers(2, 6),
    string_labels=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    seed=st.integers(0, 2**16),
)
def test_any_depth_width_labels_and_dtype(hidden, n, K, string_labels, dtype, scale, seed):
    labels = [f"class {k}" for k in range(K)] if string_labels else list(range(7, 7 + K))
    model = random_model([n, *hidden, K], labels, seed=seed, dtype=dtype, scale=scale)
    X = np.random.default_rng(seed + 1).uniform(-1, 2, size=(9, n)).astype(np.float32)
    probabilities, predicted = run_onnx(onnx_export.to_onnx(model), X)
    X_model = X.astype(dtype)
    expected = model.predict_proba(X_model)
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)
    # Labels agree wherever the top two classes are not a near tie that rounding may flip.
    top_two = np.sort(expected, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 1e-5
    assert predicted[clear].tolist() == model.predict(X_model)[clear].tolist()


# --- the activation and output tables against a plain loop ---------------------------------------

REFERENCE_ACTIVATIONS = {
    "sigmoid": lambda z: 1 / (1 + math.exp(-z)),
    "tanh": math.tanh,
    "relu": lambda z: max(z, 0.0),
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
}


def reference_forward(thetas, x, activation, output):
    """One example, one unit at a time, in Python floats."""
    a = [float(v) for v in x]
    for layer, theta in enumerate(thetas):
        z = [
            theta[j, 0] + sum(theta[j, i + 1] * a[i] for i in range(len(a)))
            for j in range(len(theta))
        ]
        if layer < len(thetas) - 1:
            a = [REFERENCE_ACTIVATIONS[activation](v) for v in z]
        elif output == "softmax":
            top = max(z)
            a = [math.exp(v - top) / sum(math.exp(w - top) for w in z) for v in z]
        else:
            h = [1 / (1 + math.exp(-v)) for v in z]
            a = [v / sum(h) for v in h]
    return a


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("activation", list(REFERENCE_ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_activation_and_output_against_a_plain_loop(activation, output, dtype):
    model = random_model([5, 4, 3, 3], [10, 20, 30], seed=5, dtype=dtype)
    X = np.random.default_rng(6).normal(size=(12, 5)).astype(np.float32)
    proto = onnx_export.to_onnx(model, activation=activation, output=output)
    assert {p.key: p.value for p in proto.metadata_props}["activation"] == activation
    probabilities, labels = run_onnx(proto, X)
    expected = np.array([reference_forward(model.thetas, x, activation, output) for x in X])
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(labels, np.array([10, 20, 30])[expected.argmax(axis=1)])


def test_the_reference_loop_agrees_with_digitnet_on_the_course_network():
    # Ties the loop above to digitnet itself where both exist: sigmoid hidden and output.
    model = random_model([5, 4, 3, 3], [10, 20, 30], seed=5)
    X = np.random.default_rng(6).normal(size=(12, 5))
    loop = [reference_forward(model.thetas, x, "sigmoid", "sigmoid") for x in X]
    np.testing.assert_allclose(model.predict_proba(X), loop, rtol=1e-12)


# --- what the command refuses ----------------------------------------------------------------------


def test_unknown_activation_or_labels_are_refused():
    model = random_model([4, 3, 2], [0, 1])
    with pytest.raises(ValueError, match=r"activations .* not 'swish'"):
        onnx_export.to_onnx(model, activation="swish")
    with pytest.raises(ValueError, match=r"outputs .* not 'identity'"):
        onnx_export.to_onnx(model, output="identity")
    with pytest.raises(ValueError, match="integer or string labels"):
        onnx_export.to_onnx(random_model([4, 3, 2], [0.5, 1.5]))


def test_a_graph_that_disagrees_with_its_model_is_not_written(tmp_path, monkeypatch):
    # A model whose activation the exporter would get wrong: the check against the model catches it.
    monkeypatch.setattr(onnx_export, "_model_family", lambda model: ("tanh", "sigmoid"))
    with pytest.raises(ValueError, match="disagrees with the model"):
        onnx_export.export_onnx(random_model([4, 3, 2], [0, 1]), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_an_existing_file_or_an_unknown_suffix(tmp_path):
    source = tmp_path / "m.npz"
    model_io.save(random_model([4, 3, 2], [0, 1]), source)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    result = digitnet("export", source, out, check=False)
    assert result.returncode == 2 and "exists; pass --force" in result.stderr
    assert out.read_bytes() == b"keep me"
    digitnet("export", source, out, "--force")
    onnx.checker.check_model(onnx.load(out))
    result = digitnet("export", source, tmp_path / "m.pb", check=False)
    assert result.returncode == 2 and "must end in .onnx (ONNX) or .mat (Octave)" in result.stderr


def test_without_the_extra_one_line_says_what_to_install(tmp_path):
    # A stand-in `onnx` package that fails to import, first on the path: as if it were missing.
    fake = tmp_path / "site" / "onnx"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named onnx')\n")
    model_io.save(random_model([4, 3, 2], [0, 1]), tmp_path / "m.npz")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{fake.parent}:{Path(onnx_export.__file__).parents[1]}",
    }
    result = digitnet("export", tmp_path / "m.npz", tmp_path / "m.onnx", env=env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "digitnet: error: ONNX export needs the onnx package: pip install 'digitnet[onnx]'"
    ]
    assert not (tmp_path / "m.onnx").exists()
