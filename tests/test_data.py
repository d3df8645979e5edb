"""Tests for digitnet.data: real files in ../shared/data, hand-built files, and fuzzing."""

from __future__ import annotations

import gzip
import math
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.ndimage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from digitnet import data
from digitnet.data import DataError, Dataset

# A NumPy warning (overflow in a cast, say) means a loader let a bad value through unchecked.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST20 = SHARED / "mnist20-5000.mat"
WEIGHTS = SHARED / "ex4weights.mat"
MNIST8K = SHARED / "mnist-8k"


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test data {path} not found (the shared/ folder should lie beside the repo)")
    return path


@pytest.fixture(scope="module")
def mnist20() -> Dataset:
    return data.load_course_mat(shared(MNIST20))


@pytest.fixture(scope="module")
def mnist8k_train() -> Dataset:
    return data.load_idx_folder(shared(MNIST8K), "train")


def assert_valid(ds: Dataset, dtype: type = np.float64) -> None:
    m, n = ds.X.shape
    h, w = ds.image_shape
    assert ds.X.dtype == dtype
    assert np.isfinite(ds.X).all()
    assert ds.y.shape == (m,) and m > 0
    assert h * w == n
    assert ds.images().shape == (m, h, w)


# ---------------------------------------------------------------------------------------------
# Real data


def test_course_mat_digits(mnist20: Dataset) -> None:
    assert_valid(mnist20)
    assert mnist20.X.shape == (5000, 400)
    assert mnist20.y.dtype == np.int64
    assert np.bincount(mnist20.y).tolist() == [500] * 10
    assert (mnist20.image_shape, mnist20.pixel_order) == ((20, 20), "F")
    assert mnist20.name == "mnist20-5000.mat"


def test_course_mat_with_labels_saved_as_digits_0_to_9(tmp_path: Path) -> None:
    X = np.arange(12.0).reshape(3, 4)
    scipy.io.savemat(tmp_path / "digits.mat", {"X": X, "y": [[0], [9], [3]]})
    ds = data.load(tmp_path / "digits.mat")
    assert ds.y.tolist() == [0, 9, 3]
    np.testing.assert_array_equal(ds.X, X)
    with pytest.raises(DataError, match=r"labels 0\.\.9: the course's layout"):
        data.load_course_mat(tmp_path / "digits.mat", course_labels=True)


def test_course_mat_keeps_course_labels_and_dtype() -> None:
    ds = data.load_course_mat(shared(MNIST20), course_labels=True, dtype=np.float32)
    assert ds.X.dtype == np.float32
    assert sorted(set(ds.y.tolist())) == list(range(1, 11))
    assert np.bincount(ds.y)[10] == 500


def test_course_mat_images_are_column_major(mnist20: Dataset) -> None:
    for i in (0, 1234, 4999):
        expected = np.array(
            [[mnist20.X[i, col * 20 + row] for col in range(20)] for row in range(20)]
        )
        np.testing.assert_array_equal(mnist20.images()[i], expected)


def test_mat_and_idx_hold_the_same_digits_the_same_way_up(
    mnist20: Dataset, mnist8k_train: Dataset
) -> None:
    assert np.bincount(mnist8k_train.y).tolist() == np.bincount(mnist20.y).tolist()
    # The 20x20 set is a cubic zoom of each 28x28 digit; zooming is linear, so the mean of the
    # zoomed digits equals the zoomed mean digit, whatever the order of the examples.
    zoomed_mean = scipy.ndimage.zoom(mnist8k_train.images().mean(axis=0), 20 / 28, order=3)
    mean20 = mnist20.images().mean(axis=0)
    np.testing.assert_allclose(mean20, zoomed_mean, atol=1e-9)
    assert np.abs(mean20.T - zoomed_mean).max() > 0.1  # the comparison does see orientation


