"""Load handwritten-digit data sets into one small, validated container.

Every loader returns a :class:`Dataset`: ``X`` holds one example per row (float64 by default,
float32 on request), ``y`` one label per example, and ``image_shape`` plus ``pixel_order`` say how
to turn a row back into an upright image (:meth:`Dataset.images`).

Pixel order
    A row is an image unrolled either column-major (``"F"``, Fortran/MATLAB order: the course's
    ``.mat`` files, which come from Octave) or row-major (``"C"``: IDX files, scikit-learn, NumPy).
    Models do not care which, but anything that draws or compares images does, so the order
    travels with the data instead of being guessed later.

Supported formats
    course ``.mat``
        The layout of the course's ``ex4data1.mat``: ``X`` (m, n) with n = side², each row a
        column-major image; ``y`` (m, 1) labels 1..K where 10 means the digit 0
        (:func:`load_course_mat`). Weights ``Theta1``, ``Theta2``, ... (:func:`load_course_weights`).
    IDX
        The MNIST / Fashion-MNIST format, raw or gzip-compressed (detected from the content):
        ``*-images-idx3-ubyte[.gz]`` (m, h, w) uint8 and ``*-labels-idx1-ubyte[.gz]`` (m,)
        (:func:`read_idx`, :func:`load_idx`, :func:`load_idx_folder`). Pixels are scaled to [0, 1].
    ``.npz``
        Arrays ``X`` (m, n) or (m, h, w) and ``y`` (m,); optionally ``image_shape`` (two ints)
        and ``pixel_order`` (a 0-d string array, ``"C"`` or ``"F"``, for 2-D ``X``; default
        ``"C"``). Pickled (object) arrays are refused (:func:`load_npz`).
    ``.csv``
        One example per line: the label, then the pixel values row-major, separated by commas,
        no quoting; an optional header line; blank lines are skipped (:func:`load_csv`).
    scikit-learn digits
        The bundled 8x8 digits, pixels scaled to [0, 1]; needs no files (:func:`load_digits`).

:func:`load` picks the loader from a name or path, as the command line does. Any problem with
the input raises :class:`DataError`, whose message names the file and the problem.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = [
    "FASHION_MNIST_DIR",
    "DataError",
    "Dataset",
    "default_image_shape",
    "load",
    "load_course_mat",
    "load_course_weights",
    "load_csv",
    "load_digits",
    "load_idx",
    "load_idx_folder",
    "load_npz",
    "read_idx",
    "stratified_split",
    "upright_images",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the IDX files."""

# Labels are class indices; anything larger means a corrupt file, and the cap keeps the float64
# checks in _labels exact.
_MAX_LABEL = np.iinfo(np.int32).max

_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
# NumPy 1.x allows at most 32 dimensions; real IDX files have 1 to 4.
_IDX_MAX_NDIM = 32
_IDX_SPLITS = {"train": "train", "test": "t10k"}
_IDX_IMAGES = re.compile(r"(?P<prefix>.*)images(?P<sep>[-.])idx3-ubyte(?:\.gz)?", re.IGNORECASE)
_GZIP_MAGIC = b"\x1f\x8b"

_ACCEPTED = (
    "'digits', 'mnist', 'fashion-mnist', a folder of IDX files, a .mat, .npz or .csv file, "
    "or an IDX images file (*-images-idx3-ubyte[.gz])"
)


def upright_images(X, image_shape: Sequence[int], pixel_order: str) -> np.ndarray:
    """Rows of ``X`` as upright images.

    Parameters
    ----------
    X : array_like
        ``(m, height * width)`` one image per row.
    image_shape : (int, int)
        ``(height, width)`` of one upright image.
    pixel_order : {"C", "F"}
        ``"C"`` if rows are unrolled row-major, ``"F"`` if column-major.

    Returns
    -------
    np.ndarray
        ``(m, height, width)``, a view of ``X`` where possible.
    """
    X = np.asarray(X)
    height, width = (int(s) for s in image_shape)
    if pixel_order not in ("C", "F"):
        raise ValueError(f"pixel_order must be 'C' or 'F', got {pixel_order!r}")
    if X.ndim != 2 or X.shape[1] != height * width:
        raise ValueError(
            f"X must be (m, {height * width}) for {height}x{width} images, got shape {X.shape}"
        )
    if pixel_order == "C":
        return X.reshape(len(X), height, width)
    # Column-major: each row holds the image's columns one after another.
    return X.reshape(len(X), width, height).transpose(0, 2, 1)


