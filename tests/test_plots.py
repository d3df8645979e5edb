"""Pictures: the mosaic's layout and orientation, exactly; every figure as a real, non-blank PNG."""

import gzip
import io

import numpy as np
import pytest
from conftest import shared_file
from matplotlib.figure import Figure
from PIL import Image
from sklearn.datasets import load_digits

from digitnet import plots
from digitnet.labels import COURSE_DIGITS, LabelMap
from digitnet.model import Model

MIN_VARIANCE = 100.0  # of the gray levels 0..255; a blank or single-colour figure has 0


def assert_png(path, fig_size_inches, dpi=plots.DPI):
    """``path`` is a PNG of ``figsize * dpi`` pixels with visible content."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        # Agg drops the fraction of a pixel: 4.55 in at 100 dpi is 454 or 455 px after rounding.
        expected = np.asarray(fig_size_inches) * dpi
        assert np.all(np.abs(np.array(image.size) - expected) < 1), (image.size, expected)
        gray = np.asarray(image.convert("L"), dtype=np.float64)
    assert gray.var() > MIN_VARIANCE


def save_and_check(fig, path):
    size = fig.get_size_inches().copy()  # saving closes the figure; read its size first
    assert plots.save_figure(fig, path) == path
    assert_png(path, size)


def patch(grid, index, count, shape):
    """Patch ``index`` of a ``data_grid`` of ``count`` examples, by the layout its docstring gives."""
    height, width = shape
    cols = int(np.ceil(count / np.floor(np.sqrt(count))))
    i, j = divmod(index, cols)
    top, left = 1 + i * (height + 1), 1 + j * (width + 1)
    return grid[top : top + height, left : left + width]


def idx_images(name):
    """(m, 28 * 28) uint8 rows of a gzip IDX image file, parsed here independently of digitnet."""
    raw = gzip.decompress(shared_file(f"mnist-8k/{name}").read_bytes())
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28 * 28)


@pytest.fixture(scope="module")
def course_model(ex4_weights):
    return Model(ex4_weights, LabelMap(COURSE_DIGITS), (20, 20), "F")


# --- the mosaic ---------------------------------------------------------------------------------


def test_grid_layout_is_the_courses_display_data():
    images = np.arange(5 * 3 * 2, dtype=np.float64).reshape(5, 3, 2) + 1
    grid = plots.data_grid(images.reshape(5, 6), (3, 2), "C")
    # 5 examples: floor(sqrt(5)) = 2 rows, ceil(5 / 2) = 3 columns, 1-pixel padding all round.
    assert grid.shape == (1 + 2 * (3 + 1), 1 + 3 * (2 + 1))
    for index, image in enumerate(images):
        np.testing.assert_array_equal(patch(grid, index, 5, (3, 2)), image / image.max())
    np.testing.assert_array_equal(patch(grid, 5, 5, (3, 2)), -1)  # the empty sixth cell
    assert np.count_nonzero(grid == -1) == grid.size - 5 * 3 * 2


def test_each_patch_is_scaled_by_its_own_largest_magnitude():
    X = np.array([[-4.0, 2.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    grid = plots.data_grid(X, (2, 2), "C")
    np.testing.assert_array_equal(patch(grid, 0, 2, (2, 2)), [[-1.0, 0.5], [0.25, 0.0]])
    np.testing.assert_array_equal(patch(grid, 1, 2, (2, 2)), 0)  # all zero stays zero, no NaN


def test_orientation_course_mat_column_major(mnist20):
    X, _ = mnist20
    for row in (0, 1234, 4999):
        upright = X[row].reshape(20, 20, order="F")  # the course's own way to see it upright
        shown = patch(plots.data_grid(X[row : row + 1], (20, 20), "F"), 0, 1, (20, 20))
        np.testing.assert_allclose(shown, upright / np.abs(upright).max(), rtol=0, atol=0)
        assert not np.allclose(shown, shown.T)  # a digit, not a symmetric blob: the test can fail


def test_orientation_idx_row_major_28x28():
    X = idx_images("train-images-idx3-ubyte.gz")
    for row in (0, 2500):
        upright = X[row].reshape(28, 28).astype(np.float64)  # IDX: rows top to bottom
        shown = patch(plots.data_grid(X[row : row + 1], (28, 28), "C"), 0, 1, (28, 28))
        np.testing.assert_allclose(shown, upright / np.abs(upright).max(), rtol=0, atol=0)
        assert not np.allclose(shown, shown.T)


def test_orientation_scikit_learn_8x8():
    digits = load_digits()
    for row in (0, 1000):
        upright = digits.images[row]
        shown = patch(plots.data_grid(digits.data[row : row + 1], (8, 8), "C"), 0, 1, (8, 8))
        np.testing.assert_allclose(shown, upright / np.abs(upright).max(), rtol=0, atol=0)
        assert not np.allclose(shown, shown.T)


def test_a_larger_set_is_sampled_reproducibly_without_repeats():
    X = np.eye(150)  # every row a different single pixel: the patches say which rows were drawn
    grid = plots.data_grid(X, (10, 15), "C", n=100, rng=7)
    np.testing.assert_array_equal(grid, plots.data_grid(X, (10, 15), "C", n=100, rng=7))
    rows = [patch(grid, k, 100, (10, 15)).argmax() for k in range(100)]
    assert len(set(rows)) == 100
    assert grid.shape == (1 + 10 * 11, 1 + 10 * 16)


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError, match="pixel_order must be 'C' or 'F'"):
        plots.data_grid(np.zeros((2, 4)), (2, 2), "A")
    with pytest.raises(ValueError, match=r"X must be \(m, 9\) for 3x3 images"):
        plots.data_grid(np.zeros((2, 4)), (3, 3), "C")
    with pytest.raises(ValueError, match="no examples"):
        plots.data_grid(np.zeros((0, 4)), (2, 2), "C")


# --- every picture as a PNG ---------------------------------------------------------------------


@pytest.mark.parametrize("with_labels", [False, True])
def test_data_picture_course_mat(tmp_path, mnist20, with_labels):
    X, y = mnist20
    labels = y % 10 if with_labels else None
    fig = plots.plot_data(X, (20, 20), "F", labels=labels, rng=0)
    if with_labels:
        assert len(fig.axes[0].texts) == 100
    save_and_check(fig, tmp_path / "data.png")


def test_data_picture_idx_and_scikit_learn(tmp_path):
    X = idx_images("t10k-images-idx3-ubyte.gz")
    save_and_check(plots.plot_data(X, (28, 28), "C", n=36, rng=1), tmp_path / "idx.png")
    digits = load_digits()
    fig = plots.plot_data(digits.data, (8, 8), "C", labels=digits.target, rng=2)
    save_and_check(fig, tmp_path / "sklearn.png")


def test_labels_are_those_of_the_examples_shown_and_sit_under_their_patch():
    X = np.eye(12)  # 12 examples of 3x4, shown in order (n > m): 3 rows of 4
    labels = np.array(list("abcdefghijkl"))
    fig = plots.plot_data(X, (3, 4), "C", labels=labels)
    texts = fig.axes[0].texts
    assert [t.get_text() for t in texts] == list(labels)
    for k, text in enumerate(texts):
        x, y = text.get_position()
        i, j = divmod(k, 4)
        patch_bottom = 1 + i * (3 + plots.PAD) + 3 - 0.5  # image coordinates: pixel centres
        assert j * (4 + 1) < x < (j + 1) * (4 + 1) and y > patch_bottom


def test_hidden_units_picture(tmp_path, course_model):
    save_and_check(plots.plot_hidden_units(course_model), tmp_path / "hidden.png")
    theta1 = np.random.default_rng(0).normal(size=(7, 1 + 8 * 8))  # any count, any input size
    save_and_check(plots.plot_hidden_units(theta1, (8, 8), "C"), tmp_path / "hidden7.png")
    with pytest.raises(ValueError, match="give image_shape and pixel_order"):
        plots.plot_hidden_units(theta1)


def test_hidden_units_are_drawn_like_the_data(mnist20):
    # A unit whose weights are a digit must show that digit exactly as the data grid does.
    X, _ = mnist20
    theta1 = np.hstack([np.zeros((4, 1)), X[:4]])
    model = Model([theta1, np.zeros((2, 5))], LabelMap([0, 1]), (20, 20), "F")
    shown = plots.plot_hidden_units(model).axes[0].images[0].get_array().filled(np.nan)
    grid = plots.data_grid(X[:4], (20, 20), "F")
    for k in range(4):
        np.testing.assert_array_equal(patch(shown, k, 4, (20, 20)), patch(grid, k, 4, (20, 20)))


def test_pictures_compose_into_a_callers_figure(tmp_path, mnist20, course_model):
    X, y = mnist20
    fig = Figure(figsize=(10, 5), layout="constrained")
    left, right = fig.subplots(1, 2)
    assert plots.plot_data(X, (20, 20), "F", labels=y % 10, n=25, rng=0, ax=left) is fig
    assert plots.plot_hidden_units(course_model, ax=right) is fig
    save_and_check(fig, tmp_path / "both.png")


def synthetic_history(iterations=200, validation=True):
    """A made-up but plausible training history (no real training here): cost falls then
    flattens, validation cost turns up (overfitting), gradient norm shrinks geometrically."""
    it = np.arange(1, iterations + 1)
    nan = np.full(iterations, np.nan)
    return {
        "iteration": it,
        "cost": 0.25 + 6.7 * np.exp(-it / 15),
        "grad_norm": 3 * np.exp(-it / 30),
        "time": 0.01 * it,
        "val_cost": 0.45 + 6.5 * np.exp(-it / 15) + 0.002 * it if validation else nan,
        "val_accuracy": 0.93 - 0.8 * np.exp(-it / 12) - 0.0002 * it if validation else nan,
    }


def test_learning_curves_picture(tmp_path):
    fig = plots.plot_learning_curves(synthetic_history())
    assert [ax.get_title() for ax in fig.axes] == ["Cost", "Accuracy", "Gradient norm"]
    assert fig.axes[0].get_yscale() == "log"  # cost spans 7 -> 0.25
    # Training's J carries the penalty, validation's cross-entropy does not: the legend says so.
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert legend[0].startswith("training J (with penalty)")
    assert legend[1].startswith("validation (no penalty)")
    save_and_check(fig, tmp_path / "curves.png")


def test_learning_curves_of_a_mini_batch_solver_count_epochs():
    fig = plots.plot_learning_curves(synthetic_history(20), step="epoch")
    assert {ax.get_xlabel() for ax in fig.axes} == {"epoch"}
    assert fig._suptitle.get_text() == "Learning curves (20 epochs)"


def test_learning_curves_without_validation_leave_out_the_empty_panel(tmp_path):
    fig = plots.plot_learning_curves(synthetic_history(validation=False))
    assert [ax.get_title() for ax in fig.axes] == ["Cost", "Gradient norm"]
    assert len(fig.axes[0].lines) == 1
    save_and_check(fig, tmp_path / "curves.png")


def test_confusion_picture(tmp_path, mnist20, course_model):
    X, y = mnist20
    fig = plots.plot_confusion(y % 10, course_model.predict(X), classes=range(10))
    heat = fig.axes[0]
    counts = {t.get_text() for t in heat.texts}
    assert "496" in counts and "0" not in counts  # the 0s' hits; empty cells stay blank
    save_and_check(fig, tmp_path / "confusion.png")


def test_mistakes_picture(tmp_path, mnist20, course_model):
    X, y = mnist20
    proba = course_model.predict_proba(X)
    predicted = course_model.predict(X)
    fig = plots.plot_mistakes(X, y % 10, predicted, proba.max(axis=1), (20, 20), "F", n=16)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 16
    sure = [float(title.split("\n")[1].split("%")[0]) for title in titles]
    assert sure == sorted(sure, reverse=True)
    save_and_check(fig, tmp_path / "mistakes.png")


def test_no_mistakes_says_so(tmp_path):
    y = np.array([1, 2, 3])
    fig = plots.plot_mistakes(np.eye(3, 4), y, y, np.ones(3), (2, 2), "C")
    assert fig.texts[0].get_text() == "No mistakes"
    save_and_check(fig, tmp_path / "none.png")


def test_exploration_picture(tmp_path):
    # Synthetic results shaped like the course's exercise: more regularization narrows the gap.
    results = [
        {
            "lam": lam,
            "max_iter": max_iter,
            "train_accuracy": min(0.999, 0.9 + 0.02 * np.log10(max_iter) - 0.01 * lam),
            "val_accuracy": 0.9 + 0.01 * np.log10(max_iter) - 0.002 * lam,
        }
        for lam in (0, 0.1, 1, 3, 10)
        for max_iter in (10, 50, 100, 400)
    ]
    fig = plots.plot_exploration(results)
    assert fig.axes[0].get_xscale() == "symlog"  # lam = 0 is on the grid
    assert fig.axes[1].get_xscale() == "log"
    save_and_check(fig, tmp_path / "explore.png")
    with pytest.raises(ValueError, match="lacks"):
        plots.plot_exploration([{"lam": 1.0}])


# --- output -------------------------------------------------------------------------------------


def test_png_bytes_for_a_report(mnist20):
    fig = plots.plot_data(mnist20[0], (20, 20), "F", n=9, rng=0)
    size = fig.get_size_inches().copy()
    data = plots.figure_to_png_bytes(fig, dpi=50)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert_png(io.BytesIO(data), size, dpi=50)


def test_save_is_atomic_and_replaces(tmp_path):
    path = tmp_path / "out" / "grid.png"  # the folder is made on the way
    plots.save_figure(plots.plot_data(np.eye(4), (2, 2), "C"), path)
    save_and_check(plots.plot_data(np.eye(9), (3, 3), "C"), path)  # overwrites in place
    before = path.read_bytes()

    fig = plots.plot_data(np.eye(4), (2, 2), "C")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    fig.savefig = fail
    with pytest.raises(OSError, match="disk full"):
        plots.save_figure(fig, path)
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temp file left
    assert path.read_bytes() == before  # and the last good picture kept


def test_a_pyplot_figure_is_drawn_into_and_closed(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.switch_backend("agg")  # never open a window from the tests
    fig = plt.figure(figsize=(8, 4))
    assert plots.plot_learning_curves(synthetic_history(), fig=fig) is fig
    plots.save_figure(fig, tmp_path / "curves.png")
    assert plt.get_fignums() == []
    assert_png(tmp_path / "curves.png", (8, 4))