def test_idx_digits_are_upright(mnist8k_train: Dataset) -> None:
    images = mnist8k_train.images()

    def top_to_bottom_ink(digit: int) -> float:
        mean = images[mnist8k_train.y == digit].mean(axis=0)
        return mean[:14].sum() / mean[14:].sum()

    assert top_to_bottom_ink(7) > 1.1  # a 7's bar is at the top
    assert top_to_bottom_ink(6) < 0.8  # a 6's loop is at the bottom


def test_course_weights() -> None:
    thetas = data.load_course_weights(shared(WEIGHTS))
    assert [t.shape for t in thetas] == [(25, 401), (10, 26)]
    assert all(t.dtype == np.float64 for t in thetas)


def test_real_idx_files_hold_8000_digits() -> None:
    folder = shared(MNIST8K)
    counts = {}
    for prefix in ("train", "t10k"):
        images = data.read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
        labels = data.read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        assert labels.shape == (len(images),) and labels.max() == 9
        counts[prefix] = len(images)
    assert counts == {"train": 5000, "t10k": 3000}


def test_idx_folder_and_dispatcher(mnist8k_train: Dataset) -> None:
    assert_valid(mnist8k_train)
    assert mnist8k_train.X.shape == (5000, 784)
    assert (mnist8k_train.image_shape, mnist8k_train.pixel_order) == ((28, 28), "C")
    assert 0 <= mnist8k_train.X.min() and mnist8k_train.X.max() == 1
    test = data.load(shared(MNIST8K), split="test", dtype=np.float32)
    assert test.X.shape == (3000, 784) and test.X.dtype == np.float32
    assert test.name == "mnist-8k/test"
    by_file = data.load(MNIST8K / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(by_file.y, test.y)


def test_fashion_mnist() -> None:
    if not data.FASHION_MNIST_DIR.is_dir():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    ds = data.load("fashion-mnist", split="test", dtype=np.float32)
    assert_valid(ds, np.float32)
    assert ds.X.shape == (10000, 784)
    assert np.bincount(ds.y).tolist() == [1000] * 10


def test_sklearn_digits() -> None:
    ds = data.load("digits")
    assert_valid(ds)
    assert ds.X.shape == (1797, 64) and ds.image_shape == (8, 8)
    assert ds.X.min() == 0 and ds.X.max() == 1
    assert set(ds.y.tolist()) == set(range(10))
    assert data.load_digits(np.float32).X.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Hand-built files

IDX_CODES = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}


def tiny_idx(code: int, values: list[float]) -> bytes:
    """A 2x3 IDX file written byte by byte, independent of the reader."""
    return struct.pack(">HBBII", 0, code, 2, 2, 3) + struct.pack(f">6{IDX_CODES[code]}", *values)


@pytest.mark.parametrize("code", IDX_CODES)
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_tiny(tmp_path: Path, code: int, compress: bool) -> None:
    values = [1, 2, 3, 4, 5, 126] if code in (0x08, 0x09) else [-2, 300, 0, 7, -1, 1000]
    if code == 0x08:
        values[0] = 255
    raw = tiny_idx(code, values)
    path = tmp_path / "tiny.idx"  # no .gz suffix: gzip is found by its magic bytes
    path.write_bytes(gzip.compress(raw) if compress else raw)
    array = data.read_idx(path)
    assert array.shape == (2, 3) and array.dtype.isnative
    assert array.ravel().tolist() == values


def test_load_idx_tiny(tmp_path: Path) -> None:
    images = tmp_path / "x-images-idx3-ubyte"
    labels = tmp_path / "x-labels-idx1-ubyte.gz"
    images.write_bytes(struct.pack(">HBBIII", 0, 8, 3, 2, 1, 2) + bytes([0, 255, 51, 102]))
    labels.write_bytes(gzip.compress(struct.pack(">HBBI", 0, 8, 1, 2) + bytes([3, 9])))
    ds = data.load(images)  # finds the labels beside it, compressed or not
    np.testing.assert_allclose(ds.X, [[0, 1], [0.2, 0.4]])
    assert ds.y.tolist() == [3, 9] and ds.image_shape == (1, 2)


