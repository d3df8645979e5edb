"""A trained network and what it needs to be used: weights, label map, input image layout, history."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from digitnet import network
from digitnet.data import require_finite, to_float, upright_images
from digitnet.labels import LabelMap

UNKNOWN_LAYOUT = (
    "the model does not record how its input rows are laid out as images (it was trained on bare "
    "arrays), so it cannot read images; train it with image_shape and pixel_order, e.g. "
    "DigitNetClassifier(image_shape=(20, 20), pixel_order='F') for the course's .mat data"
)


@dataclass
class Model:
    """Weights plus everything needed to read an image with them.

    Attributes
    ----------
    thetas : weight matrices ``Theta_l: (s_{l+1}, 1 + s_l)``, bias in column 0.
    labels : the label of each output unit.
    image_shape : ``(height, width)`` of one input image; ``height * width == n``.
    pixel_order : ``"C"`` if a row of ``X`` is an image unrolled row-major (IDX, scikit-learn),
        ``"F"`` if column-major (the course's ``.mat`` files), None if unknown (trained on bare
        arrays): such a model reads rows but refuses images rather than guess their layout.
    info : JSON-compatible facts about training: lam, solver settings, seed, dtype, data
        fingerprint, time taken, ...
    history : per-iteration columns of the training history (``"cost"``, ``"val_accuracy"``, ...),
        each a 1-D array of the same length.
    activation : the hidden units' activation: ``"sigmoid"`` (the course's), ``"tanh"``,
        ``"relu"`` or ``"leaky_relu"``.
    output : ``"sigmoid"`` (the course's K independent sigmoids) or ``"softmax"``.
    """

    thetas: list[np.ndarray]
    labels: LabelMap
    image_shape: tuple[int, int]
    pixel_order: str | None = "C"
    info: dict = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    activation: str = "sigmoid"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        network.check_family(self.activation, self.output)
        self.thetas = [np.asarray(theta) for theta in self.thetas]
        sizes = self.layer_sizes  # validates the chain of shapes
        dtypes = sorted({theta.dtype.name for theta in self.thetas})
        if dtypes not in (["float32"], ["float64"]):
            raise ValueError(f"the weights must be all float64 or all float32, got {dtypes}")
        if len(self.labels) != sizes[-1]:
            raise ValueError(f"{len(self.labels)} labels for {sizes[-1]} output units")
        if len(self.image_shape) != 2:
            raise ValueError(f"image shape {tuple(self.image_shape)} is not (height, width)")
        if int(np.prod(self.image_shape)) != sizes[0]:
            raise ValueError(
                f"image shape {tuple(self.image_shape)} does not hold {sizes[0]} inputs"
            )
        if self.pixel_order not in ("C", "F", None):
            raise ValueError(
                f"pixel_order must be 'C', 'F' or None (unknown), got {self.pixel_order!r}"
            )
        height, width = self.image_shape
        self.image_shape = (int(height), int(width))

    @property
    def layer_sizes(self) -> list[int]:
        """``[n, h_1, ..., K]`` read off the weight shapes."""
        shapes = [theta.shape for theta in self.thetas]
        chained = (
            len(shapes) > 0
            and all(len(shape) == 2 and shape[1] > 1 for shape in shapes)
            and all(after[1] == 1 + before[0] for before, after in pairwise(shapes))
        )
        if not chained:
            raise ValueError(f"weight shapes {shapes} do not chain as (s_l+1, 1 + s_l)")
        return [shapes[0][1] - 1] + [shape[0] for shape in shapes]

    @property
    def architecture(self) -> str:
        """``"400-25-10 sigmoid"`` for the course's network; other networks name their output
        too: ``"784-512-10 relu, softmax output"``."""
        sizes = "-".join(map(str, self.layer_sizes))
        if self.output == "sigmoid" and self.activation == "sigmoid":
            return f"{sizes} sigmoid"
        return f"{sizes} {self.activation}, {self.output} output"

    @property
    def dtype(self) -> np.dtype:
        """The weights' dtype, float64 or float32: the dtype every prediction is computed in."""
        return self.thetas[0].dtype

    def __repr__(self) -> str:
        return "Model(" + ", ".join(value for _, value in self._summary()) + ")"

    def _repr_html_(self) -> str:
        """A small model card, which Jupyter shows in place of ``repr``."""
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(name)}</th>"
            f"<td style='text-align:left'>{html.escape(value)}</td></tr>"
            for name, value in self._summary()
        )
        return f"<table><caption>digitnet Model</caption>{rows}</table>"

    def _summary(self) -> list[tuple[str, str]]:
        """(name, value) facts shared by the one-line ``repr`` and the HTML card."""
        classes = list(self.labels.classes)
        shown = ", ".join(map(str, classes[:12])) + (", ..." if len(classes) > 12 else "")
        height, width = self.image_shape
        rows = [
            ("architecture", self.architecture),
            ("classes", f"{len(classes)} classes [{shown}]"),
            ("input", f"{height}x{width} images, {self.pixel_order}-order rows"),
            ("weights", self.dtype.name),
        ]
        info = self.info
        if info.get("solver"):
            lam = info.get("lam")
            rows.append(
                (
                    "training",
                    f"{info['solver']}, lam {lam:g}"
                    if isinstance(lam, (int, float))
                    else info["solver"],
                )
            )
        if info.get("n_iter") is not None:
            rows.append(
                ("iterations", f"{info['n_iter']} iterations ({info.get('stop_reason', '?')})")
            )
        cost = self.history.get("cost")
        if cost is not None and len(cost):
            rows.append(("final cost", f"cost {float(cost[-1]):.4g}"))
        if info.get("test_accuracy") is not None:
            rows.append(("test accuracy", f"test accuracy {info['test_accuracy']:.2%}"))
        return rows

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(m, K)`` for ``X: (m, n)``; column ``k`` is ``labels.classes[k]``.

        A softmax output is a distribution already. Each sigmoid output answers "is it class k?"
        on its own, so the K outputs need not sum to 1; dividing by their sum makes them a
        distribution with the same ranking. The raw outputs are ``activations(X)[-1]``.
        """
        logits = self.decision_function(X)
        if self.output == "softmax":
            return network.softmax(logits)
        # log g(z) = -softplus(-z), normalized in log space: exact even where every output
        # underflows to 0.
        log_outputs = -network.softplus(-logits)
        outputs = np.exp(log_outputs - log_outputs.max(axis=1, keepdims=True))  # largest is 1
        return outputs / outputs.sum(axis=1, keepdims=True)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The output units' logits ``z: (m, K)`` for ``X: (m, n)``, before the sigmoid or softmax."""
        return network.output_logits(self.thetas, self._check(X), self.activation, self.output)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most likely label ``(m,)`` for each row of ``X: (m, n)``: the unit of largest logit.

        Every door (command line, web page, estimator, report) predicts through here or
        ``network.predict``, so all agree, also where saturated probabilities tie.
        """
        return self.labels.decode(
            network.predict(self.thetas, self._check(X), self.activation, self.output)
        )

    def activations(self, X: np.ndarray) -> list[np.ndarray]:
        """Every layer's activations ``[X, a_2, ..., a_L]`` for ``X: (m, n)``."""
        return network.forward(self.thetas, self._check(X), self.activation, self.output)

    def images(self, X: np.ndarray) -> np.ndarray:
        """Rows of ``X: (m, n)`` as upright images ``(m, height, width)``."""
        return upright_images(X, self.image_shape, self.known_pixel_order())

    def known_pixel_order(self) -> str:
        """``pixel_order``, or a ValueError saying the model does not know how it reads images."""
        if self.pixel_order is None:
            raise ValueError(UNKNOWN_LAYOUT)
        return self.pixel_order

    def _check(self, X) -> np.ndarray:
        """``X: (m, n)`` as finite numbers in the model's dtype, so that a prediction never
        depends on the dtype it was given in (no copy when it is in that dtype already)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.layer_sizes[0]:
            raise ValueError(
                f"the model reads {self.layer_sizes[0]} inputs per example "
                f"({self.image_shape[0]}x{self.image_shape[1]} images), got X of shape {X.shape}"
            )
        X = to_float(X, self.dtype, "the model's input", "X")
        require_finite(X, "the model's input", "X")
        return X
