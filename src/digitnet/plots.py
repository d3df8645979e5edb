"""Pictures of data and networks: the course's digit grid and hidden units, and how training went.

Every function here takes arrays and returns a ``matplotlib.figure.Figure`` built with the
object-oriented API, never through ``pyplot``: nothing touches global state or needs a display, so
the functions are safe to call from a CLI, a web server or several threads, and ``save_figure``
writes PNGs with matplotlib's Agg renderer. To see a picture in a window instead, pass a figure (or,
for single-image pictures, axes) made with ``pyplot``, e.g. ``plot_confusion(..., fig=plt.figure())``
then ``plt.show()``.

Images are rows of ``X: (m, n)``, ``n = height * width``, unrolled row-major (``pixel_order="C"``:
IDX files, scikit-learn) or column-major (``"F"``: the course's ``.mat`` files); they are always
drawn upright.

Accuracies (in histories and exploration results) are fractions in [0, 1], drawn as percentages.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator, PercentFormatter

from digitnet.data import upright_images
from digitnet.files import write_atomically
from digitnet.model import Model

PAD = 1  # pixels between patches in a mosaic, as in the course's displayData
BACKGROUND = -1.0  # mosaic padding value: the course's, the darkest value of a scaled patch
DPI = 100  # default resolution of saved PNGs: pixel size = figsize (inches) * DPI

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # tick labels: 0.3, 1, 400
DIVERGING = colormaps["RdBu_r"].with_extremes(bad="0.35")  # bad: NaN padding between units


# --- the mosaic ---------------------------------------------------------------------------------


def _grid_shape(count: int) -> tuple[int, int]:
    """``(rows, cols)`` of the course's displayData: as square as possible, rows first."""
    rows = max(1, math.floor(math.sqrt(count)))
    return rows, math.ceil(count / rows)


def _scaled(images: np.ndarray) -> np.ndarray:
    """Each image divided by its own maximum absolute value (an all-zero image stays zero)."""
    images = images.astype(np.float64)
    peak = np.abs(images).max(axis=(1, 2), keepdims=True)
    return images / np.where(peak > 0, peak, 1)


def _mosaic(patches: np.ndarray, fill: float, strip: int = 0) -> np.ndarray:
    """Patches ``(k, h, w)`` tiled row by row with ``PAD`` pixels of ``fill`` around each.

    ``strip`` extra rows of ``fill`` under each patch leave room for a label.
    """
    count, height, width = patches.shape
    rows, cols = _grid_shape(count)
    cell_h, cell_w = height + strip + PAD, width + PAD
    cells = np.full((rows * cols, cell_h, cell_w), fill, dtype=np.float64)
    cells[:count, :height, :width] = patches
    # (rows, cols, cell_h, cell_w) -> (rows, cell_h, cols, cell_w): cell rows become image rows.
    grid = cells.reshape(rows, cols, cell_h, cell_w).transpose(0, 2, 1, 3)
    mosaic = grid.reshape(rows * cell_h, cols * cell_w)
    return np.pad(mosaic, ((PAD, 0), (PAD, 0)), constant_values=fill)


def _cell_origin(
    index: int, count: int, height: int, width: int, strip: int = 0
) -> tuple[int, int]:
    """Top-left pixel ``(row, col)`` of patch ``index`` in ``_mosaic`` of ``count`` patches."""
    _, cols = _grid_shape(count)
    i, j = divmod(index, cols)
    return PAD + i * (height + strip + PAD), PAD + j * (width + PAD)


def _sample(m: int, n: int, rng: np.random.Generator | int | None) -> np.ndarray:
    """Indices of the examples to show: all ``m`` in order, or ``n`` at random when ``m > n``."""
    if m == 0:
        raise ValueError("no examples to show")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if m <= n:
        return np.arange(m)
    return np.random.default_rng(rng).choice(m, size=n, replace=False)


