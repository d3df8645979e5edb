"""A photo, scan or drawing of one digit -> the input row a model reads.

One chain serves image files, ``.npy`` files and raw pixel arrays (the web page)::

    read_image(path)        file -> (h, w) gray in [0, 1]
    to_mnist(image)         any (h, w) gray -> (28, 28) laid out the way MNIST was made
    to_model_input(...)     (28, 28) -> (n,) in the model's own image size and pixel order
    prepare(image, model)   to_mnist + to_model_input
    prepare_file(path, model)

``to_mnist`` repeats what LeCun et al. did to make MNIST: ink bright on black, the digit scaled to
fit a 20x20 box keeping its aspect ratio, anti-aliased, then placed in a 28x28 field with its
centre of mass at pixel (14, 14). A raw MNIST digit passes through it unchanged, up to that
centring. ``to_model_input`` then makes the picture the model was trained on: the course's 20x20
images are MNIST resampled whole (``scipy.ndimage.zoom(image, 20 / 28, order=3)``, see
``shared/data/README.md``), scikit-learn's 8x8 digits fill their frame.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from digitnet.data import upright_images
from digitnet.model import UNKNOWN_LAYOUT, Model

__all__ = [
    "MAX_PIXELS",
    "ImageError",
    "LayoutError",
    "as_model_rows",
    "describe_layout",
    "prepare",
    "prepare_file",
    "read_image",
    "to_mnist",
    "to_model_input",
]

MAX_PIXELS = 50_000_000
"""Largest image read (pixels): above any phone camera, far below what would exhaust memory."""

_WORKING_SIZE = 2048  # larger images are shrunk first: a digit ends up 20 pixels tall anyway
_MNIST_SIZE = 28  # the MNIST field
_MNIST_BOX = 20  # the box the digit is scaled to fit in
_MNIST_CENTRE = 14.0  # where MNIST puts the centre of mass (row, column), measured on MNIST
_SMALL_FRAME = 16  # frames smaller than this hold a digit that fills them (scikit-learn's 8x8)
_MIN_CONTRAST = 0.05  # ink must stand out from the background by ~13 of 255 gray levels
# After the background is 0 and the brightest ink 1: the ink is the connected strokes brighter
# than _FAINT_LEVEL that hold a pixel brighter than _INK_LEVEL. Below 0.05 lie JPEG ringing and
# paper grain, and the faintest edge pixels of MNIST's own digits.
_FAINT_LEVEL = 0.05
_INK_LEVEL = 0.2
# A stroke holding less than this share of the largest stroke's ink is a speck (dust, a dot of
# grain) and is left out: kept, it would stretch the crop from the digit to itself.
_MIN_STROKE_SHARE = 0.05
_LANCZOS = getattr(Image, "Resampling", Image).LANCZOS  # Image.Resampling is Pillow >= 9.1
_BOX = getattr(Image, "Resampling", Image).BOX


class ImageError(ValueError):
    """An image is missing, unreadable, too large, or shows no digit; the message says which."""


# ---------------------------------------------------------------------------------------------
# File -> gray array


def read_image(
    source: str | Path | bytes, *, max_side: int | None = None, formats: list[str] | None = None
) -> np.ndarray:
    """Read an image file (or the bytes of one) as grayscale.

    Parameters
    ----------
    source : str, Path or bytes
        A file, or its content (an upload), in any format Pillow reads (PNG, JPEG, GIF, BMP, TIFF,
        WebP, ...). Transparent parts are taken as white paper; a camera's EXIF orientation is
        applied; images with more than 2048 pixels on a side are shrunk to 2048 first.
    max_side : refuse images wider or taller than this, judged from the header before decoding.
    formats : accept only these Pillow formats (e.g. ``["PNG"]``).

    Returns
    -------
    np.ndarray
        (h, w) float64 in [0, 1], 0 black, 1 white.
    """
    file: io.BytesIO | Path
    if isinstance(source, bytes):
        name, file = "the uploaded image", io.BytesIO(source)
    else:
        file = Path(source)
        name = str(file)
        if not file.is_file():
            raise ImageError(f"{name}: {'not a file' if file.exists() else 'file not found'}")
    try:
        image = Image.open(file, formats=formats)  # reads the header only: size before decoding
    except UnidentifiedImageError as exc:
        what = "an image" if formats is None else "a " + "/".join(formats) + " image"
        raise ImageError(f"{name}: not {what} (or a format Pillow cannot read)") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: image too large ({exc})") from exc
    except OSError as exc:
        raise ImageError(f"{name}: cannot read file: {exc}") from exc
    with image:
        width, height = image.size
        if width == 0 or height == 0:
            raise ImageError(f"{name}: empty image ({width}x{height} pixels)")
        if width * height > MAX_PIXELS or max(width, height) > (max_side or math.inf):
            limit = f"{max_side}x{max_side}" if max_side else f"{MAX_PIXELS} pixels"
            raise ImageError(
                f"{name}: image too large: {width}x{height} pixels, the limit is {limit}"
            )
        try:
            gray = _gray(ImageOps.exif_transpose(image))
            gray.thumbnail((_WORKING_SIZE, _WORKING_SIZE), _LANCZOS)
        except (OSError, SyntaxError, ValueError) as exc:  # Pillow's errors for a damaged file
            raise ImageError(f"{name}: cannot decode image (truncated or corrupt?): {exc}") from exc
    return np.clip(np.asarray(gray, dtype=np.float64) / _full_scale(gray), 0, 1)


def _gray(image: Image.Image) -> Image.Image:
    """Grayscale Pillow image ("L", or "I;16"/"I"/"F" kept at full precision)."""
    if image.mode.startswith(("I", "F")):
        # 16-bit scans: convert("L") would clip every value above 255 to white.
        return image if image.mode in ("I", "F") else image.convert("I")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, _sheet(rgba)), rgba)
    return image.convert("L")


def _sheet(rgba: Image.Image) -> str:
    """The color to lay a transparent image on. Drawings exported from a canvas are strokes on a
    transparent sheet, dark or light: under mostly transparent pixels, black under light strokes,
    else white; under a mostly opaque picture (a scan with a transparent margin), white paper.
    Light strokes are light through and through, while dark ones keep a dark core inside light
    edges (anti-aliasing, a white background made transparent), which can outnumber it: so the
    darkest tenth of the visible pixels decides, not their mean."""
    alpha = np.asarray(rgba.getchannel("A"))
    if alpha.mean() >= 127.5 or not alpha.any():
        return "white"
    visible = np.asarray(rgba.convert("L"))[alpha > 0]
    return "black" if np.percentile(visible, 10) > 127.5 else "white"


def _full_scale(image: Image.Image) -> float:
    """The value of white in ``image``'s mode."""
    return {"I": 65535.0, "F": 1.0}.get(image.mode, 255.0)


