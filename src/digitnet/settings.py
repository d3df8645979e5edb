"""The training settings, each defined once: name, command-line flag, default, check and help.

``digitnet train`` builds its options from here, and ``train.train`` and ``DigitNetClassifier``
take their defaults and checks from here, so a setting means the same through every door and
``random_state=0`` gives the same weights through all three. Only the words of an error differ:
Python names in Python (``lam must be >= 0``), flags at the command line (``--lam must be >= 0``),
where the error is a usage error raised before any data is read.

Three defaults depend on other settings: ``max_iter`` (None) is 100 iterations for the full-batch
solvers and 20 epochs for the mini-batch ones; ``validation_fraction`` (None) holds out 10%
when early stopping needs a validation set and nothing otherwise; and ``init_epsilon`` ("auto") is
the course's 0.12 for the course's network (sigmoid hidden units, sigmoid outputs) and otherwise
None, the range per layer and activation (``network.init_epsilon``: He for relu and leaky_relu,
Glorot for sigmoid and tanh). An explicit number (or None) is used as given.

Some settings only mean something to the mini-batch solvers (adam, sgd): ``dropout``, ``schedule``,
``augment``, and ``nesterov`` (sgd only). Asking for them with lbfgs or cg is an error, not a
silent no-op.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

SOLVERS = ("lbfgs", "cg", "adam", "sgd")
FULL_BATCH = ("lbfgs", "cg")


def step_word(solver: str | None) -> str:
    """What one step of ``solver`` (one history row) is called: an iteration of the full batch
    (lbfgs, cg), an epoch of mini-batches (adam, sgd)."""
    return "iteration" if solver in FULL_BATCH or solver is None else "epoch"


# The names of network.HIDDEN_ACTIVATIONS and network.OUTPUT_LOSSES (a test keeps them equal;
# settings imports nothing heavy, so the command line starts fast).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")
OUTPUTS = ("sigmoid", "softmax")
SCHEDULES = ("constant", "step", "cosine")
AUTO = "auto"  # init_epsilon's default: see init_epsilon_for
COURSE_EPSILON = 0.12
DEFAULT_MAX_ITER = {"lbfgs": 100, "cg": 100, "adam": 20, "sgd": 20}
DEFAULT_LEARNING_RATE = {"adam": 1e-3, "sgd": 0.1}
EARLY_STOPPING_FRACTION = 0.1


class SettingError(ValueError):
    """A training setting out of range; the message names it in the words of the door."""


@dataclass(frozen=True)
class Setting:
    """One training setting.

    Attributes
    ----------
    name : the Python name (``train.train``'s keyword, ``DigitNetClassifier``'s parameter).
    flag : the command line's option.
    default : the default everywhere.
    kind : ``int``, ``float``, ``bool`` or ``str``: what one value on the command line is.
    help : one line for ``--help`` and the docs.
    problem : ``problem(value) -> None`` when the value is fine, else what it must be
        (``"must be >= 0"``).
    choices : the allowed values of a ``str`` setting.
    """

    name: str
    flag: str
    default: object
    kind: type
    help: str
    problem: Callable[[object], str | None]
    choices: tuple = ()


def _number(*, low=None, high=None, open_low=False, open_high=False, integer=False, none=False):
    """A ``problem`` function for a number in a range (``None`` allowed when ``none``)."""

    def problem(value) -> str | None:
        if value is None and none:
            return None
        kind = Integral if integer else Real
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return "must be an integer" if integer else "must be a finite number"
        if low is not None and (value < low or (open_low and value == low)):
            return f"must be {'>' if open_low else '>='} {low}"
        if high is not None and (value > high or (open_high and value == high)):
            return f"must be {'<' if open_high else '<='} {high}"
        return None

    return problem


def _one_of(choices):
    def problem(value) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return problem


def _flag(value) -> str | None:
    # NumPy's booleans too (a grid search's np.array([True, False])), without importing NumPy
    # here: the command line reads these settings before it needs NumPy.
    numpy_bool = type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")
    return None if isinstance(value, bool) or numpy_bool else "must be True or False"


def _sizes(value) -> str | None:
    try:
        hidden_sizes(value)
    except (TypeError, ValueError):
        return "must be positive integers (an int for one hidden layer)"
    return None


def _init_epsilon(value) -> str | None:
    if value == AUTO:
        return None
    problem = _number(low=0, open_low=True, none=True)(value)
    return problem and f"{problem} (or 'auto', or None)"


def _seed(value) -> str | None:
    ok = value is None or (
        isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= 0
    )
    return None if ok else "must be a non-negative int or None"


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("hidden_layer_sizes", "--hidden", (25,), int,
                "Hidden layer size; repeat for more layers. [25]", _sizes),
        Setting("activation", "--activation", "sigmoid", str,
                "Hidden units: sigmoid (the course's), tanh, relu or leaky_relu (slope 0.01).",
                _one_of(ACTIVATIONS), ACTIVATIONS),
        Setting("output", "--output", "sigmoid", str,
                "Output: sigmoid (the course's K sigmoids) or softmax (categorical cross entropy).",
                _one_of(OUTPUTS), OUTPUTS),
        Setting("lam", "--lam", 1.0, float,
                "Regularization lambda: the penalty is lam / (2 m) times the squared weights.",
                _number(low=0)),
        Setting("solver", "--solver", "lbfgs", str,
                "lbfgs, cg (full batch) or adam, sgd (mini-batch).", _one_of(SOLVERS), SOLVERS),
        Setting("max_iter", "--max-iter", None, int,
                "Iterations of lbfgs and cg [100]; epochs of adam and sgd [20].",
                _number(low=1, integer=True, none=True)),
        Setting("tol", "--tol", 1e-8, float,
                "Stop when the gradient (lbfgs, cg) or the epoch cost (adam, sgd) moves less.",
                _number(low=0)),
        Setting("batch_size", "--batch-size", 200, int, "Mini-batch size (adam, sgd).",
                _number(low=1, integer=True)),
        Setting("learning_rate", "--lr", None, float,
                "Learning rate of adam [0.001] and sgd [0.1].",
                _number(low=0, open_low=True, none=True)),
        Setting("momentum", "--momentum", 0.9, float, "Momentum of sgd.",
                _number(low=0, high=1, open_high=True)),
        Setting("nesterov", "--nesterov", False, bool, "Nesterov momentum for sgd.", _flag),
        Setting("schedule", "--schedule", "constant", str,
                "Learning rate of adam, sgd: constant, step (halved every epochs // 3 epochs) "
                "or cosine (to 0 over all steps).", _one_of(SCHEDULES), SCHEDULES),
        Setting("dropout", "--dropout", 0.0, float,
                "Drop hidden units with this probability while training (adam, sgd).",
                _number(low=0, high=1, open_high=True)),
        Setting("augment", "--augment", False, bool,
                "Distort each epoch's training images at random: rotation, scale, shift "
                "(adam, sgd).", _flag),
        Setting("validation_fraction", "--validation", None, float,
                "Fraction held out for validation scores [0.1 with early stopping, else 0].",
                _number(low=0, high=1, open_high=True, none=True)),
        Setting("early_stopping", "--early-stopping", False, bool,
                "Stop when validation accuracy stops improving; keep the best weights.", _flag),
        Setting("n_iter_no_change", "--patience", 10, int,
                "Iterations without improvement before early stopping (or adam/sgd) stops.",
                _number(low=1, integer=True)),
        Setting("random_state", "--seed", 0, int,
                "Seed of the initial weights, the shuffling and the splits.", _seed),
        Setting("init_epsilon", "--init-epsilon", AUTO, float,
                "Initial weights are uniform in [-e, e]; auto: the course's 0.12 for sigmoid/"
                "sigmoid, else He (relu family) or Glorot per layer.", _init_epsilon),
    ]
}  # fmt: skip

DEFAULTS: dict[str, Any] = {name: s.default for name, s in SETTINGS.items()}
"""Each setting's default, for the signatures of ``train.train`` and ``DigitNetClassifier``."""