def test_npz_layouts(tmp_path: Path) -> None:
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.savez(tmp_path / "c.npz", X=images, y=np.array([1, 2]))
    ds = data.load(tmp_path / "c.npz")
    assert (ds.image_shape, ds.pixel_order) == ((3, 4), "C")
    np.testing.assert_array_equal(ds.images(), images)

    unrolled_f = images.transpose(0, 2, 1).reshape(2, 12)
    np.savez(
        tmp_path / "f.npz", X=unrolled_f, y=[1, 2], image_shape=[3, 4], pixel_order=np.array("F")
    )
    ds = data.load_npz(tmp_path / "f.npz", dtype=np.float32)
    assert ds.X.dtype == np.float32
    np.testing.assert_array_equal(ds.images(), images)

    np.savez(tmp_path / "flat.npz", X=np.ones((2, 5)), y=[0, 0])
    assert data.load_npz(tmp_path / "flat.npz").image_shape == (1, 5)


def test_csv_layouts(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("label,p0,p1,p2,p3\n7,0,1,2,3\n\n1, 4,5,6,7\n")
    ds = data.load(path)
    assert ds.y.tolist() == [7, 1] and ds.y.dtype == np.int64
    assert ds.image_shape == (2, 2)
    np.testing.assert_array_equal(ds.images()[1], [[4, 5], [6, 7]])
    path.write_text("cat,0.5,1,2\ndog,3,4,5\n")
    ds = data.load_csv(path)
    assert ds.y.tolist() == ["cat", "dog"] and ds.image_shape == (1, 3)


@pytest.mark.parametrize("label_column", ["0", "label"])
def test_csv_column_numbers_as_pandas_writes_them_are_a_header(
    tmp_path: Path, label_column
) -> None:
    # pd.DataFrame(np.column_stack([y, X])).to_csv(index=False) heads the columns 0, 1, ..., 64.
    digits = data.load_digits()
    first = 0 if label_column == "label" else 1
    header = ",".join([label_column, *map(str, range(first, first + 64))])
    rows = [
        f"{label}," + ",".join(f"{v:g}" for v in x * 16) for x, label in zip(digits.X, digits.y)
    ]
    path = tmp_path / "pandas.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    ds = data.load_csv(path)
    assert ds.X.shape == (1797, 64)
    np.testing.assert_array_equal(ds.y, digits.y)
    np.testing.assert_array_equal(ds.X, digits.X * 16)


def test_dtype_must_be_float32_or_float64() -> None:
    with pytest.raises(ValueError, match="int32"):
        data.load_digits(np.int32)
    with pytest.raises(ValueError, match="float64 or float32"):
        data.load("digits", dtype="no such type")


# ---------------------------------------------------------------------------------------------
# Bad input: every problem is a DataError naming the file and the problem


def write_mat(**arrays: object):
    return lambda path: scipy.io.savemat(path, arrays)


def write_npz(**arrays: object):
    return lambda path: np.savez(path, **arrays)


def write_bytes(content: bytes):
    return lambda path: path.write_bytes(content)


def write_text(content: str):
    return lambda path: path.write_text(content)


TRUNCATED_IDX = struct.pack(">HBBIII", 0, 8, 3, 2, 2, 2) + bytes(7)
GOOD_LABELS = struct.pack(">HBBI", 0, 8, 1, 3) + bytes([1, 2, 3])

BAD_INPUTS = {
    "mat missing key": ("a.mat", write_mat(X=np.ones((2, 4))), data.load, "missing key 'y'"),
    "mat not square": (
        "a.mat",
        write_mat(X=np.ones((2, 5)), y=[[1], [2]]),
        data.load,
        "wrong shape",
    ),
    "mat 3-D": ("a.mat", write_mat(X=np.ones((2, 2, 2)), y=[[1], [2]]), data.load, "wrong shape"),
    "mat length": (
        "a.mat",
        write_mat(X=np.ones((3, 4)), y=[[1], [2]]),
        data.load,
        "length mismatch",
    ),
    "mat nan": (
        "a.mat",
        write_mat(X=[[0, np.nan, 0, 0], [np.inf, 0, 0, 0]], y=[[1], [2]]),
        data.load,
        "2 non-finite",
    ),
    "mat labels 0 and 10": (
        "a.mat",
        write_mat(X=np.ones((2, 4)), y=[[0], [10]]),
        data.load,
        "labels 0..10: the course's layout has labels 1..10 (10 for the digit 0), and digits",
    ),
    "mat label -1": (
        "a.mat",
        write_mat(X=np.ones((2, 4)), y=[[-1], [2]]),
        data.load,
        "out of range",
    ),
    "mat label 2.5": ("a.mat", write_mat(X=np.ones((2, 4)), y=[[2.5], [2]]), data.load, "integers"),
    "mat label 11": ("a.mat", write_mat(X=np.ones((2, 4)), y=[[11], [2]]), data.load, "above 10"),
    "mat complex": ("a.mat", write_mat(X=np.ones((2, 4)) * 1j, y=[[1], [2]]), data.load, "complex"),
    "mat text": ("a.mat", write_text("not a mat file at all"), data.load, "not a readable"),
    "weights missing": (
        "w.mat",
        write_mat(Theta1=np.ones((2, 3))),
        data.load_course_weights,
        "missing key 'Theta2'",
    ),
    "weights chain": (
        "w.mat",
        write_mat(Theta1=np.ones((2, 3)), Theta2=np.ones((1, 4))),
        data.load_course_weights,
        "wrong shape",
    ),
    "weights gap": (
        "w.mat",
        write_mat(Theta1=np.ones((2, 3)), Theta2=np.ones((1, 3)), Theta4=np.ones((1, 2))),
        data.load_course_weights,
        "Theta3 is missing",
    ),
    "weights nan": (
        "w.mat",
        write_mat(Theta1=np.full((2, 3), np.nan), Theta2=np.ones((1, 3))),
        data.load_course_weights,
        "non-finite",
    ),
    "idx truncated": (
        "t-images-idx3-ubyte",
        write_bytes(TRUNCATED_IDX),
        data.read_idx,
        "truncated: header says 2x2x2 items of uint8, i.e. 8 data bytes, but the file has 7",
    ),
    "idx too long": ("t.idx", write_bytes(TRUNCATED_IDX + bytes(2)), data.read_idx, "too long"),
    "idx magic": ("t.idx", write_bytes(b"PK\x03\x04" + bytes(8)), data.read_idx, "bad magic"),
    "idx type": (
        "t.idx",
        write_bytes(struct.pack(">HBBI", 0, 7, 1, 0)),
        data.read_idx,
        "unknown IDX type 0x07",
    ),
    "idx header": (
        "t.idx",
        write_bytes(struct.pack(">HBBI", 0, 8, 3, 2)),
        data.read_idx,
        "truncated IDX header",
    ),
    "idx empty": ("t.idx", write_bytes(b""), data.read_idx, "bad magic"),
    "gzip corrupt": (
        "t.gz",
        write_bytes(gzip.compress(GOOD_LABELS)[:-9] + b"garbage!!"),
        data.read_idx,
        "corrupt gzip",
    ),
    "gzip cut": (
        "t.gz",
        write_bytes(gzip.compress(GOOD_LABELS)[:15]),
        data.read_idx,
        "corrupt gzip",
    ),
    "npz pickled": (
        "a.npz",
        write_npz(X=np.array([{}, None], dtype=object), y=[1, 2]),
        data.load,
        "pickled",
    ),
    "npz not zip": ("a.npz", write_bytes(b"\x93NUMPY" + bytes(20)), data.load, "not an .npz"),
    "npz missing key": ("a.npz", write_npz(X=np.ones((2, 4))), data.load, "missing key 'y'"),
    "npz length": ("a.npz", write_npz(X=np.ones((2, 4)), y=[1]), data.load, "length mismatch"),
    "npz inf": ("a.npz", write_npz(X=[[np.inf]], y=[1]), data.load, "1 non-finite"),
    "npz label": ("a.npz", write_npz(X=np.ones((2, 4)), y=[-3, 1]), data.load, "out of range"),
    "npz shape": (
        "a.npz",
        write_npz(X=np.ones((2, 4)), y=[1, 2], image_shape=[3, 3]),
        data.load,
        "does not hold 4 pixels",
    ),
    "npz order": (
        "a.npz",
        write_npz(X=np.ones((2, 4)), y=[1, 2], pixel_order="K"),
        data.load,
        "pixel_order",
    ),
    "npz empty": ("a.npz", write_npz(X=np.ones((0, 4)), y=np.ones(0)), data.load, "empty data"),
    "csv bad number": ("a.csv", write_text("1,2,3\n4,5,x\n"), data.load, "bad line 2, column 3"),
    "csv ragged": ("a.csv", write_text("h,a,b\n1,2,3\n4,5\n"), data.load, "bad line 3"),
    "csv no pixels": ("a.csv", write_text("1,2,3\n4\n"), data.load, "bad line 2"),
    "csv empty": ("a.csv", write_text("\n\n"), data.load, "empty data"),
    "csv binary": ("a.csv", write_bytes(b"1,\xff\xfe\n"), data.load, "not a UTF-8"),
    "missing file": ("nowhere.mat", None, data.load, "not found"),
    "missing idx": ("nowhere-images-idx3-ubyte.gz", None, data.load, "not found"),
    "unknown format": ("a.txt", write_text("1,2"), data.load, "unknown data source"),
}


@pytest.mark.parametrize(
    ("name", "write", "loader", "problem"), BAD_INPUTS.values(), ids=BAD_INPUTS
)
def test_bad_input_is_a_data_error(tmp_path: Path, name, write, loader, problem) -> None:
    path = tmp_path / name
    if write is not None:
        write(path)
    with pytest.raises(DataError) as caught:
        loader(path)
    assert name in str(caught.value)
    assert problem in str(caught.value)


def test_idx_pairs_must_match(tmp_path: Path) -> None:
    images = tmp_path / "a-images-idx3-ubyte"
    labels = tmp_path / "a-labels-idx1-ubyte"
    images.write_bytes(struct.pack(">HBBIII", 0, 8, 3, 2, 1, 1) + bytes(2))
    labels.write_bytes(GOOD_LABELS)
    with pytest.raises(DataError, match="length mismatch: X has 2 examples but y has 3"):
        data.load_idx(images, labels)
    with pytest.raises(DataError, match=r"a-labels-idx1-ubyte: wrong shape: expected \(m, h, w\)"):
        data.load_idx(labels, labels)


def test_idx_folder_says_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"looked for t10k-images-idx3-ubyte\.gz"):
        data.load_idx_folder(tmp_path, "test")
    with pytest.raises(DataError, match="unknown split 'valid'"):
        data.load_idx_folder(tmp_path, "valid")
    with pytest.raises(DataError, match="folder not found"):
        data.load_idx_folder(tmp_path / "absent")


