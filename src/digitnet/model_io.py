"""Model files: a safe, portable ``.npz`` format, and the course's Octave ``.mat`` weights.

The digitnet model file
    An uncompressed ``.npz`` (a zip of ``.npy`` arrays) that holds only numeric arrays and one
    string, so it loads with ``allow_pickle=False`` and runs no code when read:

    ``theta_1`` ... ``theta_L``
        The weight matrices, in the model's dtype (float64 or float32), bias in column 0.
    ``history_<column>``
        One 1-D numeric array per column of the training history (``cost``, ...).
    ``metadata``
        A 0-d unicode array holding a JSON object: ``format`` (``"digitnet-model"``),
        ``format_version``, ``digitnet_version``, ``layer_sizes``, ``activation`` (the hidden
        units': ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"``), ``output`` (``"sigmoid"``
        or ``"softmax"``; files written before it existed are read as ``"sigmoid"``), ``labels`` (the label of each output unit, integers or strings), ``image_shape``,
        ``pixel_order`` (``"C"``, ``"F"``, or null when unknown), ``dtype``, ``history`` (the history column names) and ``info`` (the
        model's facts about training: lambda, solver settings, seed, history summary, data
        fingerprint, ...).

    :func:`load` checks all of it against the metadata before it builds a :class:`Model`, and a
    file from a newer ``format_version`` is refused rather than half read. Files are written to a
    temporary file in the target folder and renamed into place, so a crash never leaves a
    half-written model behind, and an existing file is only replaced when asked.

Octave interop
    :func:`import_octave` reads the course's ``ex4weights.mat`` (``Theta1``, ``Theta2``) as a
    model; :func:`export_octave` writes a 2-layer model in that same form, rearranged so the
    course's own Octave code reads images and labels correctly with it.

Every problem with a file raises :class:`ModelFileError`, whose message names the file.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

import digitnet
from digitnet import data, network, settings
from digitnet.files import write_atomically
from digitnet.labels import COURSE_DIGITS, LabelMap
from digitnet.model import UNKNOWN_LAYOUT, Model

__all__ = ["FORMAT_VERSION", "ModelFileError", "export_octave", "import_octave", "load", "save"]

FORMAT_VERSION = 2
"""Version of the model file layout; bumped whenever an older digitnet could misread a file.

A file says the lowest version that reads it right: 1 for sigmoid outputs (every digitnet reads
those; one of version 1 refuses hidden units other than sigmoid by name), 2 for softmax outputs,
which a version-1 reader would take for sigmoid ones."""

_FORMAT = "digitnet-model"
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"  # the PROTO opcode that starts every pickle of protocol 2 or later
_FLOAT_DTYPES = ("float64", "float32")


class ModelFileError(ValueError):
    """A model file is missing, foreign, damaged or inconsistent; the message says which."""


# ---------------------------------------------------------------------------------------------
# Writing a file safely


def _json_default(value: object) -> object:
    """NumPy scalars and arrays in ``info`` become plain JSON numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# ---------------------------------------------------------------------------------------------
# The digitnet .npz format


