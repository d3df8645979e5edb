"""Model files: exact round trips, safe writes, refused files, and the course's Octave weights."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest
import scipy.io
from conftest import shared_file

import digitnet
from digitnet import model_io, network
from digitnet.labels import COURSE_DIGITS, LabelMap
from digitnet.model import Model
from digitnet.model_io import ModelFileError


def random_model(sizes, labels, image_shape, pixel_order="C", dtype=np.float64, seed=0) -> Model:
    rng = np.random.default_rng(seed)
    theta = network.initialize(sizes, rng, epsilon=1.0, dtype=dtype)
    return Model(network.unpack(theta, sizes), LabelMap(labels), image_shape, pixel_order)


@pytest.fixture
def model() -> Model:
    """A float32 3-layer model with string labels, history and info holding NumPy values."""
    model = random_model([12, 5, 4, 3], ["cat", "dog", "eel"], (3, 4), dtype=np.float32)
    model.info = {
        "lam": 1.0,
        "seed": np.int64(7),
        "solver": {"method": "L-BFGS-B", "maxiter": 50},
        "data_fingerprint": "sha256:0123abcd",
        "history_summary": {"final_cost": np.float64(0.25)},
    }
    model.history = {"cost": np.array([2.0, 1.0, 0.5]), "val_accuracy": np.array([0.3, 0.6, 0.9])}
    return model


@pytest.fixture
def course_model() -> Model:
    return model_io.import_octave(shared_file("ex4weights.mat"))


def saved(model: Model, tmp_path, name="model.npz"):
    return model_io.save(model, tmp_path / name)


def rewrite(path, **changes):
    """Rewrite a saved model file with some arrays replaced (None removes one)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path.unlink()
    with path.open("wb") as file:
        np.savez(file, **arrays)


def with_metadata(path, **changes):
    with np.load(path, allow_pickle=False) as npz:
        metadata = json.loads(str(npz["metadata"]))
    metadata.update(changes)
    rewrite(path, metadata=np.array(json.dumps(metadata)))


# --- round trip ---------------------------------------------------------------------------------


def test_round_trip_is_exact(model, tmp_path):
    loaded = model_io.load(saved(model, tmp_path))
    for theta, original in zip(loaded.thetas, model.thetas):
        assert theta.dtype == original.dtype == np.float32
        np.testing.assert_array_equal(theta, original)
    assert loaded.labels == model.labels
    assert loaded.image_shape == (3, 4) and loaded.pixel_order == "C"
    assert loaded.info == {
        "lam": 1.0,
        "seed": 7,
        "solver": {"method": "L-BFGS-B", "maxiter": 50},
        "data_fingerprint": "sha256:0123abcd",
        "history_summary": {"final_cost": 0.25},
    }
    assert list(loaded.history) == ["cost", "val_accuracy"]
    for column, values in model.history.items():
        np.testing.assert_array_equal(loaded.history[column], values)
    X = np.random.default_rng(1).uniform(size=(50, 12))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_integer_labels_come_back_as_the_same_integers(tmp_path):
    model = random_model([4, 3, 10], np.arange(10)[::-1], (2, 2), "F")  # numpy int64 labels
    loaded = model_io.load(saved(model, tmp_path))
    assert loaded.labels.classes == tuple(range(9, -1, -1))
    assert all(type(label) is int for label in loaded.labels.classes)
    assert loaded.pixel_order == "F"


def test_file_holds_numeric_arrays_and_json_metadata(model, tmp_path):
    path = saved(model, tmp_path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    assert set(arrays) == {
        "theta_1",
        "theta_2",
        "theta_3",
        "history_cost",
        "history_val_accuracy",
        "metadata",
    }
    assert all(a.dtype.kind == "f" for key, a in arrays.items() if key != "metadata")
    assert arrays["metadata"].shape == () and arrays["metadata"].dtype.kind == "U"
    metadata = json.loads(str(arrays["metadata"]))
    assert metadata["format"] == "digitnet-model"
    assert metadata["format_version"] == 1  # sigmoid outputs: every digitnet reads it right
    assert metadata["digitnet_version"] == digitnet.__version__
    assert metadata["layer_sizes"] == [12, 5, 4, 3]
    assert metadata["activation"] == "sigmoid"
    assert metadata["labels"] == ["cat", "dog", "eel"]
    assert metadata["image_shape"] == [3, 4] and metadata["pixel_order"] == "C"
    assert metadata["dtype"] == "float32"
    assert metadata["info"]["lam"] == 1.0


# --- writing safely -----------------------------------------------------------------------------


def test_the_file_is_written_where_asked(model, tmp_path):
    path = model_io.save(model, tmp_path / "weights.model")
    assert path == tmp_path / "weights.model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.model"]  # no ".npz", no temp
    model_io.load(path)