# ---------------------------------------------------------------------------------------------
# Fuzzing: a loader returns a valid Dataset or raises DataError, nothing else

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ARRAY_DTYPES = [
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float32,
    np.float64,
    np.complex128,
]
any_array = hnp.arrays(
    dtype=st.sampled_from(ARRAY_DTYPES),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
float_dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def plausible_xy(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Arrays close to a valid data set, so that the fuzzing reaches the success path too."""
    m = draw(st.integers(0, 4))
    n = draw(st.sampled_from([1, 3, 4, 9]))
    X = draw(hnp.arrays(np.float64, (m, n), elements=st.floats(allow_nan=True, width=64)))
    y = draw(
        hnp.arrays(np.int64, draw(st.sampled_from([(m,), (m, 1)])), elements=st.integers(-1, 12))
    )
    return X, y


xy_pairs = st.one_of(st.tuples(any_array, any_array), plausible_xy())


def load_or_data_error(loader, *args, **kwargs):
    try:
        return loader(*args, **kwargs)
    except DataError:
        return None


@FUZZ
@given(xy=xy_pairs, dtype=float_dtypes)
def test_fuzz_mat(tmp_path: Path, xy, dtype) -> None:
    path = tmp_path / "fuzz.mat"
    scipy.io.savemat(path, {"X": xy[0], "y": xy[1]})
    ds = load_or_data_error(data.load_course_mat, path, dtype=dtype)
    if ds is not None:
        assert_valid(ds, dtype)
        assert ds.y.min() >= 0 and ds.y.max() <= 9


@FUZZ
@given(xy=xy_pairs, dtype=float_dtypes)
def test_fuzz_npz(tmp_path: Path, xy, dtype) -> None:
    path = tmp_path / "fuzz.npz"
    np.savez(path, X=xy[0], y=xy[1])
    ds = load_or_data_error(data.load_npz, path, dtype=dtype)
    if ds is not None:
        assert_valid(ds, dtype)


@st.composite
def plausible_thetas(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    hidden, inputs, outputs = (draw(st.integers(0, 3)) for _ in range(3))
    columns = draw(st.sampled_from([hidden, hidden + 1]))
    floats = st.floats(allow_nan=True, width=64)
    return (
        draw(hnp.arrays(np.float64, (hidden, inputs + 1), elements=floats)),
        draw(hnp.arrays(np.float64, (outputs, columns), elements=floats)),
    )


@FUZZ
@given(thetas=st.one_of(st.tuples(any_array, any_array), plausible_thetas()))
def test_fuzz_weights(tmp_path: Path, thetas) -> None:
    path = tmp_path / "fuzz.mat"
    scipy.io.savemat(path, {"Theta1": thetas[0], "Theta2": thetas[1]})
    loaded = load_or_data_error(data.load_course_weights, path)
    if loaded is not None:
        assert [t.dtype for t in loaded] == [np.float64, np.float64]
        assert loaded[1].shape[1] == loaded[0].shape[0] + 1


@st.composite
def idx_like(draw: st.DrawFn) -> bytes:
    """Random bytes, or a plausible IDX header with a payload of about the right length."""
    code = draw(st.sampled_from([*IDX_CODES, 0x00, 0x0A, 0xFF]))
    dims = draw(st.lists(st.integers(0, 3), max_size=4))
    size = int(np.prod(dims)) * {0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(code, 1)
    payload = draw(st.binary(min_size=max(size - 1, 0), max_size=size + 1))
    raw = struct.pack(f">HBB{len(dims)}I", 0, code, len(dims), *dims) + payload
    raw = draw(st.one_of(st.just(raw), st.binary(max_size=40)))
    if draw(st.booleans()):
        raw = gzip.compress(raw)[: draw(st.integers(0, 200))]
    return raw


def valid_idx(shape: tuple[int, ...], compress: bool) -> bytes:
    pixels = bytes(range(int(np.prod(shape))))  # shapes here are small: fewer than 256 values
    raw = struct.pack(f">HBB{len(shape)}I", 0, 0x08, len(shape), *shape) + pixels
    return gzip.compress(raw) if compress else raw


@st.composite
def idx_pairs(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """An images and a labels file, each random or valid with a random example count."""
    m = draw(st.integers(0, 3))
    h, w = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    images = draw(st.one_of(idx_like(), st.booleans().map(lambda z: valid_idx((m, h, w), z))))
    labels = draw(st.one_of(idx_like(), st.booleans().map(lambda z: valid_idx((m,), z))))
    return images, labels


@FUZZ
@given(pair=idx_pairs(), dtype=float_dtypes)
def test_fuzz_idx(tmp_path: Path, pair: tuple[bytes, bytes], dtype) -> None:
    images, labels = pair
    images_path, labels_path = tmp_path / "i", tmp_path / "l"
    images_path.write_bytes(images)
    labels_path.write_bytes(labels)
    array = load_or_data_error(data.read_idx, images_path)
    if array is not None:
        assert isinstance(array, np.ndarray) and array.dtype.isnative
    ds = load_or_data_error(data.load_idx, images_path, labels_path, dtype=dtype)
    if ds is not None:
        assert_valid(ds, dtype)


@FUZZ
@given(
    content=st.one_of(
        st.text(alphabet="0123456789,.-+eEinaf x\n\t", max_size=60),
        st.lists(st.lists(st.integers(-1, 300), min_size=1, max_size=5), max_size=4).map(
            lambda rows: "\n".join(",".join(map(str, row)) for row in rows)
        ),
        st.binary(),
    ),
    dtype=float_dtypes,
)
def test_fuzz_csv(tmp_path: Path, content, dtype) -> None:
    path = tmp_path / "fuzz.csv"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    ds = load_or_data_error(data.load_csv, path, dtype=dtype)
    if ds is not None:
        assert_valid(ds, dtype)


# ---------------------------------------------------------------------------------------------
# stratified_split


@settings(max_examples=30, deadline=None)
@given(
    counts=st.lists(st.integers(2, 60), min_size=2, max_size=8),
    fraction=st.floats(0.05, 0.6),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_keeps_each_labels_share(counts, fraction, seed):
    y = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)) * 3, counts))
    m = len(y)
    if min(math.ceil(fraction * m), m - math.ceil(fraction * m)) < len(counts):
        return  # too few rows for both parts to hold every label: refused (tested below)
    train, test = data.stratified_split(y, fraction, random_state=seed)
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(m))  # a partition
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert len(test) == math.ceil(fraction * m)
    for label, count in zip(np.arange(len(counts)) * 3, counts):
        # Each label's held-out count is its exact share rounded down or up.
        held_out = np.count_nonzero(y[test] == label)
        assert math.floor(count * len(test) / m) <= held_out <= math.ceil(count * len(test) / m)
    again = data.stratified_split(y, fraction, random_state=seed)
    assert np.array_equal(again[1], test)


def test_stratified_split_is_seeded_and_refuses_what_it_cannot_do():
    y = np.repeat(["a", "b", "c"], 20)
    first = data.stratified_split(y, 0.25, random_state=0)[1]
    assert not np.array_equal(first, data.stratified_split(y, 0.25, random_state=1)[1])
    with pytest.raises(ValueError, match="label 'z' has 1 example"):
        data.stratified_split(np.array([*y, "z"]), 0.25)
    with pytest.raises(ValueError, match="cannot each hold all 3 labels"):
        data.stratified_split(y, 0.02)
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        data.stratified_split(y, 1.0)


def test_idx_loads_straight_to_float32_without_a_float64_copy() -> None:
    """Peak allocations while loading: the compressed and unpacked bytes, then X itself; a float64
    copy (or a second float32 one) would add at least X's size again."""
    folder = shared(MNIST8K)
    tracemalloc.start()
    try:
        ds = data.load_idx_folder(folder, "train", dtype=np.float32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ds.X.dtype == np.float32
    pixels = ds.X.size  # bytes of the file's pixels, once unpacked
    assert peak < ds.X.nbytes + 2.5 * pixels  # X, the unpacked bytes, the compressed ones