# ---------------------------------------------------------------------------------------------
# Any gray image -> MNIST layout


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image / 255
    if image.ndim != 2 or image.size == 0:
        raise ImageError(f"an image must be a non-empty 2-D array, got shape {image.shape}")
    if image.dtype.kind not in "biuf":
        raise ImageError(f"image pixels must be numbers, got dtype {image.dtype}")
    image = image.astype(np.float64)
    if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ImageError(
            "image pixels must lie in [0, 1] (divide 8-bit values by 255), "
            f"got values in [{image.min()}, {image.max()}]"
        )
    return image


def _border_width(image: np.ndarray) -> int:
    """A frame ~5% wide around the image, where only paper should be."""
    return max(1, min(image.shape) // 20)


def _border(image: np.ndarray) -> np.ndarray:
    """The pixels of the frame of :func:`_border_width`."""
    k = _border_width(image)
    inner = np.ones(image.shape, dtype=bool)
    inner[:k, :] = inner[-k:, :] = inner[:, :k] = inner[:, -k:] = False
    return image[~inner]


def _paper(image: np.ndarray) -> np.ndarray:
    """The paper's level under uneven light: a plane through the medians of the four edges.

    Medians, so that ink touching an edge does not tilt the plane; 0 for a clean black background.
    """
    k = _border_width(image)
    top, bottom = np.median(image[:k]), np.median(image[-k:])
    left, right = np.median(image[:, :k]), np.median(image[:, -k:])
    rows = np.linspace(top, bottom, image.shape[0])[:, None]
    cols = np.linspace(left, right, image.shape[1])[None, :]
    return rows + cols - (top + bottom + left + right) / 4


def to_mnist(image: np.ndarray, *, invert: bool | None = None, clean: bool = False) -> np.ndarray:
    """Lay out a picture of one digit the way MNIST's digits are.

    Parameters
    ----------
    image : np.ndarray
        (h, w) grayscale in [0, 1] (uint8 is divided by 255), any size, either polarity.
    invert : bool or None
        True if the ink is darker than the paper. None decides from the border: a background
        brighter than halfway between the image's darkest and brightest value means dark ink.
    clean : bool
        The background is exactly 0 once ink is bright: a drawing pad's black, a data set's
        rows. Without it the paper's level is estimated from the border, as a photo needs, and
        a digit drawn large enough to touch the edges would pass for paper.

    Returns
    -------
    np.ndarray
        (28, 28) float64 in [0, 1]: ink bright (up to 1) on black (0), the digit fit into a
        20x20 box keeping its aspect ratio, its centre of mass at pixel (14, 14).
    """
    image = _check_image(image)
    if invert is None:
        # Most of the border is paper; ink is what differs from it most.
        invert = np.median(_border(image)) > (image.min() + image.max()) / 2
    if invert:
        image = 1 - image

    # Paper -> 0 and the brightest ink -> 1. Paper in a photo is unevenly lit, gray and grainy:
    # the zero level is the paper's plane plus 3 robust standard deviations of what is left on
    # the border (both are 0 for a clean image).
    floor = 0.0
    if not clean:
        image = image - _paper(image)
        border = _border(image)
        background = np.median(border)
        floor = background + 3 * 1.4826 * np.median(np.abs(border - background))
    peak = image.max()
    if peak - floor < _MIN_CONTRAST:
        raise ImageError("no ink: the image is blank (nothing stands out from the background)")
    image = np.clip((image - floor) / (peak - floor), 0, 1)

    # Crop to the ink: the connected strokes that hold some clearly inked pixel, plus the one
    # pixel of faint anti-aliased edge around them (as MNIST's digits have), but not grain,
    # compression ringing or faint smudges further away.
    strokes, _ = ndimage.label(image > _FAINT_LEVEL, structure=np.ones((3, 3)))
    clear = np.unique(strokes[image > _INK_LEVEL])
    clear = clear[clear > 0]
    mass = ndimage.sum(image, strokes, clear)
    ink = np.isin(strokes, clear[mass >= _MIN_STROKE_SHARE * mass.max()])
    ink = ndimage.binary_dilation(ink, np.ones((3, 3))) & (image > 0)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    box = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    # Fit into 20x20 keeping the aspect ratio. Lanczos widens its kernel when shrinking, so a
    # large photo is averaged (anti-aliased) rather than sampled.
    digit = _resize(box, _fit(box.shape, (_MNIST_BOX, _MNIST_BOX)), _LANCZOS)
    digit = np.clip(digit, 0, 1)  # Lanczos rings a little past the input range
    digit /= digit.max()  # thin strokes fade when shrunk; MNIST's ink reaches full white

    # Place in 28x28 with the centre of mass at (14, 14), by a whole-pixel shift as MNIST did
    # (its digits' centres of mass all lie within half a pixel of (14, 14)).
    centre = np.array(ndimage.center_of_mass(digit))
    top, left = np.round(_MNIST_CENTRE - centre).astype(int)
    top = int(np.clip(top, 0, _MNIST_SIZE - digit.shape[0]))
    left = int(np.clip(left, 0, _MNIST_SIZE - digit.shape[1]))
    mnist = np.zeros((_MNIST_SIZE, _MNIST_SIZE))
    mnist[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return mnist


def _fit(shape: tuple[int, int], frame: tuple[int, int]) -> tuple[int, int]:
    """The largest (h, w) with the aspect ratio of ``shape`` that fits in ``frame``."""
    scale = min(frame[0] / shape[0], frame[1] / shape[1])
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _resize(image: np.ndarray, shape: tuple[int, int], resample: int) -> np.ndarray:
    if image.shape == shape:
        return image.copy()
    pil = Image.fromarray(image.astype(np.float32))  # mode "F": resized without 8-bit rounding
    return np.asarray(pil.resize(shape[::-1], resample), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# MNIST layout -> the model's input


def to_model_input(
    mnist28: np.ndarray, image_shape: tuple[int, int], pixel_order: str | None
) -> np.ndarray:
    """Turn an MNIST-style (28, 28) digit into one input row in a model's own layout.

    Parameters
    ----------
    mnist28 : np.ndarray
        (28, 28) from :func:`to_mnist`.
    image_shape : (int, int)
        The model's ``(height, width)``. 28x28 is MNIST itself (IDX files, Fashion-MNIST).
        Frames from 16 pixels up are MNIST resampled whole with a cubic spline, the recipe of
        the course's 20x20 digits. Smaller frames, like scikit-learn's 8x8 digits, hold the
        digit filling the frame; it is fit to the frame, centred, and area-averaged, as the 8x8
        counts of 4x4 pixel blocks were made.
    pixel_order : {"C", "F"} or None
        Unroll row-major or column-major (the course's ``.mat`` files); None (a model that does
        not know its layout) is an ImageError.

    Returns
    -------
    np.ndarray
        (height * width,) float64.
    """
    mnist28 = np.asarray(mnist28, dtype=np.float64)
    if mnist28.shape != (_MNIST_SIZE, _MNIST_SIZE):
        raise ImageError(f"expected a (28, 28) MNIST-style image, got shape {mnist28.shape}")
    if pixel_order is None:
        raise ImageError(UNKNOWN_LAYOUT)
    if pixel_order not in ("C", "F"):
        raise ValueError(f"pixel_order must be 'C' or 'F', got {pixel_order!r}")
    shape = (int(image_shape[0]), int(image_shape[1]))
    if shape == (_MNIST_SIZE, _MNIST_SIZE):
        image = mnist28
    elif min(shape) >= _SMALL_FRAME:
        # Values overshoot [0, 1] a little, like the course's training data: kept as they are.
        image = ndimage.zoom(mnist28, (shape[0] / _MNIST_SIZE, shape[1] / _MNIST_SIZE), order=3)
    else:
        image = _fill_frame(mnist28, shape)
    return image.ravel(order="F" if pixel_order == "F" else "C")


def _fill_frame(mnist28: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    rows = np.flatnonzero(mnist28.any(axis=1))
    cols = np.flatnonzero(mnist28.any(axis=0))
    box = mnist28[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    # Pad to the frame's aspect ratio around the centre, then average down to the frame.
    height = max(box.shape[0], round(box.shape[1] * shape[0] / shape[1]))
    width = max(box.shape[1], round(box.shape[0] * shape[1] / shape[0]))
    padded = np.zeros((height, width))
    top, left = (height - box.shape[0]) // 2, (width - box.shape[1]) // 2
    padded[top : top + box.shape[0], left : left + box.shape[1]] = box
    return np.clip(_resize(padded, shape, _BOX), 0, 1)


# ---------------------------------------------------------------------------------------------
# The whole pipeline


def prepare(
    image: np.ndarray, model: Model, *, invert: bool | None = None, clean: bool = False
) -> np.ndarray:
    """Turn a picture of one digit into the input row ``model`` reads.

    Parameters
    ----------
    image : np.ndarray
        (h, w) grayscale in [0, 1] (uint8 is divided by 255), any size; e.g. the web page's
        ``np.reshape(pixels, (height, width))``.
    model : Model
        Supplies ``image_shape`` and ``pixel_order``.
    invert, clean : bool or None, bool
        See :func:`to_mnist`; pass ``invert=False, clean=True`` for images known to be
        ink-bright on black like MNIST's.

    Returns
    -------
    np.ndarray
        (n,) float64, ready for ``model.predict_proba(row[None, :])``.
    """
    mnist = to_mnist(image, invert=invert, clean=clean)
    return to_model_input(mnist, model.image_shape, model.pixel_order)


class LayoutError(ValueError):
    """Rows of a data set cannot be laid out as a model reads them without resizing."""


def describe_layout(image_shape: tuple[int, int], pixel_order: str | None) -> str:
    """``"20x20 images unrolled column-major"`` and the like, for messages."""
    how = {"C": "row-major", "F": "column-major", None: "in an unknown order"}[pixel_order]
    return f"{image_shape[0]}x{image_shape[1]} images unrolled {how}"


def as_model_rows(
    X: np.ndarray,
    image_shape: tuple[int, int],
    pixel_order: str,
    model: Model,
    *,
    resize: bool = False,
) -> np.ndarray:
    """Rows of a data set, laid out as ``model`` reads them: its image shape and pixel order.

    The one place where a model meets rows of images (``evaluate``, ``report``, ``show``, the web
    page, resuming training): rows in the model's layout come back as they are, rows in the other
    pixel order are reordered, and images of another size are refused, or with ``resize`` go
    through :func:`prepare` one by one, as ``digitnet predict`` reads a picture (ink bright, values
    clipped to [0, 1]). A model that does not record its pixel order takes rows of its input
    size as they are.

    Parameters
    ----------
    X : (m, h * w) rows, each an image of ``image_shape`` unrolled in ``pixel_order``.
    image_shape, pixel_order : the rows' layout (``Dataset.image_shape``, ``.pixel_order``).
    model : the model the rows are for.
    resize : resize images of another size instead of refusing them.

    Returns
    -------
    np.ndarray
        ``(m, n)`` rows for ``model``; ``X`` itself when it already fits.

    Raises
    ------
    LayoutError
        The images have another size (and not ``resize``), or the model's layout is unknown and
        the row length differs; the message names both layouts.
    """
    X = np.asarray(X)
    shape, model_shape = (int(image_shape[0]), int(image_shape[1])), model.image_shape
    if model.pixel_order is None and X.shape[1] == model.layer_sizes[0]:
        return X
    if shape == model_shape and model.pixel_order is not None:
        if pixel_order == model.pixel_order:
            return X
        images = upright_images(X, shape, pixel_order)  # (m, h, w)
        if model.pixel_order == "F":
            images = images.transpose(0, 2, 1)  # each row then holds the image's columns
        return np.ascontiguousarray(images).reshape(len(X), -1)
    if not resize or model.pixel_order is None:
        raise LayoutError(
            f"the data holds {describe_layout(shape, pixel_order)}, but the model reads "
            f"{describe_layout(model_shape, model.pixel_order)}"
        )
    rows = []
    for number, image in enumerate(upright_images(X, shape, pixel_order)):
        try:
            rows.append(prepare(np.clip(image, 0, 1), model, invert=False, clean=True))
        except ImageError as err:
            raise ImageError(f"row {number} of the data: {err}") from err
    return np.array(rows, dtype=X.dtype)


def prepare_file(path: str | Path, model: Model, *, invert: bool | None = None) -> np.ndarray:
    """Read a file and turn it into one input row for ``model``.

    Parameters
    ----------
    path : str or Path
        An image file (see :func:`read_image`), or a ``.npy`` array holding either one input
        row as it is (``(n,)`` or ``(1, n)``, ``n`` the model's input size, e.g. a row of a data
        set) or one ``(h, w)`` image, which goes through :func:`prepare` (uint8 is divided by
        255, floats must lie in [0, 1]).
    model : Model
        The model the input is for.
    invert : bool or None
        See :func:`to_mnist`.

    Returns
    -------
    np.ndarray
        (n,) float64.
    """
    path = Path(path)
    try:
        if path.suffix.lower() != ".npy":
            return prepare(read_image(path), model, invert=invert)
        array = _read_npy(path)
        n = model.layer_sizes[0]
        if array.shape in ((n,), (1, n)):
            return array.reshape(n).astype(np.float64)
        if array.ndim == 2 and array.shape[1] == n:
            # An (h, n) image is possible but a stack of rows is far likelier: say so, not guess.
            raise ImageError(
                f"holds {len(array)} rows of {n} inputs; give one row or one image per file"
            )
        if array.ndim != 2:
            raise ImageError(
                f"expected one row of {n} inputs or one (h, w) image, got shape {array.shape}"
            )
        return prepare(array, model, invert=invert)
    except ImageError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ImageError(f"{path}: {exc}") from exc


def _read_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ImageError(f"{path}: {'not a file' if path.exists() else 'file not found'}")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # NumPy's wording for an array of Python objects
            raise ImageError(f"{path}: holds pickled data, which is refused") from exc
        raise ImageError(f"{path}: not a readable .npy file ({exc})") from exc
    except (OSError, EOFError) as exc:
        raise ImageError(f"{path}: not a readable .npy file ({exc})") from exc
    if not isinstance(array, np.ndarray):  # np.load returns an NpzFile for a zip archive
        array.close()
        raise ImageError(f"{path}: an .npz archive, not a single .npy array")
    if array.dtype.kind not in "biuf" or not np.isfinite(array).all():
        raise ImageError(f"{path}: values must be finite numbers, got dtype {array.dtype}")
    return array