def python_name(name: str) -> str:
    """The words of the Python doors: the setting's own name."""
    return name


def hidden_sizes(value) -> tuple[int, ...]:
    """Hidden layer sizes as a tuple of ints: an int is one layer; ``()`` is none.

    Raises ``ValueError`` for anything else, such as zero, negative or fractional sizes.
    """
    sizes: tuple[Any, ...]
    if isinstance(value, Integral) and not isinstance(value, bool):
        sizes = (value,)
    elif isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        sizes = (None,)
    else:
        sizes = tuple(value)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and int(s) >= 1 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be positive integers, got {value!r}")
    return tuple(int(s) for s in sizes)


def max_iter_for(solver: str, max_iter: int | None) -> int:
    """``max_iter``, or the solver's default when it is None."""
    return DEFAULT_MAX_ITER[solver] if max_iter is None else int(max_iter)


def init_epsilon_for(
    init_epsilon: float | str | None, activation: str, output: str
) -> float | None:
    """``init_epsilon``, or for "auto" the course's 0.12 for the course's network (sigmoid,
    sigmoid) and None (per layer and activation: He or Glorot) for any other."""
    if init_epsilon != AUTO:
        return None if init_epsilon is None else float(init_epsilon)  # type: ignore[arg-type]
    course = activation == "sigmoid" and output == "sigmoid"
    return COURSE_EPSILON if course else None


def validation_fraction_for(
    fraction: float | None, early_stopping: bool, has_validation_data: bool = False
) -> float:
    """``validation_fraction``, or its default when None: 10% when early stopping needs it."""
    if fraction is not None:
        return float(fraction)
    return EARLY_STOPPING_FRACTION if early_stopping and not has_validation_data else 0.0


def check(values: Mapping[str, object], words: Callable[[str], str] = python_name) -> None:
    """Raise :class:`SettingError` for the first value out of range, or a clash between two.

    Parameters
    ----------
    values : setting name -> value; names not in ``SETTINGS`` are ignored, missing ones are not
        checked.
    words : setting name -> how the door names it (``python_name``, or the command line's flag).
    """
    for name, value in values.items():
        setting = SETTINGS.get(name)
        problem = setting and setting.problem(value)
        if problem:
            raise SettingError(f"{words(name)} {problem}, got {value!r}")
    if values.get("early_stopping") and values.get("validation_fraction") == 0:
        raise SettingError(
            f"{words('early_stopping')} needs a validation set: {words('validation_fraction')} > 0"
        )
    solver = values.get("solver")
    if solver in FULL_BATCH:
        for name in ("dropout", "augment"):
            if values.get(name):
                raise SettingError(
                    f"{words(name)} needs a mini-batch solver (adam, sgd), not {solver}"
                )
        if values.get("schedule", "constant") != "constant":
            raise SettingError(
                f"{words('schedule')} {values['schedule']} needs a mini-batch solver (adam, sgd), "
                f"not {solver}"
            )
    if values.get("nesterov") and solver is not None and solver != "sgd":
        raise SettingError(f"{words('nesterov')} is a momentum of sgd, not of {solver}")