class DataError(ValueError):
    """A data file or source is missing, malformed or inconsistent; the message says which."""


# eq=False: equality of array fields is element-wise, so a generated __eq__ would raise.
@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Examples, labels, and how to view each example as an image.

    Attributes
    ----------
    X : np.ndarray
        (m, n) float64 or float32 pixel values, one example per row, n = h * w.
    y : np.ndarray
        (m,) labels: int64 for digit sets, strings for a csv with text labels.
    image_shape : tuple[int, int]
        (h, w) of one upright image.
    pixel_order : str
        ``"F"`` if each row is an image unrolled column-major, ``"C"`` if row-major.
    name : str
        Short description of the source, e.g. ``"mnist20-5000.mat"``.
    """

    X: np.ndarray
    y: np.ndarray
    image_shape: tuple[int, int]
    pixel_order: str
    name: str

    def __post_init__(self) -> None:
        h, w = self.image_shape
        if self.pixel_order not in ("C", "F"):
            raise ValueError(f"pixel_order must be 'C' or 'F', not {self.pixel_order!r}")
        if self.X.ndim != 2 or h * w != self.X.shape[1]:
            raise ValueError(
                f"image_shape {self.image_shape} does not fit X of shape {self.X.shape}"
            )

    def images(self) -> np.ndarray:
        """Return the examples as upright images.

        Returns
        -------
        np.ndarray
            (m, h, w) view of ``X``.
        """
        return upright_images(self.X, self.image_shape, self.pixel_order)


# ---------------------------------------------------------------------------------------------
# Shared validation


def _float_dtype(dtype: npt.DTypeLike) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be float64 or float32, not {dtype!r}") from exc
    if resolved not in (np.float64, np.float32):
        raise ValueError(f"dtype must be float64 or float32, not {resolved}")
    return resolved


def to_float(a: np.ndarray, dtype: npt.DTypeLike, source: object, what: str) -> np.ndarray:
    """The real numeric array ``a`` as ``dtype`` (no copy when it is one already), or a
    DataError naming ``source`` and ``what``; finiteness is checked by :func:`require_finite`."""
    dtype = _float_dtype(dtype)
    if a.dtype.kind == "c":
        raise DataError(f"{source}: {what} is complex ({a.dtype}); values must be real numbers")
    if a.dtype.kind not in "biuf":
        raise DataError(f"{source}: {what} is not numeric (dtype {a.dtype})")
    # Values beyond float32's range become inf here, which require_finite then reports.
    with np.errstate(over="ignore"):
        return a.astype(dtype, copy=False)


def require_finite(a: np.ndarray, source: object, what: str) -> None:
    """A DataError naming ``source``, ``what`` and the first row unless ``a`` is all finite."""
    # A sum is a scan without a temporary the size of ``a``; only a non-finite one needs the mask.
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: reported below
        if math.isfinite(a.sum(dtype=np.float64)):
            return
    bad = ~np.isfinite(a)
    if bad.any():
        first_row = np.argwhere(bad)[0][0]
        raise DataError(
            f"{source}: {what} has {np.count_nonzero(bad)} non-finite values (NaN or inf) "
            f"as {a.dtype}; the first is in row {first_row}"
        )


def _check_xy(X: np.ndarray, y: np.ndarray, source: object) -> None:
    """Check that X (m, n) and y (m,) are non-empty, the same length, and X is finite."""
    if X.ndim != 2:
        raise DataError(f"{source}: wrong shape: X must be 2-D (examples x pixels), not {X.shape}")
    if y.ndim != 1:
        raise DataError(f"{source}: wrong shape: y must be 1-D (one label each), not {y.shape}")
    if X.size == 0:
        raise DataError(f"{source}: empty data: X has shape {X.shape}")
    if len(X) != len(y):
        raise DataError(
            f"{source}: length mismatch: X has {len(X)} examples but y has {len(y)} labels"
        )
    require_finite(X, source, "X")


def _labels(y: np.ndarray, source: object) -> np.ndarray:
    """Return numeric labels as int64 after checking they are integers in 0.._MAX_LABEL."""
    if y.dtype.kind not in "iuf":
        raise DataError(f"{source}: labels must be integers, not dtype {y.dtype}")
    values = y.astype(np.float64)
    not_integer = ~np.isfinite(values) | (values != np.round(values))
    if not_integer.any():
        raise DataError(
            f"{source}: labels must be integers; {np.count_nonzero(not_integer)} are not, "
            f"e.g. {values[not_integer][0]}"
        )
    outside = (values < 0) | (values > _MAX_LABEL)
    if outside.any():
        found = np.unique(y[outside])[:5].tolist()
        raise DataError(
            f"{source}: labels out of range: expected integers 0..{_MAX_LABEL}, found {found}"
        )
    return values.astype(np.int64)


def _square_side(n: int) -> int | None:
    side = math.isqrt(n)
    return side if side * side == n else None


def default_image_shape(n: int) -> tuple[int, int]:
    """``(side, side)`` when ``n`` pixels make a square image, else ``(1, n)``: one row of pixels."""
    side = _square_side(n)
    return (side, side) if side is not None else (1, n)


def stratified_split(
    y, test_fraction: float, random_state: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` of a random split that keeps each label's share in both parts.

    ``ceil(test_fraction * m)`` rows go to the test part, shared among the labels in proportion to
    their counts (whole rows by largest remainder), each label's rows drawn at random by
    ``np.random.default_rng(random_state)``. Both index arrays are sorted. Pure NumPy: the command
    line splits without importing scikit-learn (a second of start-up).

    Raises ValueError when a label has a single example, or a part has fewer rows than labels.
    """
    y = np.asarray(y)
    if not 0 < test_fraction < 1:
        raise ValueError(f"the test fraction must be in (0, 1), got {test_fraction!r}")
    classes, units, counts = np.unique(y, return_inverse=True, return_counts=True)
    m = len(y)
    n_test = math.ceil(test_fraction * m)
    if counts.min() < 2:
        label = classes[np.argmin(counts)].item()  # a plain Python value, as the user wrote it
        raise ValueError(f"label {label!r} has 1 example; a stratified split needs 2 of each")
    if min(n_test, m - n_test) < len(classes):
        raise ValueError(
            f"{n_test} held-out and {m - n_test} kept rows cannot each hold all {len(classes)} labels"
        )
    exact = counts * n_test / m
    share = np.floor(exact).astype(np.int64)
    largest_remainders = np.argsort(share - exact, kind="stable")[: n_test - share.sum()]
    share[largest_remainders] += 1
    order = np.random.default_rng(random_state).permutation(m)
    by_label = order[np.argsort(units.ravel()[order], kind="stable")]  # random within each label
    starts = np.cumsum(counts) - counts
    test = np.zeros(m, dtype=bool)
    for start, k in zip(starts, share):
        test[by_label[start : start + k]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    return path


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file: {exc}") from exc


def _missing_key(source: object, key: str, present: Iterable[str]) -> DataError:
    return DataError(f"{source}: missing key {key!r}; keys present: {sorted(present)}")


# ---------------------------------------------------------------------------------------------
# The course's .mat files


def _read_mat(path: str | Path) -> tuple[Path, dict[str, np.ndarray]]:
    import scipy.io  # a quarter second of start-up that only .mat files need

    path = _existing_file(path)
    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError as exc:  # scipy's answer to MATLAB v7.3 (HDF5) files
        raise DataError(f"{path}: MATLAB v7.3 files are not supported; save with -v7") from exc
    except Exception as exc:  # scipy raises many types for a damaged or foreign file
        raise DataError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
    # np.asarray turns what is not an array (a sparse matrix) into an object array that the
    # numeric checks reject.
    arrays = {key: np.asarray(value) for key, value in contents.items() if not key.startswith("__")}
    return path, arrays


def load_course_mat(
    path: str | Path, *, course_labels: bool = False, dtype: npt.DTypeLike = np.float64
) -> Dataset:
    """Load digits stored in the layout of the course's ``ex4data1.mat``.

    Parameters
    ----------
    path : str or Path
        A .mat file with ``X`` (m, n), each row a square image unrolled column-major, and
        ``y`` (m, 1) labels 1..K, where 10 stands for the digit 0 (labels 0..9, as a file
        saved from Python may hold, are taken as the digits they are).
    course_labels : bool
        Keep the labels as stored (1..10) instead of mapping them to digits 0..9.
    dtype : float64 or float32
        Type of the returned ``X``.

    Returns
    -------
    Dataset
        ``X`` (m, n), ``y`` (m,) int64, ``image_shape`` (side, side), ``pixel_order`` "F".
    """
    path, arrays = _read_mat(path)
    for key in ("X", "y"):
        if key not in arrays:
            raise _missing_key(path, key, arrays)
    X = to_float(arrays["X"], dtype, path, "X")
    y = arrays["y"]
    # MATLAB has no 1-D arrays: a label vector arrives as (m, 1), or (1, m) if saved as a row.
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    y = _labels(y, path)
    _check_xy(X, y, path)
    side = _square_side(X.shape[1])
    if side is None:
        raise DataError(f"{path}: wrong shape: {X.shape[1]} pixels per row is not a square image")
    if (y == 0).any():
        # Saved from Python with the digits themselves as labels: read them as they are.
        if course_labels or y.max() > 9:
            raise DataError(
                f"{path}: labels {y.min()}..{y.max()}: the course's layout has labels 1..10 "
                "(10 for the digit 0), and digits 0..9 are read as they are; these are neither"
            )
    elif not course_labels:
        if y.max() > 10:
            raise DataError(
                f"{path}: labels out of range: {y.max()} is above 10 and cannot be mapped to "
                "a digit; pass course_labels=True to keep the labels as stored"
            )
        y = y % 10
    return Dataset(X, y, (side, side), "F", path.name)


def load_course_weights(path: str | Path) -> list[np.ndarray]:
    """Load the course's network weights ``Theta1``, ``Theta2``, ... from a .mat file.

    Parameters
    ----------
    path : str or Path
        A .mat file with ``Theta1`` and ``Theta2`` and possibly ``Theta3``, ... consecutively.

    Returns
    -------
    list of np.ndarray
        float64 matrices; ``Theta_l`` is (units in layer l+1, units in layer l + 1), bias in
        column 0, so ``Theta_{l+1}.shape[1] == Theta_l.shape[0] + 1``.
    """
    path, arrays = _read_mat(path)
    for key in ("Theta1", "Theta2"):
        if key not in arrays:
            raise _missing_key(path, key, arrays)
    thetas: list[np.ndarray] = []
    while f"Theta{len(thetas) + 1}" in arrays:
        key = f"Theta{len(thetas) + 1}"
        theta = to_float(arrays[key], np.float64, path, key)
        if theta.ndim != 2 or theta.size == 0:
            raise DataError(
                f"{path}: wrong shape: {key} must be a non-empty matrix, not {theta.shape}"
            )
        require_finite(theta, path, key)
        if thetas and theta.shape[1] != thetas[-1].shape[0] + 1:
            raise DataError(
                f"{path}: wrong shape: {key} is {theta.shape} but Theta{len(thetas)} is "
                f"{thetas[-1].shape}, so {key} needs {thetas[-1].shape[0] + 1} columns"
            )
        thetas.append(theta)
    extra = sorted(key for key in arrays if re.fullmatch(r"Theta\d+", key))
    if len(extra) != len(thetas):
        raise DataError(
            f"{path}: Theta matrices are not consecutive: found {extra}, "
            f"but Theta{len(thetas) + 1} is missing"
        )
    return thetas


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)


