"""augment: affine distortions of upright images, checked against NumPy's exact rotations and shifts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitnet.augment import affine, random_affine


def _rows(images: np.ndarray, pixel_order: str) -> np.ndarray:
    """(m, h, w) upright images -> rows unrolled in ``pixel_order``."""
    m = len(images)
    return images.reshape(m, -1) if pixel_order == "C" else images.transpose(0, 2, 1).reshape(m, -1)


@pytest.fixture
def letter_f() -> np.ndarray:
    """One 7x5 "F": no rotation or mirror of it equals itself, so a flip or a turn shows."""
    image = np.zeros((7, 5))
    image[1:6, 1] = 1.0  # the stem
    image[1, 1:4] = 1.0  # the top bar
    image[3, 1:3] = 0.5  # the middle bar
    return image[None]


@pytest.mark.parametrize("order", ["C", "F"])
def test_identity_returns_the_image(letter_f, order) -> None:
    X = _rows(letter_f, order)
    out = affine(X, (7, 5), order, np.zeros(1), np.ones(1), np.zeros((1, 2)))
    np.testing.assert_array_equal(out, X)


@pytest.mark.parametrize("order", ["C", "F"])
def test_quarter_turn_is_numpys_rot90(order) -> None:
    rng = np.random.default_rng(0)
    images = rng.random((3, 9, 9))  # square, so a quarter turn keeps every pixel inside
    out = affine(
        _rows(images, order), (9, 9), order, np.full(3, np.pi / 2), np.ones(3), np.zeros((3, 2))
    )
    # np.rot90 turns counter-clockwise as the array is displayed (row 0 on top).
    np.testing.assert_allclose(out, _rows(np.rot90(images, axes=(1, 2)), order), atol=1e-12)


@pytest.mark.parametrize("order", ["C", "F"])
def test_whole_pixel_shift_moves_down_and_right(letter_f, order) -> None:
    out = affine(
        _rows(letter_f, order), (7, 5), order, np.zeros(1), np.ones(1), np.array([[1.0, 1.0]])
    )
    expected = np.zeros_like(letter_f)
    expected[:, 1:, 1:] = letter_f[:, :-1, :-1]  # what enters from outside is background (0)
    np.testing.assert_array_equal(out, _rows(expected, order))


def test_scaling_up_spreads_a_centred_square() -> None:
    image = np.zeros((1, 9, 9))
    image[0, 3:6, 3:6] = 1.0  # a 3x3 square around the centre pixel (4, 4)
    out = affine(_rows(image, "C"), (9, 9), "C", np.zeros(1), np.full(1, 2.0), np.zeros((1, 2)))
    grown = out.reshape(9, 9)
    # Twice the size: source offsets are halved, so offsets up to 2 read inside the square.
    np.testing.assert_array_equal(grown[2:7, 2:7], 1.0)
    assert grown[0].sum() == 0 and grown[:, 0].sum() == 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(3, 12), w=st.integers(3, 12))
def test_same_distortion_in_either_pixel_order(seed, h, w) -> None:
    images = np.random.default_rng(seed).random((4, h, w))
    by_order = {}
    for order in ("C", "F"):
        out = random_affine(_rows(images, order), (h, w), order, np.random.default_rng(seed))
        # Back to upright images: the same picture whichever order carried it.
        by_order[order] = (
            out.reshape(4, h, w) if order == "C" else out.reshape(4, w, h).transpose(0, 2, 1)
        )
    np.testing.assert_array_equal(by_order["C"], by_order["F"])


def test_random_affine_is_seeded_and_keeps_dtype() -> None:
    X = np.random.default_rng(1).random((5, 64)).astype(np.float32)
    a = random_affine(X, (8, 8), "C", np.random.default_rng(7))
    b = random_affine(X, (8, 8), "C", np.random.default_rng(7))
    c = random_affine(X, (8, 8), "C", np.random.default_rng(8))
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_half_pixel_shift_blends_with_the_background(letter_f) -> None:
    out = affine(_rows(letter_f, "C"), (7, 5), "C", np.zeros(1), np.ones(1), np.array([[0.0, 0.5]]))
    padded = np.pad(letter_f, ((0, 0), (0, 0), (1, 0)))  # a background column left of the image
    expected = 0.5 * padded[:, :, 1:] + 0.5 * padded[:, :, :-1]  # bilinear, half way
    np.testing.assert_allclose(out, _rows(expected, "C"), atol=1e-15)
