"""Preprocessing: real MNIST digits as PNG/JPEG files of other sizes and polarities, rendered text,
raw MNIST arrays against the README's recipe, and refused inputs."""

from __future__ import annotations

import gzip
import pickle

import matplotlib
import numpy as np
import pytest
from conftest import shared_file
from PIL import Image
from scipy import ndimage

from digitnet import model_io, network, preprocess
from digitnet.labels import LabelMap
from digitnet.model import Model
from digitnet.preprocess import ImageError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the file-only backend

N_DIGITS = 100


def read_gzip_idx(name: str, offset: int) -> np.ndarray:
    with gzip.open(shared_file(f"mnist-8k/{name}")) as file:
        return np.frombuffer(file.read(), np.uint8, offset=offset)


@pytest.fixture(scope="module")
def mnist_test():
    """100 held-out MNIST digits drawn at random: (100, 28, 28) uint8 and (100,) labels 0..9.

    At random because the file is grouped by class (it starts with 33 ones).
    """
    images = read_gzip_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = read_gzip_idx("t10k-labels-idx1-ubyte.gz", 8)
    rows = np.sort(np.random.default_rng(0).choice(len(labels), N_DIGITS, replace=False))
    assert set(labels[rows]) == set(range(10))
    return images[rows], labels[rows]


@pytest.fixture(scope="module")
def course_model() -> Model:
    """The course's pre-trained 20x20 column-major network, digits 0..9."""
    return model_io.import_octave(shared_file("ex4weights.mat"))


def readme_recipe(image: np.ndarray) -> np.ndarray:
    """How shared/data/README.md made the course's 20x20 rows from 28x28 MNIST digits."""
    return ndimage.zoom(image / 255, 20 / 28, order=3).ravel(order="F")


def on_paper(image: np.ndarray, size: tuple[int, int], dark_ink: bool) -> Image.Image:
    """A 28x28 MNIST digit as a (height, width) scan: scaled evenly, centred on a larger sheet."""
    height, width = size
    side = min(height, width)
    digit = np.asarray(Image.fromarray(image).resize((side, side), Image.BICUBIC))
    sheet = np.zeros((height, width), np.uint8)
    top, left = (height - side) // 2, (width - side) // 3
    sheet[top : top + side, left : left + side] = digit
    return Image.fromarray(255 - sheet if dark_ink else sheet)


def render_text(text: str, path, dark_ink: bool = True) -> None:
    """Draw a character with matplotlib's bundled DejaVu Sans, as a typed digit would look."""
    paper, ink = ("white", "black") if dark_ink else ("black", "white")
    fig = plt.figure(figsize=(3, 4), dpi=50, facecolor=paper)
    fig.text(
        0.4, 0.6, text, ha="center", va="center", fontsize=120, color=ink, family="DejaVu Sans"
    )
    fig.savefig(path, facecolor=paper)
    plt.close(fig)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    return np.array(ndimage.center_of_mass(image))


# --- real digits read from files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "suffix"), [((140, 100), ".png"), ((57, 57), ".png"), ((300, 240), ".jpg")]
)
@pytest.mark.parametrize("dark_ink", [True, False], ids=["dark-on-light", "light-on-dark"])
def test_digit_files_of_any_size_and_polarity_are_read(
    mnist_test, course_model, tmp_path, size, suffix, dark_ink
):
    images, labels = mnist_test
    rows = []
    for k, image in enumerate(images):
        path = tmp_path / f"digit{k}{suffix}"
        on_paper(image, size, dark_ink).save(path)
        rows.append(preprocess.prepare_file(path, course_model))
    rows = np.array(rows)
    assert rows.shape == (N_DIGITS, 400)
    # The weights read 94% of these digits right as arrays (README recipe); as files, 91-93%.
    assert np.mean(course_model.predict(rows) == labels) >= 0.85


def test_both_polarities_give_the_same_input(mnist_test, course_model, tmp_path):
    image = mnist_test[0][3]
    dark, light = tmp_path / "dark.png", tmp_path / "light.png"
    on_paper(image, (90, 70), dark_ink=True).save(dark)
    on_paper(image, (90, 70), dark_ink=False).save(light)
    np.testing.assert_allclose(
        preprocess.prepare_file(dark, course_model),
        preprocess.prepare_file(light, course_model),
        atol=1e-9,
    )