def _gunzip(raw: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc})") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file, raw or gzip-compressed.

    Parameters
    ----------
    path : str or Path
        The file; gzip is recognised by its magic bytes, not by the extension.

    Returns
    -------
    np.ndarray
        Array of the shape and type in the header (e.g. (m, 28, 28) uint8 or (m,) uint8),
        in native byte order.
    """
    path = _existing_file(path)
    data = _read_bytes(path)
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, path)
    if len(data) < 4 or data[:2] != b"\0\0":
        raise DataError(
            f"{path}: bad magic number {data[:4].hex(' ') or '(empty file)'}: not an IDX file "
            "(expected 00 00 <type> <dimensions>)"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_TYPES:
        known = ", ".join(f"0x{code:02X}" for code in _IDX_TYPES)
        raise DataError(f"{path}: bad magic number: unknown IDX type 0x{type_code:02X} ({known})")
    if not 1 <= ndim <= _IDX_MAX_NDIM:
        raise DataError(f"{path}: bad magic number: {ndim} dimensions (1..{_IDX_MAX_NDIM})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
            f"file has {len(data)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "too long"
        raise DataError(
            f"{path}: {problem}: header says {'x'.join(map(str, dims))} items of {dtype.name}, "
            f"i.e. {expected} data bytes, but the file has {actual}"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def load_idx(
    images_path: str | Path, labels_path: str | Path, *, dtype: npt.DTypeLike = np.float64
) -> Dataset:
    """Load an IDX images file and its labels file (MNIST layout).

    Parameters
    ----------
    images_path : str or Path
        IDX file of (m, h, w) unsigned bytes.
    labels_path : str or Path
        IDX file of (m,) integer labels.
    dtype : float64 or float32
        Type of the returned ``X``.

    Returns
    -------
    Dataset
        ``X`` (m, h * w) in [0, 1] (pixels / 255), row-major (``pixel_order`` "C"); ``y`` (m,)
        int64.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path}: wrong shape: expected (m, h, w) unsigned bytes, "
            f"got {images.shape} {images.dtype}"
        )
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: wrong shape: expected (m,) labels, got {labels.shape}")
    m, h, w = images.shape
    # Straight from bytes to the training dtype, scaled in place: no float64 or second copy.
    X = to_float(images.reshape(m, h * w), dtype, images_path, "images")
    X /= 255
    y = _labels(labels, labels_path)
    _check_xy(X, y, f"{images_path} with {labels_path}")
    return Dataset(X, y, (h, w), "C", Path(images_path).name)