def save(model: Model, path: str | Path, *, overwrite: bool = False) -> Path:
    """Save a model to a digitnet model file.

    Parameters
    ----------
    model : Model
        The model; its ``info`` must be JSON-compatible (NumPy scalars and arrays are converted).
    path : str or Path
        Where to write. The name is used exactly as given (no ``.npz`` is appended), though
        ``.npz`` is the conventional extension.
    overwrite : bool
        Replace an existing file (the command line's ``--force``).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    thetas = model.thetas
    dtypes = {str(theta.dtype) for theta in thetas}
    if len(dtypes) != 1 or not dtypes <= set(_FLOAT_DTYPES):
        raise ModelFileError(f"{path}: weights must all be float64 or all float32, got {dtypes}")
    for number, theta in enumerate(thetas, start=1):
        if not np.isfinite(theta).all():
            raise ModelFileError(f"{path}: refusing to save: theta_{number} has NaN or inf values")
    arrays = {f"theta_{number}": theta for number, theta in enumerate(thetas, start=1)}
    for column, values in model.history.items():
        values = np.asarray(values)
        if not isinstance(column, str) or values.ndim != 1 or values.dtype.kind not in "biuf":
            raise ModelFileError(
                f"{path}: history column {column!r} must be named by a string and be a 1-D "
                f"numeric array, got {values.dtype} of shape {values.shape}"
            )
        arrays[f"history_{column}"] = values
    metadata = {
        "format": _FORMAT,
        "format_version": 1 if model.output == "sigmoid" else 2,
        "digitnet_version": digitnet.__version__,
        "layer_sizes": model.layer_sizes,
        "activation": model.activation,
        "output": model.output,
        "labels": list(model.labels.classes),
        "image_shape": list(model.image_shape),
        "pixel_order": model.pixel_order,
        "dtype": dtypes.pop(),
        "history": list(model.history),
        "info": model.info,
    }
    try:
        text = json.dumps(metadata, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: model.info is not JSON-compatible: {exc}") from exc
    arrays["metadata"] = np.array(text)  # a 0-d unicode array: no pickle needed to read it

    def write(file: IO[bytes]) -> None:
        # A file object, not a name: np.savez would append ".npz" to a name lacking it.
        np.savez(file, **arrays)  # type: ignore[arg-type]  # (NumPy's stub fears allow_pickle=)

    return write_atomically(path, write, overwrite=overwrite, error=ModelFileError)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz, refusing pickles and explaining damaged or foreign files."""
    if not path.exists():
        raise ModelFileError(f"{path}: file not found")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file")
    if not zipfile.is_zipfile(path):
        # np.load would try to unpickle a non-zip file; say what it is instead.
        with path.open("rb") as file:
            start = file.read(4)
        if start == _ZIP_MAGIC:
            raise ModelFileError(f"{path}: truncated or corrupt model file (broken zip archive)")
        if start[:1] == _PICKLE_MAGIC:
            raise ModelFileError(
                f"{path}: is a Python pickle, which is refused: loading it could run code"
            )
        raise ModelFileError(f"{path}: not a digitnet model file (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # NumPy's wording for an array of Python objects
            raise ModelFileError(
                f"{path}: holds pickled (object) data, which is refused: loading it could run code"
            ) from exc
        raise ModelFileError(f"{path}: truncated or corrupt model file ({exc})") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ModelFileError(f"{path}: truncated or corrupt model file ({exc})") from exc
    for key, value in arrays.items():
        # NpzFile hands back the raw bytes of a zip member that is not an .npy file.
        if not isinstance(value, np.ndarray):
            raise ModelFileError(
                f"{path}: not a digitnet model file (member {key!r} is not an array)"
            )
    return arrays


def _read_metadata(arrays: dict[str, np.ndarray], path: Path) -> dict:
    text = arrays.get("metadata")
    if text is None:
        raise ModelFileError(f"{path}: not a digitnet model file (no metadata)")
    if text.ndim != 0 or text.dtype.kind != "U":
        raise ModelFileError(f"{path}: not a digitnet model file (metadata is not a string)")
    try:
        metadata = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"{path}: corrupt model file: metadata is not valid JSON ({exc})"
        ) from exc
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT:
        raise ModelFileError(
            f"{path}: not a digitnet model file (metadata format is not {_FORMAT!r})"
        )
    version = metadata.get("format_version")
    if type(version) is not int or version < 1:
        raise ModelFileError(f"{path}: corrupt model file: format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer digitnet ({metadata.get('digitnet_version', '?')}, model "
            f"format version {version}); this digitnet {digitnet.__version__} reads format version "
            f"{FORMAT_VERSION}. Upgrade digitnet to load it"
        )
    required = ("layer_sizes", "activation", "labels", "image_shape", "pixel_order", "dtype")
    missing = [key for key in (*required, "history", "info") if key not in metadata]
    if missing:
        raise ModelFileError(f"{path}: corrupt model file: metadata lacks {missing}")
    metadata.setdefault("output", "sigmoid")  # files from before softmax outputs: the course's
    for key, known in (("activation", settings.ACTIVATIONS), ("output", settings.OUTPUTS)):
        if metadata[key] not in known:
            raise ModelFileError(
                f"{path}: unsupported {key} {metadata[key]!r}; this digitnet knows "
                f"{', '.join(known)}"
            )
    if metadata["dtype"] not in _FLOAT_DTYPES:
        raise ModelFileError(f"{path}: corrupt model file: dtype {metadata['dtype']!r}")
    sizes = metadata["layer_sizes"]
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(type(s) is int and s > 0 for s in sizes)
    ):
        raise ModelFileError(f"{path}: corrupt model file: layer_sizes {sizes!r}")
    if not isinstance(metadata["history"], list) or not isinstance(metadata["info"], dict):
        raise ModelFileError(f"{path}: corrupt model file: history or info has the wrong type")
    return metadata


