"""Class labels <-> output units.

A network with K outputs reads "output unit k is on" as "the label is ``classes[k]``". Any set of
two or more labels works (integers or strings). The order of ``classes`` is part of the model: the
course's pre-trained weights put the digits 1..9 on units 0..8 and the digit 0 on unit 9 (the course
writes that label as 10), which is ``COURSE_DIGITS`` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

# The course's output order for digit labels 0..9: unit k means digit (k + 1) % 10.
COURSE_DIGITS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 0)


@dataclass(frozen=True)
class LabelMap:
    """The label of each output unit: ``classes[k]`` is what unit ``k`` means.

    Build one with ``LabelMap.fit(y)`` (sorted unique labels) or give the order yourself, e.g.
    ``LabelMap(COURSE_DIGITS)`` for the course's weights with digit labels, or
    ``LabelMap(range(1, 11))`` for the course's own labels 1..10.
    """

    classes: tuple

    def __init__(self, classes) -> None:
        classes = tuple(np.asarray(classes).tolist())
        if len(classes) < 2:
            raise ValueError(
                f"a classifier needs at least 2 classes, got {len(classes)} class: {classes}"
            )
        if len(set(classes)) != len(classes):
            raise ValueError(f"class labels must be distinct, got {classes}")
        object.__setattr__(self, "classes", classes)

    @classmethod
    def fit(cls, y) -> LabelMap:
        """The sorted distinct labels of ``y: (m,)``."""
        return cls(np.unique(np.asarray(y)))

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, y) -> np.ndarray:
        """Labels ``y: (m,)`` -> output unit indices ``(m,)`` int64; unknown labels raise."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"labels must be a 1-D array, got shape {y.shape}")
        index = {label: k for k, label in enumerate(self.classes)}
        try:
            return np.fromiter((index[label] for label in y.tolist()), np.int64, len(y))
        except KeyError as err:
            unknown = sorted(set(y.tolist()) - set(self.classes), key=str)
            raise ValueError(
                f"labels {unknown[:10]} are not among the model's classes {list(self.classes)}"
            ) from err

    def decode(self, units) -> np.ndarray:
        """Output unit indices ``(m,)`` -> labels ``(m,)``."""
        return np.asarray(self.classes)[np.asarray(units)]

    def one_hot(self, y, dtype=np.float64, order: Literal["C", "F"] = "C") -> np.ndarray:
        """Labels ``y: (m,)`` -> targets ``Y: (m, K)`` with a single 1 per row, in ``order``."""
        return one_hot_units(self.encode(y), len(self.classes), dtype, order)


def one_hot_units(
    units: np.ndarray, n_units: int, dtype=np.float64, order: Literal["C", "F"] = "C"
) -> np.ndarray:
    """Output unit indices ``(m,)`` -> targets ``Y: (m, n_units)`` with a single 1 per row, in
    ``order``: ``LabelMap.one_hot`` once the labels are encoded (Dask workers make theirs so)."""
    Y = np.zeros((len(units), n_units), dtype=dtype, order=order)
    Y[np.arange(len(units)), units] = 1
    return Y
