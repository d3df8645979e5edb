"""A trained network and what it needs to be used: weights, label map, input image layout, history."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digitnet import network
from digitnet.data import upright_images
from digitnet.labels import LabelMap


@dataclass
class Model:
    """Weights plus everything needed to read an image with them.

    Attributes
    ----------
    thetas : weight matrices ``Theta_l: (s_{l+1}, 1 + s_l)``, bias in column 0.
    labels : the label of each output unit.
    image_shape : ``(height, width)`` of one input image; ``height * width == n``.
    pixel_order : ``"C"`` if a row of ``X`` is an image unrolled row-major (IDX, scikit-learn),
        ``"F"`` if column-major (the course's ``.mat`` files).
    info : JSON-compatible facts about training: lam, solver settings, seed, dtype, data
        fingerprint, time taken, ...
    history : per-iteration columns of the training history (``"cost"``, ``"val_accuracy"``, ...),
        each a 1-D array of the same length.
    """

    thetas: list[np.ndarray]
    labels: LabelMap
    image_shape: tuple[int, int]
    pixel_order: str = "C"
    info: dict = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.thetas = [np.asarray(theta) for theta in self.thetas]
        sizes = self.layer_sizes  # validates the chain of shapes
        if len(self.labels) != sizes[-1]:
            raise ValueError(f"{len(self.labels)} labels for {sizes[-1]} output units")
        if int(np.prod(self.image_shape)) != sizes[0]:
            raise ValueError(
                f"image shape {tuple(self.image_shape)} does not hold {sizes[0]} inputs"
            )
        if self.pixel_order not in ("C", "F"):
            raise ValueError(f"pixel_order must be 'C' or 'F', got {self.pixel_order!r}")
        self.image_shape = tuple(int(s) for s in self.image_shape)

    @property
    def layer_sizes(self) -> list[int]:
        """``[n, h_1, ..., K]`` read off the weight shapes."""
        sizes = [self.thetas[0].shape[1] - 1]
        for theta in self.thetas:
            if theta.ndim != 2 or theta.shape[1] != sizes[-1] + 1:
                shapes = [t.shape for t in self.thetas]
                raise ValueError(f"weight shapes {shapes} do not chain as (s_l+1, 1 + s_l)")
            sizes.append(theta.shape[0])
        return sizes

    @property
    def dtype(self) -> np.dtype:
        return self.thetas[0].dtype

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(m, K)`` for ``X: (m, n)``; column ``k`` is ``labels.classes[k]``.

        Each sigmoid output answers "is it class k?" on its own, so the K outputs need not sum to 1;
        dividing by their sum makes them a distribution with the same ranking. The raw outputs are
        ``activations(X)[-1]``.
        """
        # log g(z) = -softplus(-z), normalized in log space: exact even where every output
        # underflows to 0.
        log_outputs = -network.softplus(-network.output_logits(self.thetas, self._check(X)))
        outputs = np.exp(log_outputs - log_outputs.max(axis=1, keepdims=True))  # largest is 1
        return outputs / outputs.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most likely label ``(m,)`` for each row of ``X: (m, n)``."""
        return self.labels.decode(np.argmax(self.predict_proba(X), axis=1))

    def activations(self, X: np.ndarray) -> list[np.ndarray]:
        """Every layer's activations ``[X, a_2, ..., a_L]`` for ``X: (m, n)``."""
        return network.forward(self.thetas, self._check(X))

    def images(self, X: np.ndarray) -> np.ndarray:
        """Rows of ``X: (m, n)`` as upright images ``(m, height, width)``."""
        return upright_images(X, self.image_shape, self.pixel_order)

    def _check(self, X) -> np.ndarray:
        X = network.as_float(X)
        if X.ndim != 2 or X.shape[1] != self.layer_sizes[0]:
            raise ValueError(
                f"the model reads {self.layer_sizes[0]} inputs per example "
                f"({self.image_shape[0]}x{self.image_shape[1]} images), got X of shape {X.shape}"
            )
        return X