def test_an_existing_file_is_replaced_only_when_asked(model, tmp_path):
    path = saved(model, tmp_path)
    before = path.read_bytes()
    other = random_model([12, 2, 3], ["a", "b", "c"], (3, 4), seed=5)
    with pytest.raises(ModelFileError, match=r"exists; pass overwrite=True \(--force"):
        model_io.save(other, path)
    assert path.read_bytes() == before
    model_io.save(other, path, overwrite=True)
    assert model_io.load(path).layer_sizes == [12, 2, 3]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(model, tmp_path, monkeypatch):
    path = saved(model, tmp_path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(ModelFileError, match="disk full"):
        model_io.save(model, path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_models_that_would_not_load_are_not_saved(model, tmp_path):
    model.thetas[1][0, 0] = np.nan
    with pytest.raises(ModelFileError, match="theta_2 has NaN"):
        saved(model, tmp_path)
    model.thetas[1][0, 0] = 0
    model.info["callback"] = print
    with pytest.raises(ModelFileError, match="not JSON-compatible"):
        saved(model, tmp_path)
    assert not list(tmp_path.iterdir())


# --- refused files ------------------------------------------------------------------------------


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match=r"nothing.npz: file not found"):
        model_io.load(tmp_path / "nothing.npz")
    text = tmp_path / "notes.npz"
    text.write_text("not a model")
    with pytest.raises(ModelFileError, match=r"notes.npz: not a digitnet model file \(not an .npz"):
        model_io.load(text)
    data = tmp_path / "data.npz"
    np.savez(data, X=np.zeros((2, 4)), y=np.arange(2))
    with pytest.raises(ModelFileError, match=r"data.npz: not a digitnet model file \(no metadata"):
        model_io.load(data)
    other = tmp_path / "other.npz"
    np.savez(other, metadata=np.array(json.dumps({"format": "something-else"})))
    with pytest.raises(ModelFileError, match="not a digitnet model file"):
        model_io.load(other)
    archive = tmp_path / "archive.npz"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("metadata.npy", b"plain bytes, not an .npy array")
    with pytest.raises(ModelFileError, match="not a digitnet model file"):
        model_io.load(archive)


def test_pickles_are_refused(model, tmp_path):
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    with pytest.raises(ModelFileError, match=r"model.pkl: is a Python pickle, which is refused"):
        model_io.load(pickled)
    objects = saved(model, tmp_path)
    rewrite(objects, theta_1=np.array([model.thetas[0]], dtype=object))
    with pytest.raises(ModelFileError, match=r"model.npz: holds pickled \(object\) data"):
        model_io.load(objects)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_files_are_refused(model, tmp_path, keep):
    path = saved(model, tmp_path)
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * keep)])
    with pytest.raises(ModelFileError, match=r"model.npz: truncated or corrupt model file"):
        model_io.load(path)


def test_corrupted_bytes_are_detected(model, tmp_path):
    path = saved(model, tmp_path)
    content = bytearray(path.read_bytes())
    with np.load(path) as npz:  # find theta_2's data inside the (uncompressed) archive
        offset = content.find(npz["theta_2"].tobytes())
    content[offset + 3] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(ModelFileError, match=r"truncated or corrupt model file.*CRC"):
        model_io.load(path)


def test_a_newer_format_version_is_refused(model, tmp_path):
    path = saved(model, tmp_path)
    with_metadata(path, format_version=model_io.FORMAT_VERSION + 1, digitnet_version="9.0")
    with pytest.raises(ModelFileError, match=r"written by a newer digitnet \(9.0, model format"):
        model_io.load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"theta_2": np.zeros((4, 5), np.float32)},
            r"theta_2 is float32 \(4, 5\), but layer sizes",
        ),
        ({"theta_2": np.zeros((4, 6), np.float64)}, "theta_2 is float64"),
        ({"theta_3": None}, "theta_3 is missing"),
        ({"theta_4": np.zeros((2, 4), np.float32)}, r"unexpected arrays \['theta_4'\]"),
        ({"theta_1": np.full((5, 13), np.inf, np.float32)}, "theta_1 has NaN or inf"),
        ({"history_cost": np.zeros((2, 2))}, "history column 'cost'"),
        ({"metadata": np.array("{not json")}, "metadata is not valid JSON"),
        ({"metadata": np.array([1.0])}, "metadata is not a string"),
    ],
)
def test_arrays_disagreeing_with_the_metadata_are_refused(model, tmp_path, change, message):
    path = saved(model, tmp_path)
    rewrite(path, **change)
    with pytest.raises(ModelFileError, match=message):
        model_io.load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layer_sizes": [12, 5, 3]}, "theta_2 is float32"),
        ({"layer_sizes": [12, -5, 4, 3]}, "layer_sizes"),
        ({"labels": ["cat", "dog"]}, "2 labels for 3 output units"),
        ({"image_shape": [4, 4]}, "does not hold 12 inputs"),
        ({"pixel_order": "K"}, "pixel_order"),
        ({"activation": "swish"}, "unsupported activation 'swish'"),
        ({"output": "linear"}, "unsupported output 'linear'"),
        ({"format_version": "1"}, "format_version '1'"),
        ({"dtype": "int8"}, "dtype 'int8'"),
        ({"info": None}, "history or info has the wrong type"),
    ],
)
def test_inconsistent_metadata_is_refused(model, tmp_path, change, message):
    path = saved(model, tmp_path)
    with_metadata(path, **change)
    with pytest.raises(ModelFileError, match=message):
        model_io.load(path)