def _find_idx(folder: Path, prefix: str, kind: str, ndim: int) -> Path:
    names = [f"{prefix}-{kind}{sep}idx{ndim}-ubyte{ext}" for sep in "-." for ext in (".gz", "")]
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no IDX {kind} file found; looked for {', '.join(names)}")


def load_idx_folder(
    folder: str | Path, split: str = "train", *, dtype: npt.DTypeLike = np.float64
) -> Dataset:
    """Load one split of a folder laid out like the MNIST / Fashion-MNIST distributions.

    Parameters
    ----------
    folder : str or Path
        Holds ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]`` and the same
        with ``t10k`` (``.idx3-ubyte`` with a dot is accepted too).
    split : {"train", "test"}
        Which pair to load; "test" reads the ``t10k`` files.
    dtype : float64 or float32
        Type of the returned ``X``.

    Returns
    -------
    Dataset
        As :func:`load_idx`, named ``"<folder name>/<split>"``.
    """
    folder = Path(folder)
    if split not in _IDX_SPLITS:
        raise DataError(f"{folder}: unknown split {split!r}; expected one of {list(_IDX_SPLITS)}")
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    prefix = _IDX_SPLITS[split]
    dataset = load_idx(
        _find_idx(folder, prefix, "images", 3), _find_idx(folder, prefix, "labels", 1), dtype=dtype
    )
    return dataclasses.replace(dataset, name=f"{folder.name}/{split}")


