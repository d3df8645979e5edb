"""One self-contained HTML page about a trained model: model card, metrics and every picture.

The page opens offline: pictures are embedded as ``data:`` URIs and the style is inline, with no
scripts, fonts or stylesheets fetched from anywhere.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitnet import plots, settings
from digitnet.architecture import describe
from digitnet.files import write_atomically
from digitnet.model import Model

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { padding: 0.25em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; } .big { font-size: 2em; font-weight: 600; }
"""


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on a labelled set: what the metrics and pictures are made from."""

    X: np.ndarray  # (m, n)
    y: np.ndarray  # (m,) true labels
    predicted: np.ndarray  # (m,)
    confidence: np.ndarray  # (m,) probability of the predicted label
    name: str

    @classmethod
    def of(cls, model: Model, X: np.ndarray, y: np.ndarray, name: str) -> Evaluation:
        predicted = model.predict(X)
        proba = model.predict_proba(X)
        confidence = proba[np.arange(len(proba)), model.labels.encode(predicted)]
        return cls(X, np.asarray(y), predicted, confidence, name)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predicted == self.y))


def build_report(model: Model, evaluation: Evaluation, *, title: str = "digitnet model") -> str:
    """The HTML page for ``model`` judged on ``evaluation`` (usually a held-out test set)."""
    shape, order = model.image_shape, model.known_pixel_order()
    classes = list(model.labels.classes)
    sections = [
        ("Model card", _model_card(model)),
        ("Metrics", _metrics(evaluation, classes)),
        (
            "The data",
            _figure(
                plots.plot_data(evaluation.X, shape, order, labels=evaluation.y, rng=0),
                f"100 random digits of {evaluation.name}, each scaled to its own maximum.",
            ),
        ),
        (
            "Hidden units",
            _figure(
                plots.plot_hidden_units(model),
                "Each first-layer unit's incoming weights as an image: red excites, blue inhibits.",
            ),
        ),
        ("Learning curves", _learning_curves(model)),
        (
            "Confusion matrix",
            _figure(
                plots.plot_confusion(evaluation.y, evaluation.predicted, classes),
                "Rows: true label; columns: predicted. Right: accuracy per class.",
            ),
        ),
        (
            "Most confident mistakes",
            _figure(
                plots.plot_mistakes(
                    evaluation.X,
                    evaluation.y,
                    evaluation.predicted,
                    evaluation.confidence,
                    shape,
                    order,
                ),
                "The wrong answers the network was surest of.",
            ),
        ),
    ]
    body = "\n".join(f"<section><h2>{name}</h2>\n{content}</section>" for name, content in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def write_report(html_text: str, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write the page atomically; an existing file is kept unless ``overwrite``."""
    return write_atomically(
        path, lambda file: file.write(html_text.encode("utf-8")), overwrite=overwrite
    )


def _figure(fig, caption: str) -> str:
    data = base64.b64encode(plots.figure_to_png_bytes(fig)).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(rows, header=None) -> str:
    head = "" if header is None else "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"
    cells = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table>{head}{cells}</table>"


def _cell(value) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, (int, np.integer)):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _model_card(model: Model) -> str:
    info = model.info
    rows = [
        ("architecture", describe(model)),
        ("classes", ", ".join(map(str, model.labels.classes))),
        (
            "input",
            f"{model.image_shape[0]}x{model.image_shape[1]} images, {model.pixel_order}-order rows"
            if model.pixel_order
            else f"{model.layer_sizes[0]} values per row (image layout unknown)",
        ),
        ("weights", str(model.dtype)),
    ]
    names = {
        "lam": "lambda",
        "solver": "solver",
        "learning_rate": "learning rate",
        "schedule": "learning-rate schedule",
        "nesterov": "Nesterov momentum",
        "dropout": "dropout",
        "augment": "augmentation",
        "n_iter": "iterations",
        "stop_reason": "stopped",
        "random_state": "seed",
        "init_epsilon": "init epsilon",
        "n_train": "training examples",
        "n_validation": "validation examples",
        "train_time_s": "time taken (s)",
        "data_fingerprint": "training data (sha256)",
        "digitnet_version": "digitnet",
    }
    rows += [(label, info[key]) for key, label in names.items() if info.get(key) is not None]
    return _table(rows)


def _metrics(evaluation: Evaluation, classes: list) -> str:
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, _, support = precision_recall_fscore_support(
        evaluation.y, evaluation.predicted, labels=classes, zero_division=0
    )
    per_class = _table(
        [
            (c, float(p), float(r), int(s))
            for c, p, r, s in zip(classes, precision, recall, support)
        ],
        header=["class", "precision", "recall", "examples"],
    )
    return (
        f'<p><span class="big">{evaluation.accuracy:.2%}</span> accuracy on '
        f"{len(evaluation.y)} examples of {html.escape(evaluation.name)}</p>{per_class}"
    )


def _learning_curves(model: Model) -> str:
    if not len(model.history.get("cost", [])):
        return "<p>This model has no training history (imported weights).</p>"
    step = settings.step_word(model.info.get("solver"))
    return _figure(
        plots.plot_learning_curves(model.history, step=step),
        f"Cost and accuracy per {step} (validation when a validation set was held out). The "
        "training cost is what training minimizes, with the L2 penalty; the validation cost is "
        "the cross-entropy alone, so it may lie below the training cost without saying the "
        "network generalizes well: compare the accuracies.",
    )