# --- Octave interop -----------------------------------------------------------------------------


def test_course_weights_import_and_predict_like_the_course(course_model, ex4_weights, mnist20):
    X, y = mnist20
    assert course_model.layer_sizes == [400, 25, 10]
    assert course_model.labels.classes == COURSE_DIGITS
    assert (course_model.image_shape, course_model.pixel_order) == ((20, 20), "F")
    for theta, expected in zip(course_model.thetas, ex4_weights):
        np.testing.assert_array_equal(theta, expected)
    # The course's predict.m: the most active unit k is label k + 1, where 10 means the digit 0.
    course_labels = np.argmax(network.predict_proba(ex4_weights, X), axis=1) + 1
    np.testing.assert_array_equal(course_model.predict(X), course_labels % 10)
    assert np.mean(course_model.predict(X) == y % 10) == pytest.approx(0.952, abs=0.005)


def test_a_course_model_exports_exactly_like_ex4weights(course_model, ex4_weights, tmp_path):
    path = model_io.export_octave(course_model, tmp_path / "weights.mat")
    assert sorted(scipy.io.whosmat(path)) == [
        ("Theta1", (25, 401), "double"),
        ("Theta2", (10, 26), "double"),
    ]
    mat = scipy.io.loadmat(path)
    np.testing.assert_array_equal(mat["Theta1"], ex4_weights[0])
    np.testing.assert_array_equal(mat["Theta2"], ex4_weights[1])
    back = model_io.import_octave(path)
    for theta, original in zip(back.thetas, course_model.thetas):
        np.testing.assert_array_equal(theta, original)


def octave_predict(Theta1, Theta2, X):
    """A line-by-line port of the course's predict.m (independent of digitnet's network code):

    h1 = sigmoid([ones(m, 1) X] * Theta1'); h2 = sigmoid([ones(m, 1) h1] * Theta2');
    [dummy, p] = max(h2, [], 2);
    """
    m = X.shape[0]
    h1 = 1 / (1 + np.exp(-(np.hstack([np.ones((m, 1)), X]) @ Theta1.T)))
    h2 = 1 / (1 + np.exp(-(np.hstack([np.ones((m, 1)), h1]) @ Theta2.T)))
    return np.argmax(h2, axis=1) + 1  # Octave's max: the first largest, counted from 1


def course_predict(mat_path, images: np.ndarray) -> np.ndarray:
    """What the course's Octave code computes: rows unrolled column-major, label 1..10 (10 = 0)."""
    mat = scipy.io.loadmat(mat_path)
    X = images.transpose(0, 2, 1).reshape(len(images), -1)  # X(i, :) = img(:)'
    return octave_predict(mat["Theta1"], mat["Theta2"], X)


def test_export_rearranges_a_row_major_digit_model_for_the_course(tmp_path):
    order = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7]  # digits in any unit order
    model = random_model([12, 6, 10], order, (3, 4), "C", dtype=np.float32)
    images = np.random.default_rng(2).uniform(size=(200, 3, 4))
    expected = model.predict(images.reshape(200, 12))  # row-major rows
    path = model_io.export_octave(model, tmp_path / "digits.mat")
    np.testing.assert_array_equal(course_predict(path, images) % 10, expected)
    # ... and importing it back with the course's layout reads the same images the same way.
    back = model_io.import_octave(path, image_shape=(3, 4), pixel_order="F")
    assert back.labels.classes == COURSE_DIGITS
    np.testing.assert_array_equal(
        back.predict(images.transpose(0, 2, 1).reshape(200, 12)), expected
    )


def test_a_square_model_of_any_size_comes_back_from_octave_without_being_told_its_shape(
    tmp_path,
):
    model = random_model([64, 6, 10], list(range(10)), (8, 8), "C")  # scikit-learn's digits
    images = np.random.default_rng(4).uniform(size=(100, 8, 8))
    back = model_io.import_octave(model_io.export_octave(model, tmp_path / "digits.mat"))
    assert (back.image_shape, back.pixel_order) == ((8, 8), "F")
    np.testing.assert_array_equal(
        back.predict(images.transpose(0, 2, 1).reshape(100, 64)),
        model.predict(images.reshape(100, 64)),
    )


