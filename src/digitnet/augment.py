"""Augmentation: small random distortions of the training images, drawn anew every epoch.

A handwritten digit stays the same digit when it is turned a few degrees, written a little larger or
smaller, or placed a little off-centre. Showing the network such variants of its training digits is
the cheapest way to a network that reads digits it never saw (with 5000 MNIST training digits this
is worth about a point of test accuracy, see ``digitnet recipes``).

Each distortion is an affine map of the *upright* image about its centre: rotation by ``angle``,
scaling by ``scale``, then a shift of ``shift`` pixels. It is applied to the image the row encodes,
whatever the row's pixel order (``"C"`` row-major, ``"F"`` column-major), and the result is unrolled
in the same order, so an augmented row means to the network what any other row means. Pixels are
resampled bilinearly (``scipy.ndimage.map_coordinates``, ``order=1``); what comes in from outside
the image is 0, the background of every digit data set here (``mode="grid-constant"``, so a
half-pixel shift blends the edge pixels with that background instead of cutting them off).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from digitnet.data import upright_images

__all__ = ["affine", "random_affine"]

# The distortions the recipes use: +-12 degrees, +-10 % size, +-10 % of the side in each direction.
ROTATION = 12.0
SCALE = 0.1
SHIFT = 0.1


def affine(
    X: np.ndarray,
    image_shape: tuple[int, int],
    pixel_order: str,
    angle: np.ndarray,
    scale: np.ndarray,
    shift: np.ndarray,
) -> np.ndarray:
    """Rotate, scale and shift each image, one transform per row.

    Parameters
    ----------
    X : (m, h * w) images, one per row, unrolled in ``pixel_order``.
    image_shape : (h, w) of one upright image.
    pixel_order : ``"C"`` (row-major) or ``"F"`` (column-major).
    angle : (m,) counter-clockwise rotation of the upright image, in radians.
    scale : (m,) size factor (1 keeps the size).
    shift : (m, 2) displacement (down, right) in pixels, after rotation and scaling.

    Returns
    -------
    (m, h * w) transformed images in the dtype and pixel order of ``X``.
    """
    images = upright_images(X, image_shape, pixel_order)
    m, h, w = images.shape
    angle, scale = np.broadcast_to(angle, (m,)), np.broadcast_to(scale, (m,))
    shift = np.broadcast_to(shift, (m, 2))
    # Inverse map: output pixel p = (row, col) comes from R(-angle) (p - centre - shift) / scale +
    # centre. Rows grow downwards, which flips the sign of sin against the textbook's (x, y) form.
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    cr, cc = (h - 1) / 2, (w - 1) / 2
    dr = rows[None] - cr - shift[:, 0, None, None]  # (m, h, w)
    dc = cols[None] - cc - shift[:, 1, None, None]
    cos = (np.cos(angle) / scale)[:, None, None]
    sin = (np.sin(angle) / scale)[:, None, None]
    source = np.empty((3, m, h, w))
    source[0] = np.arange(m)[:, None, None]  # each output image samples its own input image only
    source[1] = cos * dr + sin * dc + cr
    source[2] = cos * dc - sin * dr + cc
    out = scipy.ndimage.map_coordinates(
        np.ascontiguousarray(images),
        source,
        order=1,
        mode="grid-constant",
        cval=0.0,
        output=X.dtype,
    )
    # Back to rows in the caller's pixel order: (m, h, w) -> row-major or column-major unrolling.
    return out.reshape(m, h * w) if pixel_order == "C" else out.transpose(0, 2, 1).reshape(m, h * w)


def random_affine(
    X: np.ndarray,
    image_shape: tuple[int, int],
    pixel_order: str,
    rng: np.random.Generator,
    *,
    rotation: float = ROTATION,
    scale: float = SCALE,
    shift: float = SHIFT,
) -> np.ndarray:
    """Each image distorted by its own random rotation, scale and shift (see :func:`affine`).

    Parameters
    ----------
    X : (m, h * w) images, one per row, unrolled in ``pixel_order``.
    image_shape : (h, w) of one upright image.
    pixel_order : ``"C"`` or ``"F"``.
    rng : the seeded generator the draws come from (training passes its own, so runs repeat).
    rotation : largest rotation, in degrees either way.
    scale : largest relative change of size either way (0.1: 90 % to 110 %).
    shift : largest shift either way, as a fraction of the image's height and width.

    Returns
    -------
    (m, h * w) distorted images in the dtype and pixel order of ``X``.
    """
    m = len(X)
    h, w = image_shape
    angle = np.deg2rad(rng.uniform(-rotation, rotation, m))
    factor = 1 + rng.uniform(-scale, scale, m)
    offset = rng.uniform(-shift, shift, (m, 2)) * (h, w)
    return affine(X, image_shape, pixel_order, angle, factor, offset)