def load(path: str | Path) -> Model:
    """Load a model saved by :func:`save`.

    Parameters
    ----------
    path : str or Path
        A digitnet model file. It is read with ``allow_pickle=False``: no code runs.

    Returns
    -------
    Model
        Weights, labels, image layout and ``history`` exactly as saved; ``info`` as JSON gives
        it back (NumPy numbers become Python numbers, tuples become lists).

    Raises
    ------
    ModelFileError
        The file is missing, not a digitnet model, truncated or corrupt, holds pickled data,
        comes from a newer format version, or its arrays disagree with its metadata.
    """
    path = Path(path)
    arrays = _read_npz(path)
    metadata = _read_metadata(arrays, path)
    sizes = metadata["layer_sizes"]
    thetas = []
    for number, shape in enumerate(network.theta_shapes(sizes), start=1):
        theta = arrays.get(f"theta_{number}")
        if theta is None:
            raise ModelFileError(f"{path}: corrupt model file: theta_{number} is missing")
        if theta.shape != shape or theta.dtype != metadata["dtype"]:
            raise ModelFileError(
                f"{path}: corrupt model file: theta_{number} is {theta.dtype} {theta.shape}, but "
                f"layer sizes {sizes} and dtype {metadata['dtype']} need {shape}"
            )
        if not np.isfinite(theta).all():
            raise ModelFileError(
                f"{path}: corrupt model file: theta_{number} has NaN or inf values"
            )
        thetas.append(theta)
    history = {}
    for column in metadata["history"]:
        values = arrays.get(f"history_{column}")
        if values is None or values.ndim != 1 or values.dtype.kind not in "biuf":
            raise ModelFileError(
                f"{path}: corrupt model file: history column {column!r} is missing or not a "
                "1-D numeric array"
            )
        history[column] = values
    expected = {f"theta_{n}" for n in range(1, len(thetas) + 1)} | {"metadata"}
    expected |= {f"history_{column}" for column in history}
    unexpected = sorted(set(arrays) - expected)
    if unexpected:
        raise ModelFileError(f"{path}: corrupt model file: unexpected arrays {unexpected}")
    try:
        labels = LabelMap(metadata["labels"])
        return Model(
            thetas,
            labels,
            tuple(metadata["image_shape"]),
            metadata["pixel_order"],
            info=metadata["info"],
            history=history,
            activation=metadata["activation"],
            output=metadata["output"],
        )
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: corrupt model file: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# The course's Octave .mat weights


def import_octave(
    path: str | Path,
    *,
    labels: Sequence | LabelMap = COURSE_DIGITS,
    image_shape: tuple[int, int] | None = None,
    pixel_order: str = "F",
) -> Model:
    """Read the course's weights (``Theta1``, ``Theta2``, ...) from a ``.mat`` file as a model.

    Parameters
    ----------
    path : str or Path
        A ``.mat`` file like the course's ``ex4weights.mat``.
    labels : sequence or LabelMap
        The label of each output unit. The default fits the course: unit ``k`` is the digit
        ``(k + 1) % 10`` (the course's label ``k + 1``, with 10 meaning the digit 0).
    image_shape : (int, int), optional
        ``(height, width)`` of an input image; by default square when the number of inputs is
        (the course's 400: 20x20; 64: 8x8, as ``export_octave`` writes a model of scikit-learn's
        digits), else one row.
    pixel_order : {"F", "C"}
        How an image is unrolled into an input row; the course (Octave) unrolls column-major.

    Returns
    -------
    Model
        float64 weights; ``info`` records the file it came from.
    """
    path = Path(path)
    try:
        thetas = data.load_course_weights(path)
    except data.DataError as exc:
        raise ModelFileError(str(exc)) from exc
    if isinstance(labels, LabelMap):
        labels = labels.classes
    if image_shape is None:
        image_shape = data.default_image_shape(thetas[0].shape[1] - 1)
    try:
        return Model(
            thetas,
            LabelMap(labels),
            image_shape,
            pixel_order,
            info={"imported_from": path.name, "source_format": "octave-mat"},
        )
    except ValueError as exc:
        raise ModelFileError(f"{path}: weights do not fit the given layout: {exc}") from exc