def _sibling_labels(images_path: Path, match: re.Match[str]) -> Path:
    stem = f"{match['prefix']}labels{match['sep']}idx1-ubyte"
    # Prefer the labels file compressed the same way as the images file.
    names = (
        [stem + ".gz", stem] if images_path.name.lower().endswith(".gz") else [stem, stem + ".gz"]
    )
    for name in names:
        if (images_path.parent / name).is_file():
            return images_path.parent / name
    raise DataError(f"{images_path}: no labels file beside it; looked for {', '.join(names)}")


# ---------------------------------------------------------------------------------------------
# scikit-learn digits, .npz and .csv


def load_digits(dtype: npt.DTypeLike = np.float64) -> Dataset:
    """Load scikit-learn's bundled 8x8 digits; needs no files.

    Parameters
    ----------
    dtype : float64 or float32
        Type of the returned ``X``.

    Returns
    -------
    Dataset
        ``X`` (1797, 64) in [0, 1] (pixels / 16), row-major; ``y`` (1797,) int64 digits 0..9.
    """
    # Imported here: scikit-learn takes about a second to import and only this loader needs it.
    from sklearn.datasets import load_digits as sklearn_digits

    source = "sklearn digits"
    bunch = sklearn_digits()
    X = to_float(bunch.data, dtype, source, "X") / 16
    y = _labels(bunch.target, source)
    _check_xy(X, y, source)
    return Dataset(X, y, (8, 8), "C", source)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    # np.load on a non-zip file would try to unpickle it and blame pickling; say what it is.
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # NumPy's wording when an array holds Python objects
            raise DataError(f"{path}: holds pickled (object) data, which is refused") from exc
        raise DataError(f"{path}: corrupt .npz file ({exc})") from exc
    except Exception as exc:  # zipfile, zlib and numpy raise many types for a damaged archive
        raise DataError(f"{path}: corrupt .npz file ({exc})") from exc


