"""``DigitNetClassifier``: digitnet as a scikit-learn estimator (pipelines, grid search, CV).

Compared with ``sklearn.neural_network.MLPClassifier`` it keeps the course's exact semantics
(sigmoid outputs, cross entropy per output unit, ``lam`` scaled by ``1/m``), records a per-iteration
history and supports early stopping for every solver, L-BFGS and CG included, and reads and writes
the course's Octave weights.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from digitnet import model_io
from digitnet import train as training
from digitnet.labels import LabelMap
from digitnet.model import Model

SOLVERS = ("lbfgs", "cg", "adam", "sgd")


class DigitNetClassifier(ClassifierMixin, BaseEstimator):
    """A sigmoid network trained on the course's regularized cross-entropy cost.

    Parameters
    ----------
    hidden_layer_sizes : sizes of the hidden layers, ``(25,)`` as in the course.
    lam : regularization strength lambda (the penalty is ``lam / (2 m)`` times the squared weights).
    solver : ``"lbfgs"``, ``"cg"`` (full batch) or ``"adam"``, ``"sgd"`` (mini-batch).
    max_iter : iterations (lbfgs, cg) or epochs (adam, sgd).
    tol : stop when the cost improves less than this (solver-specific, see ``digitnet.train``).
    batch_size : mini-batch size for adam and sgd.
    learning_rate : step size for adam and sgd; ``None`` takes the solver's default.
    early_stopping : hold out ``validation_fraction`` of the data and keep the weights with the best
        validation accuracy, stopping after ``n_iter_no_change`` iterations without improvement.
    validation_fraction : share of the training data held out for validation scores.
    n_iter_no_change : patience of early stopping.
    init_epsilon : initial weights are uniform in ``[-init_epsilon, init_epsilon]`` (the course's
        0.12); ``None`` uses ``sqrt(6) / sqrt(L_in + L_out)`` per layer.
    random_state : seed or ``RandomState`` for the initial weights and data splits.
    warm_start : continue from the previous fit's weights.
    verbose : print one line per iteration.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_ (when fitted on a DataFrame), thetas_ (the course's
    weight matrices), n_iter_, loss_curve_ and validation_scores_ (one value per iteration, for
    every solver), best_loss_, model_ (the ``digitnet.model.Model``).
    """

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        *,
        lam=1.0,
        solver="lbfgs",
        max_iter=200,
        tol=1e-8,
        batch_size=200,
        learning_rate=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        init_epsilon=0.12,
        random_state=None,
        warm_start=False,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.lam = lam
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init_epsilon = init_epsilon
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose

    def fit(self, X, y, sample_weight=None):
        """Train on ``X: (m, n)`` and labels ``y: (m,)``; returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != (len(y),):
                raise ValueError(
                    f"sample_weight has shape {sample_weight.shape}, expected ({len(y)},)"
                )
        warm = self.warm_start and hasattr(self, "model_")
        labels = self.model_.labels if warm else LabelMap.fit(y)
        if warm and not set(np.unique(y).tolist()) <= set(labels.classes):
            raise ValueError("warm_start needs the classes of the first fit")
        # An integer seed drawn from random_state: reproducible when it is an int or a RandomState.
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.model_ = training.train(
            X,
            y,
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            lam=self.lam,
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction if self.early_stopping else 0.0,
            n_iter_no_change=self.n_iter_no_change,
            random_state=seed,
            init_epsilon=self.init_epsilon,
            initial=self.model_ if warm else None,
            labels=labels,
            sample_weight=sample_weight,
            progress=self._print_row if self.verbose else None,
        )
        self._set_fitted_attributes()
        return self

    def _set_fitted_attributes(self) -> None:
        history = self.model_.history
        self.classes_ = np.asarray(self.model_.labels.classes)
        self.thetas_ = self.model_.thetas
        self.n_iter_ = len(history.get("cost", []))
        self.loss_curve_ = list(np.asarray(history.get("cost", []), dtype=float))
        self.validation_scores_ = list(np.asarray(history.get("val_accuracy", []), dtype=float))
        self.best_loss_ = min(self.loss_curve_) if self.loss_curve_ else np.nan

    def _print_row(self, history) -> None:
        print(f"Iteration {len(history)}, loss = {history.cost[-1]:.8f}")

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(m, K)``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.model_.predict_proba(X.astype(self.model_.dtype, copy=False))

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """Most likely class ``(m,)`` for each row of ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.model_.predict(X.astype(self.model_.dtype, copy=False))

    def save(self, path, *, overwrite: bool = False):
        """Write the fitted network to a digitnet model file (``.npz``, no pickle)."""
        check_is_fitted(self)
        return model_io.save(self.model_, path, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> DigitNetClassifier:
        """A fitted classifier from a digitnet model file."""
        return cls._from_model(model_io.load(path))

    @classmethod
    def from_octave(cls, path) -> DigitNetClassifier:
        """A fitted classifier from the course's ``ex4weights.mat`` (``Theta1``, ``Theta2``)."""
        return cls._from_model(model_io.import_octave(path))

    @classmethod
    def _from_model(cls, model: Model) -> DigitNetClassifier:
        info = model.info
        clf = cls(
            hidden_layer_sizes=tuple(model.layer_sizes[1:-1]),
            **{k: info[k] for k in ("lam", "solver", "max_iter") if k in info},
        )
        clf.model_ = model
        clf.n_features_in_ = model.layer_sizes[0]
        clf._set_fitted_attributes()
        return clf

    def _check_params(self) -> None:
        """Messages name the parameter, as scikit-learn's own estimators do."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        if not all(isinstance(s, Integral) and s >= 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}"
            )
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        _number("lam", self.lam, low=0)
        _number("max_iter", self.max_iter, low=1, integer=True)
        _number("tol", self.tol, low=0)
        _number("batch_size", self.batch_size, low=1, integer=True)
        _number("n_iter_no_change", self.n_iter_no_change, low=1, integer=True)
        _number("validation_fraction", self.validation_fraction, low=0, high=1, open_high=True)
        if self.learning_rate is not None:
            _number("learning_rate", self.learning_rate, low=0, open_low=True)
        if self.init_epsilon is not None:
            _number("init_epsilon", self.init_epsilon, low=0, open_low=True)
        if self.early_stopping and self.validation_fraction == 0:
            raise ValueError("early_stopping needs validation_fraction > 0")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _number(name, value, *, low=None, high=None, integer=False, open_low=False, open_high=False):
    kind = Integral if integer else Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
        what = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if low is not None and (value < low or (open_low and value == low)):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (open_high and value == high)):
        raise ValueError(f"{name} must be {'<' if open_high else '<='} {high}, got {value!r}")