def data_grid(
    X,
    image_shape: Sequence[int],
    pixel_order: str,
    n: int = 100,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """The course's displayData mosaic: examples side by side, upright, each scaled to [-1, 1].

    Parameters
    ----------
    X : array_like
        ``(m, height * width)`` one image per row.
    image_shape : (int, int)
        ``(height, width)`` of one upright image.
    pixel_order : {"C", "F"}
        How each row is unrolled: ``"C"`` row-major, ``"F"`` column-major (the course's files).
    n : int
        At most this many examples: when ``m > n``, ``n`` rows drawn at random without
        replacement, else every row in order.
    rng : numpy.random.Generator or int or None
        Source of the random sample; ``None`` draws fresh entropy.

    Returns
    -------
    np.ndarray
        2-D float64 mosaic. With ``k`` examples shown, the grid has ``rows = floor(sqrt(k))`` rows
        and ``cols = ceil(k / rows)`` columns, filled row by row; the patch of cell ``(i, j)``
        occupies ``[1 + i*(height+1) :][:height, 1 + j*(width+1) :][:, :width]`` and equals the
        upright image divided by its maximum absolute value. Padding and empty cells are -1.
    """
    images = upright_images(X, image_shape, pixel_order)
    shown = images[_sample(len(images), n, rng)]
    return _mosaic(_scaled(shown), BACKGROUND)


# --- figures: shared helpers --------------------------------------------------------------------


def _figure(figsize: tuple[float, float], fig: Figure | None) -> Figure:
    """A new headless figure of ``figsize`` inches, or the caller's ``fig`` (e.g. from pyplot)."""
    if fig is None:
        return Figure(figsize=figsize, layout="constrained")
    fig.set_layout_engine("constrained")
    return fig


def _mosaic_figure(
    mosaic_shape: tuple[int, int], n_cols: int, ax: Axes | None, colorbar: bool = False
) -> tuple[Figure, Axes, Axes | None]:
    """Axes for one mosaic image (and its colour bar): the caller's, or a new snug figure.

    A new figure is laid out by hand, not by a layout engine, so that the image fills it exactly
    at its aspect ratio, with room for a title above and, when asked, a colour bar on the right.
    Returns ``(figure, axes, colour bar axes or None)``; with the caller's ``ax`` the colour bar
    is left to ``Figure.colorbar(ax=ax)``.
    """
    if ax is not None:
        return cast(Figure, ax.get_figure(root=True)), ax, None
    rows, cols = mosaic_shape
    margin, title, bar = 0.1, 0.35, 1.2 if colorbar else 0.0  # inches
    image_w = float(np.clip(0.7 * n_cols, 4.0, 7.0))  # 0.7 inch per patch, within bounds
    image_h = image_w * rows / cols
    fig_w, fig_h = image_w + 2 * margin + bar, image_h + 2 * margin + title
    fig = Figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes((margin / fig_w, margin / fig_h, image_w / fig_w, image_h / fig_h))
    cax = None
    if colorbar:
        left, bottom = (margin + image_w + 0.2) / fig_w, (margin + 0.1 * image_h) / fig_h
        cax = fig.add_axes((left, bottom, 0.15 / fig_w, 0.8 * image_h / fig_h))
    return fig, ax, cax


def _show_mosaic(ax: Axes, mosaic: np.ndarray, **imshow) -> None:
    ax.imshow(mosaic, interpolation="nearest", **imshow)
    ax.set_axis_off()


def _points_per_pixel(ax: Axes, mosaic_shape: tuple[int, int]) -> float:
    """Size in points of one mosaic pixel in ``ax`` (an equal-aspect image fits the smaller side)."""
    fig = cast(Figure, ax.get_figure(root=True))
    fig_w, fig_h = fig.get_size_inches()
    box = ax.get_position()
    rows, cols = mosaic_shape
    return 72 * min(box.width * fig_w / cols, box.height * fig_h / rows)


def _log_y_if_wide(ax: Axes, values: np.ndarray) -> None:
    """Log y scale when positive values span a factor 10 or more: early and late both readable."""
    values = values[np.isfinite(values)]
    if values.size and values.min() > 0 and values.max() >= 10 * values.min():
        ax.set_yscale("log")
        # Plain numbers (0.3, 1, 6) rather than 3x10^-1: a learner reads the cost, not its exponent.
        ax.yaxis.set_major_formatter(PLAIN)
        if values.max() < 100 * values.min():  # under two decades, label 2 and 5 between powers
            ax.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
            ax.yaxis.set_minor_formatter(PLAIN)


# --- data ---------------------------------------------------------------------------------------


def plot_data(
    X,
    image_shape: Sequence[int],
    pixel_order: str,
    *,
    labels=None,
    n: int = 100,
    rng: np.random.Generator | int | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw up to ``n`` examples as the course's digit grid, upright, gray.

    Parameters
    ----------
    X : array_like
        ``(m, height * width)`` one image per row.
    image_shape : (int, int)
        ``(height, width)`` of one upright image.
    pixel_order : {"C", "F"}
        How each row is unrolled: ``"C"`` row-major, ``"F"`` column-major.
    labels : array_like, optional
        ``(m,)`` a label per row of ``X``; when given, each patch has its label written under it.
    n : int
        At most this many examples (a random sample when ``m > n``, see ``data_grid``).
    rng : numpy.random.Generator or int or None
        Source of the random sample.
    title : str, optional
        Title above the grid; by default says how many examples are shown.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the grid.
    """
    images = upright_images(X, image_shape, pixel_order)
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} examples")
    shown = _sample(len(images), n, rng)
    height, width = images.shape[1:]
    # Labels go in a strip of background under each patch, tall enough for small text.
    strip = 0 if labels is None else max(4, round(0.45 * height))
    mosaic = _mosaic(_scaled(images[shown]), BACKGROUND, strip)

    fig, ax, _ = _mosaic_figure(mosaic.shape, _grid_shape(len(shown))[1], ax)
    _show_mosaic(ax, mosaic, cmap="gray", vmin=-1, vmax=1)
    if labels is not None:
        fontsize = float(np.clip(0.8 * strip * _points_per_pixel(ax, mosaic.shape), 4, 12))
        texts = np.asarray(labels)[shown]
        for index, text in enumerate(texts):
            top, left = _cell_origin(index, len(shown), height, width, strip)
            ax.text(
                left + (width - 1) / 2,
                top + height + (strip - 1) / 2,
                str(text),
                ha="center",
                va="center",
                color="white",
                fontsize=fontsize,
            )
    if title is None:
        title = f"{len(shown)} examples" + (
            f", drawn at random from {len(images)}" if len(shown) < len(images) else ""
        )
    ax.set_title(title, fontsize=11)
    return fig


# --- the network --------------------------------------------------------------------------------


def plot_hidden_units(
    model_or_theta1: Model | np.ndarray,
    image_shape: Sequence[int] | None = None,
    pixel_order: str | None = None,
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw what each first-layer hidden unit looks for: its input weights as an image.

    Each unit's weights (bias left out) are laid out like the input image, upright, and scaled by
    their own maximum absolute value, as the course's displayData does; red is positive, blue
    negative, white zero. Units run row by row from unit 1 at the top left.

    Parameters
    ----------
    model_or_theta1 : Model or array_like
        A ``Model``, or the first weight matrix ``Theta1: (units, 1 + height * width)`` with the
        bias in column 0.
    image_shape : (int, int), optional
        ``(height, width)`` of an input image; required with a bare ``Theta1``, and taken from a
        ``Model`` otherwise.
    pixel_order : {"C", "F"}, optional
        How the inputs are unrolled; required with a bare ``Theta1``.
    title : str, optional
        Title above the grid; by default says how many units and what input size.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the grid and its colour bar.
    """
    if isinstance(model_or_theta1, Model):
        theta1 = model_or_theta1.thetas[0]
        image_shape = image_shape or model_or_theta1.image_shape
        pixel_order = pixel_order or model_or_theta1.known_pixel_order()
    else:
        theta1 = np.asarray(model_or_theta1)
        if image_shape is None or pixel_order is None:
            raise ValueError("with a bare Theta1, give image_shape and pixel_order")
    if theta1.ndim != 2:
        raise ValueError(f"Theta1 must be 2-D (units, 1 + inputs), got shape {theta1.shape}")
    weights = upright_images(theta1[:, 1:], image_shape, pixel_order)
    # NaN padding: drawn in neutral gray, so it is not mistaken for a weight of -1 or 0.
    mosaic = _mosaic(_scaled(weights), np.nan)

    fig, ax, cax = _mosaic_figure(mosaic.shape, _grid_shape(len(weights))[1], ax, colorbar=True)
    _show_mosaic(ax, mosaic, cmap=DIVERGING, vmin=-1, vmax=1)
    ticks = [-1, -0.5, 0, 0.5, 1]
    if cax is None:
        colorbar = fig.colorbar(ax.images[0], ax=ax, shrink=0.8, ticks=ticks)
    else:
        colorbar = fig.colorbar(ax.images[0], cax=cax, ticks=ticks)
    colorbar.set_label("weight / max |weight| of its unit", fontsize=9)
    if title is None:
        height, width = weights.shape[1:]
        title = f"{len(weights)} hidden units: input weights as {height}x{width} images"
    ax.set_title(title, fontsize=11)
    return fig


# --- training -----------------------------------------------------------------------------------


def _finite(history: Mapping[str, np.ndarray], key: str) -> np.ndarray | None:
    """``history[key]`` as a float array, or None when absent or all NaN (e.g. no validation)."""
    if key not in history:
        return None
    values = np.asarray(history[key], dtype=np.float64)
    return values if np.isfinite(values).any() else None


def plot_learning_curves(
    history: Mapping[str, np.ndarray],
    *,
    step: str | None = None,
    title: str | None = None,
    fig: Figure | None = None,
) -> Figure:
    """Draw how training went: cost, accuracy and gradient norm per iteration (or epoch).

    Panels appear for the columns present with at least one finite value: cost (``"cost"``, the
    training objective with its L2 penalty, and ``"val_cost"``, the validation cross-entropy
    without it: with ``lam > 0`` they differ by the penalty), accuracy (``"accuracy"`` or
    ``"train_accuracy"``, ``"val_accuracy"``; the best validation accuracy is marked) and
    ``"grad_norm"``. Cost and gradient norm use a log
    scale when they span a factor 10 or more.

    Parameters
    ----------
    history : mapping of str to array_like
        Columns of equal length, e.g. ``Model.history``. The x axis is ``"epoch"`` if present,
        else ``"iteration"``, else 1, 2, ...
    step : str, optional
        What one row is, for the x axis: ``"iteration"`` or ``"epoch"``
        (``settings.step_word(model.info["solver"])``); by default the name of the x column.
    title : str, optional
        Figure title.
    fig : matplotlib.figure.Figure, optional
        Draw into this (empty) figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding one panel per quantity.
    """
    x_key = next((key for key in ("epoch", "iteration") if key in history), None)
    cost = _finite(history, "cost")
    if cost is None:
        raise ValueError(f"the history has no 'cost' values (columns: {sorted(history)})")
    x = np.arange(1, len(cost) + 1) if x_key is None else np.asarray(history[x_key])
    step = step or x_key or "step"
    train_accuracy = _finite(history, "accuracy")
    if train_accuracy is None:
        train_accuracy = _finite(history, "train_accuracy")
    curves = {
        # Not the same quantity: what training minimizes carries the L2 penalty, the validation
        # cross-entropy does not, so with lam > 0 validation can sit below training.
        "Cost": [
            ("training J (with penalty)", cost),
            ("validation (no penalty)", _finite(history, "val_cost")),
        ],
        "Accuracy": [
            ("training", train_accuracy),
            ("validation", _finite(history, "val_accuracy")),
        ],
        "Gradient norm": [("", _finite(history, "grad_norm"))],
    }
    panels = {
        name: [(label, y) for label, y in lines if y is not None] for name, lines in curves.items()
    }
    panels = {name: lines for name, lines in panels.items() if lines}

    fig = _figure((4.2 * len(panels), 3.8), fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, lines) in zip(axes, panels.items()):
        as_text = "{:.1%}".format if name == "Accuracy" else "{:.3g}".format
        for label, y in lines:
            # Only measured points: validation may be recorded every few iterations, NaN between,
            # and a NaN would break the line into invisible pieces.
            measured = np.isfinite(y)
            final = f"final {as_text(y[measured][-1])}"
            ax.plot(
                x[measured],
                y[measured],
                marker="o" if measured.sum() <= 30 else None,  # few points: show each one
                markersize=3,
                label=f"{label}, {final}" if label else final,
            )
        ax.set_title(name)
        ax.set_xlabel(step)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if name == "Accuracy":
            ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
            _mark_best(ax, x, dict(lines).get("validation"))
        else:
            _log_y_if_wide(ax, np.concatenate([y for _, y in lines]))
        ax.legend()
    fig.suptitle(title or f"Learning curves ({len(x)} {step}s)")
    return fig


def _mark_best(ax: Axes, x: np.ndarray, accuracy: np.ndarray | None) -> None:
    """Mark and label the highest validation accuracy: where training should have stopped."""
    if accuracy is None:
        return
    best = int(np.nanargmax(accuracy))
    ax.plot(x[best], accuracy[best], "*", color="black", markersize=10, zorder=3)
    ax.annotate(
        f"best {accuracy[best]:.1%} at {x[best]:g}",
        (x[best], accuracy[best]),
        xytext=(0, -16),
        textcoords="offset points",
        ha="right" if best > 0.8 * len(accuracy) else "center",  # near the right edge: keep inside
        fontsize=9,
    )


def plot_exploration(
    results: Sequence[Mapping[str, float]], *, fig: Figure | None = None
) -> Figure:
    """Draw training and validation accuracy against regularization and iterations.

    The course's optional exercise: train over a grid of ``lam`` and ``max_iter`` and see where
    the network underfits (large ``lam``, few iterations) and where it overfits (training
    accuracy far above validation accuracy). Left panel: accuracy against ``lam``, one colour per
    ``max_iter``; right panel: against ``max_iter``, one colour per ``lam``. Solid lines are
    validation, dashed lines training.

    Parameters
    ----------
    results : sequence of mappings
        One record per trained network with keys ``"lam"``, ``"max_iter"``, ``"train_accuracy"``
        and ``"val_accuracy"`` (fractions; NaN when there is no validation set).
    fig : matplotlib.figure.Figure, optional
        Draw into this (empty) figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the two panels.
    """
    if not results:
        raise ValueError("no results to plot")
    keys = ("lam", "max_iter", "train_accuracy", "val_accuracy")
    missing = [key for key in keys if key not in results[0]]
    if missing:
        raise ValueError(f"each result needs {list(keys)}; the first lacks {missing}")
    table = {key: np.array([record[key] for record in results], dtype=np.float64) for key in keys}

    fig = _figure((11, 4.4), fig)
    axes = fig.subplots(1, 2, sharey=True)
    _exploration_panel(axes[0], table, x_key="lam", group_key="max_iter")
    _exploration_panel(axes[1], table, x_key="max_iter", group_key="lam")
    axes[0].set_ylabel("accuracy")
    axes[0].yaxis.set_major_formatter(PercentFormatter(xmax=1))
    style = [
        Line2D([], [], color="gray", linestyle="-", marker="o", label="validation"),
        Line2D([], [], color="gray", linestyle="--", marker="o", mfc="none", label="training"),
    ]
    fig.legend(handles=style, loc="outside lower center", ncols=2)
    fig.suptitle(f"Regularization and iterations ({len(results)} trained networks)")
    return fig


def _exploration_panel(ax: Axes, table: dict[str, np.ndarray], x_key: str, group_key: str) -> None:
    """Accuracy against ``x_key``, one colour per value of ``group_key``."""
    groups = np.unique(table[group_key])
    colours = colormaps["viridis"](np.linspace(0, 0.85, len(groups)))
    for group, colour in zip(groups, colours):
        rows = np.flatnonzero(table[group_key] == group)
        rows = rows[np.argsort(table[x_key][rows])]
        x = table[x_key][rows]
        label = f"{group_key} = {group:g}"
        ax.plot(x, table["val_accuracy"][rows], "-o", color=colour, label=label)
        ax.plot(x, table["train_accuracy"][rows], "--o", color=colour, mfc="none")
    _scale_parameter_axis(ax, table[x_key])
    ax.set_xlabel(x_key)
    ax.set_title(f"Accuracy against {x_key}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def _scale_parameter_axis(ax: Axes, values: np.ndarray) -> None:
    """Ticks at the grid's values; log x for a geometric grid, symlog when lam = 0 is among them."""
    positive = values[values > 0]
    if positive.size >= 2 and positive.max() >= 10 * positive.min():
        if (values == 0).any():
            ax.set_xscale("symlog", linthresh=positive.min())
        else:
            ax.set_xscale("log")
    ax.set_xticks(np.unique(values))
    ax.xaxis.set_major_formatter(PLAIN)
    ax.xaxis.set_minor_locator(NullLocator())


# --- evaluation ---------------------------------------------------------------------------------


def plot_confusion(
    y_true, y_pred, classes: Sequence, *, title: str | None = None, fig: Figure | None = None
) -> Figure:
    """Draw the confusion matrix as a heat map of counts, beside each class's accuracy.

    Row ``i`` counts the examples of true class ``classes[i]`` by predicted class. Cells are
    coloured by the fraction of their row on a square-root scale, so that rare confusions stand
    out next to the large diagonal; every non-zero count is written in its cell.

    Parameters
    ----------
    y_true, y_pred : array_like
        ``(m,)`` true and predicted labels.
    classes : sequence
        The labels, in the order of the rows and columns.
    title : str, optional
        Figure title; by default gives the overall accuracy.
    fig : matplotlib.figure.Figure, optional
        Draw into this (empty) figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the heat map and the per-class accuracy.
    """
    # Imported here: scikit-learn takes most of a second to load, which every other picture
    # (e.g. a quick `digitnet show`) would pay for nothing.
    from sklearn.metrics import confusion_matrix

    classes = list(classes)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    counts = confusion_matrix(y_true, y_pred, labels=classes)
    support = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a class with no examples: NaN
        fraction = counts / support[:, None]
        per_class = np.diag(counts) / support
    k = len(classes)

    side = float(np.clip(0.45 * k, 3.5, 12))
    fig = _figure((side + 4.2, side + 1.2), fig)
    heat_ax, acc_ax = fig.subplots(1, 2, width_ratios=[side, 2.4])
    _draw_counts(heat_ax, counts, fraction, classes)
    fig.colorbar(heat_ax.images[0], ax=heat_ax, shrink=0.8, label="fraction of the true class")
    _draw_class_accuracy(acc_ax, per_class, np.mean(y_true == y_pred), classes)
    if title is None:
        title = f"Confusion matrix: {np.mean(y_true == y_pred):.1%} of {len(y_true)} correct"
    fig.suptitle(title)
    return fig


def _draw_counts(ax: Axes, counts: np.ndarray, fraction: np.ndarray, classes: list) -> None:
    k = len(classes)
    norm = PowerNorm(gamma=0.5, vmin=0, vmax=1)
    cmap = colormaps["Blues"]
    ax.imshow(np.nan_to_num(fraction), cmap=cmap, norm=norm)
    ticks = np.arange(k)
    names = [str(c) for c in classes]
    ax.set_xticks(ticks, names)
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(length=0)
    if k > 30:  # the numbers would be unreadable; the colours still tell the story
        return
    fontsize = float(np.clip(110 / k, 6, 11))
    for i, j in zip(*np.nonzero(counts)):
        dark = norm(fraction[i, j]) > 0.55
        ax.text(
            j,
            i,
            str(counts[i, j]),
            ha="center",
            va="center",
            fontsize=fontsize,
            color="white" if dark else "black",
        )


def _draw_class_accuracy(ax: Axes, per_class: np.ndarray, overall: float, classes: list) -> None:
    """A dot per class (not bars: the axis starts near the lowest accuracy, not at 0)."""
    rows = np.arange(len(classes))
    left = max(0.0, np.nanmin(per_class, initial=overall) - 0.12)  # room for the value labels
    ax.plot(per_class, rows, "o", color="tab:blue")
    ax.axvline(overall, color="0.5", linestyle="--", linewidth=1, label=f"overall {overall:.1%}")
    for row, value in zip(rows, per_class):
        if np.isnan(value):
            ax.text(left, float(row), " no examples", va="center", fontsize=8, color="0.4")
        else:
            ax.annotate(
                f"{value:.1%}",
                (value, row),
                xytext=(-6, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=8,
            )
    ax.set_xlim(left, 1.02)  # a dot at 100% drawn whole
    ax.set_ylim(len(classes) - 0.5, -0.5)  # rows top to bottom, like the heat map
    ax.set_yticks(rows, [str(c) for c in classes])
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.set_title("Accuracy per class")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)


def plot_mistakes(
    X,
    y_true,
    y_pred,
    confidence,
    image_shape: Sequence[int],
    pixel_order: str,
    n: int = 16,
    *,
    fig: Figure | None = None,
) -> Figure:
    """Draw the wrongly predicted examples the model was most sure of.

    Parameters
    ----------
    X : array_like
        ``(m, height * width)`` one image per row.
    y_true, y_pred : array_like
        ``(m,)`` true and predicted labels.
    confidence : array_like
        ``(m,)`` the probability the model gave its prediction, e.g.
        ``model.predict_proba(X).max(axis=1)``.
    image_shape : (int, int)
        ``(height, width)`` of one upright image.
    pixel_order : {"C", "F"}
        How each row is unrolled.
    n : int
        At most this many mistakes, most confident first.
    fig : matplotlib.figure.Figure, optional
        Draw into this (empty) figure instead of a new one.

    Returns
    -------
    matplotlib.figure.Figure
        The figure: one image per mistake with its true and predicted label and probability, or
        a note that there are none.
    """
    images = upright_images(X, image_shape, pixel_order)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    confidence = np.asarray(confidence, dtype=np.float64)
    if not len(images) == len(y_true) == len(y_pred) == len(confidence):
        raise ValueError(
            f"X, y_true, y_pred and confidence must have one row each per example, got lengths "
            f"{len(images)}, {len(y_true)}, {len(y_pred)}, {len(confidence)}"
        )
    wrong = np.flatnonzero(y_true != y_pred)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:n]

    rows, cols = _grid_shape(max(len(worst), 1))
    fig = _figure((1.7 * cols + 0.2, 1.9 * rows + 0.6), fig)
    if len(worst) == 0:
        fig.text(0.5, 0.5, "No mistakes", ha="center", va="center", fontsize=14)
        return fig
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, index in zip(axes, worst):
        ax.imshow(
            _scaled(images[index][None])[0], cmap="gray", vmin=-1, vmax=1, interpolation="nearest"
        )
        ax.set_title(
            f"true {y_true[index]}, predicted {y_pred[index]}\n{confidence[index]:.0%} sure",
            fontsize=9,
        )
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"The {len(worst)} most confident of {len(wrong)} mistakes")
    return fig


# --- output -------------------------------------------------------------------------------------


def _close(fig: Figure) -> None:
    """Release a figure: pyplot keeps its own figures alive until closed; ours need nothing."""
    if fig.canvas.manager is not None:
        import matplotlib.pyplot as plt  # only reached for a figure pyplot made, so already loaded

        plt.close(fig)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically, then close it.

    The picture goes to a temporary file in the same folder, renamed over ``path`` only when
    complete, so a reader (a web page, a report) never sees a half-written file.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path : str or os.PathLike
        Where to write it; missing parent folders are created.
    dpi : int
        Resolution: the PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return write_atomically(
            path, lambda file: fig.savefig(file, format="png", dpi=dpi), overwrite=True
        )
    finally:
        _close(fig)


def figure_to_png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The PNG of ``fig`` as bytes (e.g. for a ``data:image/png;base64,`` URI), then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.
    dpi : int
        Resolution: the PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        _close(fig)
    return buffer.getvalue()