def test_float_digit_labels_are_exported_in_the_course_order(tmp_path):
    # Labels read from a float array (0.0..9.0), in an order that is not the course's.
    model = random_model([12, 6, 10], [float(d) for d in range(10)], (3, 4), "C", seed=6)
    images = np.random.default_rng(5).uniform(size=(300, 3, 4))
    expected = model.predict(images.reshape(300, 12))
    assert len(set(expected.tolist())) > 3  # the check sees several digits, not one
    path = model_io.export_octave(model, tmp_path / "floats.mat")
    np.testing.assert_array_equal(course_predict(path, images) % 10, expected)


def test_other_labels_are_exported_in_the_models_own_order(tmp_path):
    model = random_model([4, 3, 3], ["cat", "dog", "eel"], (2, 2), "F")
    path = model_io.export_octave(model, tmp_path / "pets.mat")
    mat = scipy.io.loadmat(path)
    np.testing.assert_array_equal(mat["Theta2"], model.thetas[1])
    back = model_io.import_octave(path, labels=model.labels, image_shape=(2, 2))
    X = np.random.default_rng(3).uniform(size=(20, 4))
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_export_refuses_what_the_course_cannot_read_or_what_exists(course_model, tmp_path):
    deep = random_model([4, 3, 3, 2], [0, 1], (2, 2))
    with pytest.raises(ModelFileError, match="exactly Theta1 and Theta2; this model has 3"):
        model_io.export_octave(deep, tmp_path / "deep.mat")
    path = model_io.export_octave(course_model, tmp_path / "weights.mat")
    with pytest.raises(ModelFileError, match=r"weights.mat: file exists"):
        model_io.export_octave(course_model, path)
    model_io.export_octave(course_model, path, overwrite=True)
    bare = random_model([4, 3, 10], list(range(10)), (2, 2), None)  # trained on bare arrays
    with pytest.raises(ModelFileError, match=r"bare.mat: not written: .* pixel_order='F'"):
        model_io.export_octave(bare, tmp_path / "bare.mat")
    assert not (tmp_path / "bare.mat").exists()


def test_import_refuses_foreign_or_mismatched_mat_files(tmp_path):
    foreign = tmp_path / "data.mat"
    scipy.io.savemat(foreign, {"X": np.zeros((2, 4))})
    with pytest.raises(ModelFileError, match=r"data.mat: missing key 'Theta1'"):
        model_io.import_octave(foreign)
    small = tmp_path / "small.mat"
    scipy.io.savemat(small, {"Theta1": np.zeros((3, 5)), "Theta2": np.zeros((2, 4))})
    with pytest.raises(ModelFileError, match=r"small.mat: weights do not fit .* 10 labels for 2"):
        model_io.import_octave(small)


def test_an_unknown_pixel_order_is_saved_as_unknown(tmp_path):
    model = random_model([4, 3, 2], [0, 1], (2, 2), None)
    back = model_io.load(saved(model, tmp_path))
    assert back.pixel_order is None
    with pytest.raises(ValueError, match="does not record how its input rows are laid out"):
        back.images(np.zeros((1, 4)))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_activation_and_output_round_trip(activation, output, tmp_path):
    model = random_model([12, 5, 3], [0, 1, 2], (3, 4))
    model.activation, model.output = activation, output
    loaded = model_io.load(saved(model, tmp_path))
    assert (loaded.activation, loaded.output) == (activation, output)
    X = np.random.default_rng(0).normal(size=(6, 12))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    version = json.loads(str(np.load(tmp_path / "model.npz")["metadata"]))["format_version"]
    assert version == (1 if output == "sigmoid" else 2)  # version-1 readers misread softmax


def test_a_file_from_before_outputs_loads_as_the_courses(model, tmp_path):
    path = saved(model, tmp_path)
    with np.load(path, allow_pickle=False) as npz:
        metadata = json.loads(str(npz["metadata"]))
    del metadata["output"]  # as digitnet wrote files before softmax outputs
    rewrite(path, metadata=np.array(json.dumps(metadata)))
    loaded = model_io.load(path)
    assert (loaded.activation, loaded.output) == ("sigmoid", "sigmoid")


@pytest.mark.parametrize(("activation", "output"), [("relu", "sigmoid"), ("sigmoid", "softmax")])
def test_octave_export_refuses_networks_the_course_cannot_run(activation, output, tmp_path):
    model = random_model([4, 3, 10], list(range(10)), (2, 2))
    model.activation, model.output = activation, output
    with pytest.raises(ModelFileError, match=f"sigmoid outputs; this model has {activation}"):
        model_io.export_octave(model, tmp_path / "w.mat")
    assert not (tmp_path / "w.mat").exists()
