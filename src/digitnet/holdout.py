"""Honest evaluation: which rows of a data set a model has not trained on.

``digitnet train`` splits a data set that has no test split of its own (a ``.mat``, ``.npz``,
``.csv`` or the embedded digits) into training and test rows, and records the split in the model's
``info["split"]``: a fingerprint of the whole data set, the test share, the seed and a hash of the
test rows. Given the same data again, :func:`rows_to_evaluate` rebuilds the split and picks the
held-out rows, so ``evaluate`` and ``report`` do not score a model on the examples it learned.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np

from digitnet.data import stratified_split
from digitnet.model import Model
from digitnet.train import data_fingerprint


class Selection(NamedTuple):
    """The rows to evaluate on.

    Attributes
    ----------
    rows : (r,) indices into the data set's rows, ascending.
    kind : ``"held-out"`` (only rows the model did not train on) or ``"all"``.
    seen_in_training : how many of ``rows`` the model trained on (0 when held-out).
    left_out : how many rows of the data set were left out because the model trained on them.
    """

    rows: np.ndarray
    kind: str
    seen_in_training: int
    left_out: int


def split_rows(y: np.ndarray, test_size: float, random_state: int | None):
    """(training rows, test rows): a stratified split of ``range(len(y))``."""
    return stratified_split(y, test_size, random_state)


def _rows_hash(rows: np.ndarray) -> str:
    return hashlib.sha256(np.sort(np.asarray(rows, dtype=np.int64)).tobytes()).hexdigest()


def describe_split(
    X: np.ndarray, y: np.ndarray, test_rows: np.ndarray, test_size: float, random_state
) -> dict:
    """What ``info["split"]`` holds: enough to rebuild the split and to check it is the same."""
    return {
        "data_fingerprint": data_fingerprint(X, y),
        "n": len(y),
        "test_size": float(test_size),
        "random_state": random_state,
        "test_rows_sha256": _rows_hash(test_rows),
    }


def rows_to_evaluate(model: Model, X: np.ndarray, y: np.ndarray, *, all_rows: bool = False):
    """The rows of ``X: (m, n)``, ``y: (m,)`` to evaluate ``model`` on, and how many it saw.

    Rows of a data set the model was trained on are left out unless ``all_rows``: all but the
    test rows of the recorded split when ``X``, ``y`` is the data set that was split; all of it
    when it is exactly the training data. A resumed model remembers its earlier runs
    (``info["earlier_training"]``): the rows any of them trained on are left out. Any other data
    is all held out.

    Raises
    ------
    ValueError
        The data is the split data set, but the split cannot be rebuilt (another digitnet version).
    """
    everything = np.arange(len(y))
    fingerprint = data_fingerprint(X, y)
    seen = np.zeros(len(y), dtype=bool)
    for run in [model.info, *model.info.get("earlier_training", [])]:
        seen |= _seen_in(run, fingerprint, y)
    n_seen = int(seen.sum())
    if all_rows:
        return Selection(everything, "all", n_seen, 0)
    return Selection(everything[~seen], "held-out", 0, n_seen)


def _seen_in(run: dict, fingerprint: str, y: np.ndarray) -> np.ndarray:
    """Which rows of the data set of ``fingerprint`` one training run (its ``data_fingerprint``
    and ``split``) trained on."""
    split = run.get("split") or {}
    if fingerprint == split.get("data_fingerprint"):
        _, test_rows = split_rows(y, split["test_size"], split["random_state"])
        if _rows_hash(test_rows) != split["test_rows_sha256"]:
            raise ValueError(
                "the model was trained on part of this data, but its train/test split cannot be "
                "rebuilt here (a model saved by another digitnet version?)"
            )
        seen = np.ones(len(y), dtype=bool)
        seen[test_rows] = False
        return seen
    return np.full(len(y), fingerprint == run.get("data_fingerprint"))  # exactly its data, or not