def _npz_image_shape(arrays: dict[str, np.ndarray], n: int, path: Path) -> tuple[int, int]:
    if "image_shape" not in arrays:
        return default_image_shape(n)
    shape = arrays["image_shape"]
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or (shape <= 0).any():
        raise DataError(
            f"{path}: wrong shape: image_shape must be two positive integers, not {shape}"
        )
    h, w = (int(side) for side in shape)
    if h * w != n:
        raise DataError(f"{path}: wrong shape: image_shape {(h, w)} does not hold {n} pixels")
    return h, w


def load_npz(path: str | Path, *, dtype: npt.DTypeLike = np.float64) -> Dataset:
    """Load a data set saved with ``np.savez``.

    Parameters
    ----------
    path : str or Path
        An .npz with ``X`` (m, n) or (m, h, w) and ``y`` (m,); optionally ``image_shape``
        (two ints, for 2-D ``X``; default square if n is a perfect square, else (1, n)) and
        ``pixel_order`` (0-d string array "C" or "F", for 2-D ``X``; default "C").
    dtype : float64 or float32
        Type of the returned ``X``.

    Returns
    -------
    Dataset
        ``X`` (m, n), ``y`` (m,) int64 (labels must be non-negative integers).
    """
    path = _existing_file(path)
    arrays = _read_npz(path)
    for key in ("X", "y"):
        if key not in arrays:
            raise _missing_key(path, key, arrays)
    X = to_float(arrays["X"], dtype, path, "X")
    order = arrays.get("pixel_order", np.array("C"))
    if order.ndim != 0 or order.dtype.kind != "U" or str(order) not in ("C", "F"):
        raise DataError(f"{path}: pixel_order must be a 0-d string 'C' or 'F', not {order!r}")
    pixel_order = str(order)
    image_shape = None
    if X.ndim == 3:
        # The images are stored upright, so unroll them row-major; other metadata would conflict.
        if "image_shape" in arrays or pixel_order != "C":
            raise DataError(f"{path}: image_shape and pixel_order 'F' only apply to 2-D X")
        m, h, w = X.shape
        X = X.reshape(m, h * w)
        image_shape = (h, w)
    y = _labels(arrays["y"], path)
    _check_xy(X, y, path)
    image_shape = image_shape or _npz_image_shape(arrays, X.shape[1], path)
    return Dataset(X, y, image_shape, pixel_order, path.name)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(pixel_fields: list[str]) -> bool:
    """A first line is a header if its pixel fields are not all numbers, or count up by one
    (column numbers, as pandas writes them for unnamed columns: ``0,1,2,...`` or
    ``label,0,1,...``), which no real image's eight or more pixels do."""
    if not all(map(_is_number, pixel_fields)):
        return True
    values = [float(field) for field in pixel_fields]
    return len(values) >= 8 and all(b - a == 1 for a, b in pairwise(values))


def _bad_csv_line(rows: list[tuple[int, str]], n_fields: int, path: Path) -> DataError | None:
    """Return an error naming the first line loadtxt would reject, if Python's float agrees."""
    for line_no, pixels in rows:
        fields = pixels.split(",")
        if len(fields) != n_fields:
            return DataError(
                f"{path}: bad line {line_no}: {len(fields) + 1} fields, expected {n_fields + 1}"
            )
        for column, field in enumerate(fields, start=2):
            if not _is_number(field):
                return DataError(
                    f"{path}: bad line {line_no}, column {column}: {field.strip()!r} is not a number"
                )
    return None