def test_transparent_and_16_bit_images_read_like_plain_ones(mnist_test, tmp_path):
    image = mnist_test[0][0]
    expected = preprocess.read_image(_save(on_paper(image, (60, 60), True), tmp_path / "a.png"))
    # Black ink whose opacity is the digit, on a fully transparent sheet, as canvases export.
    strokes = np.asarray(on_paper(image, (60, 60), dark_ink=False))
    la = Image.merge("LA", [Image.new("L", (60, 60), 0), Image.fromarray(strokes)])
    transparent = preprocess.read_image(_save(la, tmp_path / "b.png"))
    np.testing.assert_allclose(transparent, expected, atol=1 / 255)
    # White strokes the same way: laid on black, the light-ink picture of the same digit.
    light = preprocess.read_image(_save(on_paper(image, (60, 60), False), tmp_path / "l.png"))
    white = Image.merge("LA", [Image.new("L", (60, 60), 255), Image.fromarray(strokes)])
    np.testing.assert_allclose(
        preprocess.read_image(_save(white, tmp_path / "w.png")), light, atol=1 / 255
    )
    deep = Image.fromarray(np.asarray(expected * 65535, np.uint16))  # a 16-bit scan
    np.testing.assert_allclose(preprocess.read_image(_save(deep, tmp_path / "c.png")), expected)


def test_a_thin_dark_digit_whose_white_was_made_transparent_reads_as_on_paper(mnist_test, tmp_path):
    # A paint program's "transparent white": pure white is see-through, the near-white
    # anti-aliased edges stay, and outnumber the dark core of a thin 1.
    images, labels = mnist_test
    for image in images[np.isin(labels, [1, 7])]:
        paper = on_paper(image, (90, 70), dark_ink=True)
        opaque = preprocess.read_image(_save(paper, tmp_path / "opaque.png"))
        paper.save(tmp_path / "transparent.png", transparency=255)
        np.testing.assert_allclose(preprocess.read_image(tmp_path / "transparent.png"), opaque)


def test_a_speck_of_dust_on_the_paper_does_not_move_the_digit(mnist_test, course_model):
    images, _ = mnist_test
    for image in images[:20]:
        clean = np.asarray(on_paper(image, (450, 600), dark_ink=True), dtype=np.float64) / 255
        specked = clean.copy()
        specked[100:103, 500:503] = 0  # a 3x3 black dot, far from the digit, inside the border
        np.testing.assert_array_equal(
            preprocess.prepare(specked, course_model), preprocess.prepare(clean, course_model)
        )


def _save(image: Image.Image, path):
    image.save(path)
    return path


def test_large_photos_are_shrunk_before_processing(mnist_test, course_model, tmp_path):
    image, label = mnist_test[0][1], mnist_test[1][1]
    path = _save(on_paper(image, (2400, 2600), dark_ink=True), tmp_path / "photo.png")
    assert preprocess.read_image(path).shape == (1890, 2048)
    assert course_model.predict(preprocess.prepare_file(path, course_model)[None])[0] == label


def test_an_unevenly_lit_noisy_photo_is_read(mnist_test, course_model):
    """Gray paper brighter on one side, grain, dark pencil: the paper is levelled to black."""
    images, labels = mnist_test
    rng = np.random.default_rng(0)
    rows = []
    for image in images:
        digit = np.asarray(Image.fromarray(image).resize((120, 120), Image.BICUBIC)) / 255
        ink = np.zeros((200, 260))
        ink[40:160, 70:190] = digit
        paper = 0.7 + 0.15 * np.linspace(-1, 1, 260)  # light falling from the right
        photo = paper - 0.45 * ink + rng.normal(0, 0.03, ink.shape)
        rows.append(preprocess.prepare(np.clip(photo, 0, 1), course_model))
    assert np.mean(course_model.predict(np.array(rows)) == labels) >= 0.85


# --- raw MNIST arrays (the web page sends these) ------------------------------------------------


def test_raw_mnist_digits_are_already_mnist_layout(mnist_test):
    images, _ = mnist_test
    unchanged = [
        np.abs(preprocess.to_mnist(image / 255) - image / 255).max() < 0.01 for image in images
    ]
    # A few lose their faintest edge pixels, or move by a pixel as their centre of mass is
    # recomputed; MNIST's own layout is otherwise kept exactly.
    assert np.mean(unchanged) >= 0.9


def test_raw_mnist_digits_match_the_course_recipe(mnist_test, course_model):
    images, labels = mnist_test
    ours = np.array([preprocess.prepare(image / 255, course_model) for image in images])
    recipe = np.array([readme_recipe(image) for image in images])
    # The same numbers whenever to_mnist kept the digit as it was (up to the stretch of a digit
    # whose brightest pixel is 254 to full white).
    same = np.abs(ours - recipe).max(axis=1) < 0.01
    assert np.mean(same) >= 0.9
    np.testing.assert_array_equal(course_model.predict(ours), course_model.predict(recipe))
    assert np.mean(course_model.predict(ours) == labels) >= 0.9