def _course_unit_order(labels: LabelMap) -> np.ndarray | None:
    """Rows of Theta2 that put the digits in the course's unit order, or None for other labels.

    Digits are the numbers 0..9 however they are typed: ints, or floats such as 0.0..9.0 (labels
    read from a float array).
    """
    classes = labels.classes
    numbers = all(
        isinstance(c, (int, float)) and not isinstance(c, bool) and float(c).is_integer()
        for c in classes
    )
    if not numbers or sorted(int(c) for c in classes) != list(range(10)):
        return None
    unit_of_digit = {int(c): k for k, c in enumerate(classes)}
    return np.array([unit_of_digit[digit] for digit in COURSE_DIGITS])


def export_octave(model: Model, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a 2-layer model as ``Theta1``, ``Theta2`` in a ``.mat`` the course's Octave code loads.

    The file holds exactly what ``ex4weights.mat`` holds: two float64 matrices, nothing else. The
    weights are rearranged so that the course's own code (``predict.m`` on images unrolled
    column-major, labels 1..10) computes the same predictions as the model:

    - labels: if the model's labels are the digits 0..9 (ints, or floats 0.0..9.0), in any
      order, the rows of ``Theta2`` are permuted so output unit ``k`` is the digit
      ``(k + 1) % 10``, i.e. the course's label ``k + 1`` with 10 meaning 0. Any other label set (strings, the course's own 1..10, other
      classes) is written in the model's own unit order, so unit ``k`` means
      ``model.labels.classes[k]``.
    - pixels: if the model reads images unrolled row-major (``pixel_order == "C"``), the input
      columns of ``Theta1`` are permuted so the network reads them unrolled column-major.

    Read such a file back with ``import_octave(path, labels=COURSE_DIGITS, pixel_order="F",
    image_shape=model.image_shape)`` (digit models), or with ``labels=model.labels`` otherwise.

    Parameters
    ----------
    model : Model
        A model with exactly two weight matrices (one hidden layer), sigmoid hidden units and
        sigmoid outputs, like the course's, that knows its pixel order (any other is refused:
        ``predict.m`` would misread it).
    path : str or Path
        Where to write, used as given (``scipy.io.savemat`` would append ``.mat`` to a bare name).
    overwrite : bool
        Replace an existing file (the command line's ``--force``).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    if model.activation != "sigmoid" or model.output != "sigmoid":
        raise ModelFileError(
            f"{path}: the course's Octave code runs sigmoid units with sigmoid outputs; this model "
            f"has {model.activation} hidden units and a {model.output} output"
        )
    if len(model.thetas) != 2:
        raise ModelFileError(
            f"{path}: the course's Octave code reads exactly Theta1 and Theta2; this model has "
            f"{len(model.thetas)} weight matrices (layer sizes {model.layer_sizes})"
        )
    if model.pixel_order is None:
        # predict.m reads images unrolled column-major; a guess could misread every pixel.
        raise ModelFileError(f"{path}: not written: {UNKNOWN_LAYOUT}")
    theta1, theta2 = (np.array(theta, dtype=np.float64) for theta in model.thetas)
    if model.pixel_order == "C":
        # Column-major position j holds the pixel that row-major unrolling puts at index
        # order[j], so that pixel's weights move to column j (after the bias column 0).
        order = np.arange(theta1.shape[1] - 1).reshape(model.image_shape).ravel(order="F")
        theta1 = np.column_stack([theta1[:, 0], theta1[:, 1:][:, order]])
    rows = _course_unit_order(model.labels)
    if rows is not None:
        theta2 = theta2[rows]

    import scipy.io  # only the Octave export needs it: a quarter second of start-up

    def write(file: IO[bytes]) -> None:
        scipy.io.savemat(file, {"Theta1": theta1, "Theta2": theta2})

    return write_atomically(path, write, overwrite=overwrite, error=ModelFileError)