def load_csv(path: str | Path, *, dtype: npt.DTypeLike = np.float64) -> Dataset:
    """Load a data set from comma-separated text.

    Parameters
    ----------
    path : str or Path
        One example per line: the label, then n pixel values row-major. A first line whose pixel
        fields are not all numbers, or are column numbers counting up by one (as pandas writes
        them), is a header and skipped; blank lines are skipped.
    dtype : float64 or float32
        Type of the returned ``X``.

    Returns
    -------
    Dataset
        ``X`` (m, n); ``y`` (m,) int64 if every label is a non-negative integer, else strings;
        ``image_shape`` square if n is a perfect square, else (1, n); ``pixel_order`` "C".
    """
    path = _existing_file(path)
    labels: list[str] = []
    rows: list[tuple[int, str]] = []  # (line number, pixel fields) to name lines in errors
    try:
        with path.open(encoding="utf-8") as lines:
            first = True
            for line_no, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                label, _, pixels = line.partition(",")
                is_header = first and _is_header(pixels.split(","))
                first = False
                if is_header:
                    continue
                if not label.strip() or not pixels.strip():
                    raise DataError(f"{path}: bad line {line_no}: needs a label and pixel values")
                labels.append(label.strip())
                rows.append((line_no, pixels))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text csv file ({exc})") from exc
    if not rows:
        raise DataError(f"{path}: empty data: no lines with a label and pixel values")
    try:
        # loadtxt parses in C; Python only splits off the label column.
        X = np.loadtxt(
            [pixels for _, pixels in rows], delimiter=",", dtype=np.float64, comments=None, ndmin=2
        )
    except ValueError as exc:
        n_fields = rows[0][1].count(",") + 1
        raise (_bad_csv_line(rows, n_fields, path) or DataError(f"{path}: {exc}")) from exc
    X = to_float(X, dtype, path, "X")
    try:
        numeric = np.array(labels, dtype=np.float64)
    except ValueError:
        y = np.array(labels)  # text labels, e.g. class names
    else:
        y = _labels(numeric, path)
    _check_xy(X, y, path)
    return Dataset(X, y, default_image_shape(X.shape[1]), "C", path.name)


# ---------------------------------------------------------------------------------------------
# Dispatcher


def load(source: str | Path, *, split: str = "train", dtype: npt.DTypeLike = np.float64) -> Dataset:
    """Load a data set named on the command line.

    Parameters
    ----------
    source : str or Path
        ``"digits"`` (scikit-learn's 8x8 digits), ``"mnist"`` or ``"fashion-mnist"`` (downloaded
        on first use and cached, or Debian's dataset-fashion-mnist in :data:`FASHION_MNIST_DIR`:
        :mod:`digitnet.datasets`), a folder of IDX files, a ``.mat``
        (course layout), ``.npz`` or ``.csv`` file, or an IDX images file
        ``*-images-idx3-ubyte[.gz]`` whose labels file lies beside it.
    split : {"train", "test"}
        For IDX folders, "mnist" and "fashion-mnist"; the other sources have a single split and ignore it.
    dtype : float64 or float32
        Type of the returned ``X``.

    Returns
    -------
    Dataset
        See the individual loaders.
    """
    if source == "digits":
        return load_digits(dtype)
    from digitnet import datasets  # imported here: the downloader imports this module

    if source in datasets.DATASETS:
        return load_idx_folder(datasets.fetch(str(source)), split, dtype=dtype)
    path = Path(source)
    if path.is_dir():
        return load_idx_folder(path, split, dtype=dtype)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return load_course_mat(path, dtype=dtype)
    if suffix == ".npz":
        return load_npz(path, dtype=dtype)
    if suffix == ".csv":
        return load_csv(path, dtype=dtype)
    match = _IDX_IMAGES.fullmatch(path.name)
    if match:
        return load_idx(_existing_file(path), _sibling_labels(path, match), dtype=dtype)
    raise DataError(f"{source}: unknown data source; expected {_ACCEPTED}")