def test_web_page_pixels_are_read_like_files(mnist_test, course_model, tmp_path):
    """``{"pixels": [...], "width": W, "height": H}``: row-major, ink bright, in [0, 1]."""
    image = mnist_test[0][5]
    message = {"pixels": (image / 255).ravel().tolist(), "width": 28, "height": 28}
    pixels = np.reshape(message["pixels"], (message["height"], message["width"]))
    row = preprocess.prepare(pixels, course_model, invert=False)
    path = _save(Image.fromarray(image), tmp_path / "digit.png")
    np.testing.assert_allclose(row, preprocess.prepare_file(path, course_model))
    np.testing.assert_allclose(row, preprocess.prepare(image, course_model))  # uint8 works too


# --- typed digits drawn by matplotlib -----------------------------------------------------------


@pytest.mark.parametrize("dark_ink", [True, False])
def test_rendered_digits_are_laid_out_like_mnist(tmp_path, dark_ink):
    path = tmp_path / "seven.png"
    render_text("7", path, dark_ink)
    digit = preprocess.to_mnist(preprocess.read_image(path))
    assert digit.shape == (28, 28) and digit.min() == 0 and digit.max() == 1
    assert np.all(np.abs(centre_of_mass(digit) - 14) <= 0.5)  # MNIST's centring
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 < 20  # tall: 20 high


def test_rendered_digits_are_read_by_the_course_model(course_model, tmp_path):
    # DejaVu's "1" has a flag and a foot no handwritten 1 has, its 4 is closed, ... ; these
    # four printed digits look enough like handwriting for the course's network.
    for digit in (0, 2, 3, 7):
        path = tmp_path / f"{digit}.png"
        render_text(str(digit), path)
        row = preprocess.prepare_file(path, course_model)
        assert course_model.predict(row[None])[0] == digit


# --- the model's own input layout ---------------------------------------------------------------


def test_model_input_follows_the_models_layout(mnist_test):
    digit = preprocess.to_mnist(mnist_test[0][0])
    np.testing.assert_array_equal(preprocess.to_model_input(digit, (28, 28), "C"), digit.ravel())
    np.testing.assert_array_equal(preprocess.to_model_input(digit, (28, 28), "F"), digit.T.ravel())
    twenty = preprocess.to_model_input(digit, (20, 20), "C").reshape(20, 20)
    np.testing.assert_allclose(twenty, ndimage.zoom(digit, 20 / 28, order=3))
    # scikit-learn's 8x8 digits fill their frame: the 7 stands 8 pixels tall, in [0, 1].
    small = preprocess.to_model_input(digit, (8, 8), "C").reshape(8, 8)
    assert small[0].max() > 0 and small[-1].max() > 0
    assert small.min() >= 0 and small.max() <= 1


def test_npy_rows_and_images(mnist_test, course_model, mnist20, tmp_path):
    X, _ = mnist20
    row_file = tmp_path / "row.npy"
    np.save(row_file, X[7])
    np.testing.assert_array_equal(preprocess.prepare_file(row_file, course_model), X[7])
    np.save(row_file, X[7:8])  # (1, n) is one row too
    np.testing.assert_array_equal(preprocess.prepare_file(row_file, course_model), X[7])
    image_file = tmp_path / "image.npy"
    np.save(image_file, mnist_test[0][2])
    np.testing.assert_array_equal(
        preprocess.prepare_file(image_file, course_model),
        preprocess.prepare(mnist_test[0][2], course_model),
    )
    np.save(row_file, X[:3])
    with pytest.raises(ImageError, match="holds 3 rows of 400 inputs"):
        preprocess.prepare_file(row_file, course_model)


# --- refused inputs -----------------------------------------------------------------------------


@pytest.fixture
def tiny_model() -> Model:
    sizes = [784, 3, 10]
    thetas = network.unpack(network.initialize(sizes, np.random.default_rng(0)), sizes)
    return Model(thetas, LabelMap(range(10)), (28, 28), "C")


def test_missing_and_non_image_files_are_refused(tiny_model, tmp_path):
    with pytest.raises(ImageError, match=r"nothing\.png: file not found"):
        preprocess.prepare_file(tmp_path / "nothing.png", tiny_model)
    with pytest.raises(ImageError, match=r"nothing\.npy: file not found"):
        preprocess.prepare_file(tmp_path / "nothing.npy", tiny_model)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.png: not an image"):
        preprocess.prepare_file(text, tiny_model)
    with pytest.raises(ImageError, match="not a file"):
        preprocess.read_image(tmp_path)


def test_truncated_images_are_refused(tiny_model, tmp_path):
    path = _save(Image.fromarray(np.eye(64, dtype=np.uint8) * 255), tmp_path / "cut.png")
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ImageError, match=r"cut\.png: (cannot decode image|not an image)"):
        preprocess.prepare_file(path, tiny_model)


def test_blank_images_are_refused(tiny_model, tmp_path):
    for name, value in (("white.png", 255), ("black.jpg", 0), ("gray.png", 128)):
        path = _save(Image.new("L", (64, 48), value), tmp_path / name)
        with pytest.raises(ImageError, match=rf"{name}: no ink"):
            preprocess.prepare_file(path, tiny_model)
    with pytest.raises(ImageError, match="no ink"):
        preprocess.prepare(np.full((28, 28), 0.5), tiny_model)


def test_too_large_images_are_refused(tiny_model, tmp_path, monkeypatch):
    path = _save(Image.new("L", (300, 200), 255), tmp_path / "poster.png")
    monkeypatch.setattr(preprocess, "MAX_PIXELS", 300 * 200 - 1)
    with pytest.raises(ImageError, match=r"poster\.png: image too large: 300x200"):
        preprocess.read_image(path)


def test_pickled_and_malformed_npy_files_are_refused(tiny_model, tmp_path):
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"pixels": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageError, match=r"objects\.npy: holds pickled data, which is refused"):
        preprocess.prepare_file(pickled, tiny_model)
    plain_pickle = tmp_path / "plain.npy"
    plain_pickle.write_bytes(pickle.dumps(np.zeros(784)))
    with pytest.raises(ImageError, match=r"plain\.npy: holds pickled data"):
        preprocess.prepare_file(plain_pickle, tiny_model)
    cube = tmp_path / "cube.npy"
    np.save(cube, np.zeros((2, 3, 4)))
    with pytest.raises(ImageError, match=r"cube\.npy: expected one row of 784 inputs"):
        preprocess.prepare_file(cube, tiny_model)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full(784, np.nan))
    with pytest.raises(ImageError, match=r"nan\.npy: values must be finite"):
        preprocess.prepare_file(nan, tiny_model)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 5)), "non-empty 2-D"),
        (np.zeros(28), "non-empty 2-D"),
        (np.full((28, 28), 2.0), r"must lie in \[0, 1\]"),
        (np.full((28, 28), np.nan), r"must lie in \[0, 1\]"),
        (np.full((28, 28), "a"), "must be numbers"),
    ],
)
def test_bad_arrays_are_refused(tiny_model, image, message):
    with pytest.raises(ImageError, match=message):
        preprocess.prepare(image, tiny_model)


# --- a data set's rows in the model's layout ----------------------------------------------------


def layout_model(image_shape, pixel_order):
    from digitnet import network
    from digitnet.labels import LabelMap
    from digitnet.model import Model

    sizes = [image_shape[0] * image_shape[1], 3, 2]
    theta = network.initialize(sizes, np.random.default_rng(0))
    return Model(network.unpack(theta, sizes), LabelMap([0, 1]), image_shape, pixel_order)


def test_rows_are_reordered_to_the_models_pixel_order():
    from digitnet.preprocess import as_model_rows

    images = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)  # two upright 3x4 images
    row_major = images.reshape(2, 12)
    column_major = np.stack([image.T.ravel() for image in images])  # Octave's X(i, :) = img(:)'
    to_f = as_model_rows(row_major, (3, 4), "C", layout_model((3, 4), "F"))
    to_c = as_model_rows(column_major, (3, 4), "F", layout_model((3, 4), "C"))
    np.testing.assert_array_equal(to_f, column_major)
    np.testing.assert_array_equal(to_c, row_major)
    assert as_model_rows(row_major, (3, 4), "C", layout_model((3, 4), "C")) is row_major


def test_other_sizes_are_refused_naming_both_layouts_or_resized_like_predict():
    from digitnet.preprocess import LayoutError, as_model_rows, prepare

    model = layout_model((20, 20), "F")
    ring = np.zeros((28, 28))
    ring[6:22, 9:19] = 1.0
    ring[9:19, 12:16] = 0.0
    rows = ring.reshape(1, 784)
    with pytest.raises(
        LayoutError, match=r"28x28 images unrolled row-major.*20x20 images unrolled column-major"
    ):
        as_model_rows(rows, (28, 28), "C", model)
    resized = as_model_rows(rows, (28, 28), "C", model, resize=True)
    np.testing.assert_array_equal(resized[0], prepare(ring, model, invert=False))


def test_a_model_of_unknown_layout_takes_rows_as_they_are_and_refuses_pictures():
    from digitnet.preprocess import ImageError, as_model_rows, prepare

    model = layout_model((2, 2), None)
    rows = np.random.default_rng(1).uniform(size=(5, 4))
    assert as_model_rows(rows, (2, 2), "F", model) is rows
    with pytest.raises(ImageError, match="does not record how its input rows are laid out"):
        prepare(np.eye(8), model)
