"""``DigitNetClassifier``: digitnet as a scikit-learn estimator (pipelines, grid search, CV).

Compared with ``sklearn.neural_network.MLPClassifier`` it keeps the course's exact semantics
(sigmoid outputs, cross entropy per output unit, ``lam`` scaled by ``1/m``), records a per-iteration
history and supports early stopping for every solver, L-BFGS and CG included, and reads and writes
the course's Octave weights.
"""

from __future__ import annotations

import dataclasses
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data

from digitnet import model_io, network, settings
from digitnet import train as training
from digitnet.labels import LabelMap
from digitnet.model import Model
from digitnet.settings import DEFAULTS

_STOCHASTIC = ("adam", "sgd")


class DigitNetClassifier(ClassifierMixin, BaseEstimator):
    """A neural network trained on a regularized cross-entropy cost (the course's by default).

    The training parameters are ``digitnet.train.train``'s, with the same defaults and checks
    (``digitnet.settings``): ``random_state=0`` gives the weights ``train.train`` gives.

    Parameters
    ----------
    hidden_layer_sizes : sizes of the hidden layers, ``(25,)`` as in the course (an int: one).
    lam : regularization strength lambda (the penalty is ``lam / (2 m)`` times the squared weights).
    solver : ``"lbfgs"``, ``"cg"`` (full batch) or ``"adam"``, ``"sgd"`` (mini-batch).
    max_iter : iterations (lbfgs, cg) or epochs (adam, sgd); None: 100 iterations or 20 epochs.
    tol : stop when the cost improves less than this (solver-specific, see ``digitnet.train``).
    batch_size : mini-batch size for adam and sgd.
    learning_rate : step size for adam and sgd; ``None`` takes the solver's default.
    momentum : momentum of sgd.
    early_stopping : hold out ``validation_fraction`` of the data and keep the weights with the best
        validation accuracy, stopping after ``n_iter_no_change`` iterations without improvement.
    validation_fraction : share of the training data held out for validation scores; None: 0.1
        when early stopping, else none.
    n_iter_no_change : patience of early stopping.
    activation : hidden units, ``"sigmoid"`` (the course's), ``"tanh"``, ``"relu"`` or
        ``"leaky_relu"``.
    output : ``"sigmoid"`` (the course's K independent sigmoids, binary cross-entropy summed over
        units) or ``"softmax"`` (categorical cross-entropy).
    dropout : share of hidden units dropped in each training step (adam, sgd).
    schedule : learning-rate schedule of adam and sgd, ``"constant"``, ``"step"`` or ``"cosine"``
        (``learning_rate`` is the step size it starts from).
    nesterov : Nesterov momentum for sgd.
    augment : random affine distortions of each epoch's training images (adam, sgd; needs
        ``pixel_order``).
    init_epsilon : initial weights are uniform in ``[-init_epsilon, init_epsilon]``; ``None``: a
        range per layer and activation (He for the relu family, Glorot otherwise); ``"auto"``
        (default): the course's 0.12 for sigmoid/sigmoid, else None (``settings.init_epsilon_for``).
    random_state : seed (int or None) or ``RandomState`` for the initial weights and data splits.
    image_shape, pixel_order : how a row of ``X`` is an image, ``(height, width)`` and ``"C"``
        (row-major) or ``"F"`` (column-major, the course's ``.mat``). The saved model records
        them, so ``digitnet predict`` reads pictures right; without them it refuses pictures.
    warm_start : ``fit`` continues from the previous fit's weights (and history) instead of
        starting anew.
    verbose : print one line per iteration.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_ (when fitted on a DataFrame), thetas_ (the course's
    weight matrices), n_iter_, loss_curve_ and validation_scores_ (one value per iteration, for
    every solver), best_loss_, model_ (the ``digitnet.model.Model``).

    Notes
    -----
    Rows that occur more than once (same ``x``, same label) are merged into one row weighted by
    their count, rows of zero weight are dropped, and whenever that leaves weights other than 1
    the rows are put in sorted order. Repeating a row and weighting it are then the same problem
    to the last bit, so every solver stops at the same point for both (scikit-learn's
    sample-weight equivalence); otherwise rounding differences in the sums grow along an L-BFGS
    path, and two fits of the same problem stopped after the same number of iterations can
    differ by a few hundredths in probability (0.02-0.03 measured after 200-400 iterations on
    the digits, rows reordered), though their predictions rarely do. Data without repeated
    rows or weights is used as it is, in its own order (``random_state`` gives the weights ``train.train`` gives). For adam and
    sgd an epoch then passes over the merged rows.
    """

    def __init__(
        self,
        hidden_layer_sizes=DEFAULTS["hidden_layer_sizes"],
        *,
        lam=DEFAULTS["lam"],
        solver=DEFAULTS["solver"],
        max_iter=DEFAULTS["max_iter"],
        tol=DEFAULTS["tol"],
        batch_size=DEFAULTS["batch_size"],
        learning_rate=DEFAULTS["learning_rate"],
        momentum=DEFAULTS["momentum"],
        early_stopping=DEFAULTS["early_stopping"],
        validation_fraction=DEFAULTS["validation_fraction"],
        n_iter_no_change=DEFAULTS["n_iter_no_change"],
        init_epsilon=DEFAULTS["init_epsilon"],
        activation=DEFAULTS["activation"],
        output=DEFAULTS["output"],
        dropout=DEFAULTS["dropout"],
        schedule=DEFAULTS["schedule"],
        nesterov=DEFAULTS["nesterov"],
        augment=DEFAULTS["augment"],
        random_state=DEFAULTS["random_state"],
        image_shape=None,
        pixel_order=None,
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
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.init_epsilon = init_epsilon
        self.activation = activation
        self.output = output
        self.dropout = dropout
        self.schedule = schedule
        self.nesterov = nesterov
        self.augment = augment
        self.random_state = random_state
        self.image_shape = image_shape
        self.pixel_order = pixel_order
        self.warm_start = warm_start
        self.verbose = verbose

    def fit(self, X, y, sample_weight=None):
        """Train on ``X: (m, n)`` and labels ``y: (m,)``; returns ``self``."""
        self._check_params()
        X, y, sample_weight, seen = self._validate_training_data(X, y, sample_weight, reset=True)
        warm = self.warm_start and hasattr(self, "model_")
        labels = self.model_.labels if warm else seen
        if warm and not set(seen.classes) <= set(labels.classes):
            raise ValueError("warm_start needs the classes of the first fit")
        self.model_ = self._train(
            X, y, sample_weight, labels, initial=self.model_ if warm else None, seed=self._seed()
        )
        self._set_fitted_attributes()
        return self

    def _check_stochastic(self) -> bool:
        if self.solver not in _STOCHASTIC:
            raise AttributeError(
                f"partial_fit is only available for the solvers {_STOCHASTIC}, not {self.solver!r}"
            )
        return True

    @available_if(_check_stochastic)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch over ``X: (m, n)``, ``y: (m,)`` (adam, sgd); returns ``self``.

        The first call starts from new weights (as ``fit`` with ``random_state``) and needs
        ``classes``, every label ``y`` will ever hold; later calls go on from the weights so far.
        Each call shuffles with its own seed drawn from ``random_state`` and the call's number.
        The optimizer's state (Adam's moments, SGD's velocity) starts afresh with each call, so
        with a ``batch_size`` below ``m`` N calls are not quite ``fit`` with ``max_iter=N``.
        No validation set is held out and ``early_stopping`` does not apply; ``schedule`` must
        be ``"constant"``.
        """
        first = not hasattr(self, "model_")
        if self.schedule != "constant":
            raise ValueError(
                f"schedule {self.schedule!r} needs the number of epochs, which partial_fit does "
                "not know (one epoch per call): use schedule='constant'"
            )
        if first:
            self._check_params()
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit")
            labels = LabelMap.fit(np.asarray(classes))
        else:
            labels = self.model_.labels
            if classes is not None and list(np.unique(classes)) != list(labels.classes):
                raise ValueError(
                    f"classes {list(np.unique(classes))} differ from the first call's "
                    f"{list(labels.classes)}"
                )
        X, y, sample_weight, seen = self._validate_training_data(X, y, sample_weight, reset=first)
        unknown = set(seen.classes) - set(labels.classes)
        if unknown:
            raise ValueError(f"y holds labels {sorted(unknown)} that classes does not")
        seed = self._seed()
        if not first and seed is not None:
            seed = int(np.random.SeedSequence([seed, len(self.loss_curve_)]).generate_state(1)[0])
        self.model_ = self._train(
            X,
            y,
            sample_weight,
            labels,
            initial=None if first else self.model_,
            seed=seed,
            max_iter=1,
            early_stopping=False,
            validation_fraction=None,
        )
        self._set_fitted_attributes()
        return self

    def _validate_training_data(self, X, y, sample_weight, *, reset: bool):
        """``(X, y, sample_weight)`` checked, repeated rows merged, rows of weight 0 dropped; and
        the labels of every row given, those of weight 0 included: a class is a class whatever
        its weight (as for scikit-learn's classifiers)."""
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        sample_weight = network.check_sample_weight(sample_weight, len(y), np.float64)
        return (*merge_repeated_rows(X, y, sample_weight), LabelMap.fit(y))

    def _train(self, X, y, sample_weight, labels, *, initial, seed, **overrides) -> Model:
        """``train.train`` with this estimator's settings (``overrides`` win)."""
        hidden = settings.hidden_sizes(self.hidden_layer_sizes)
        if initial is not None and tuple(hidden) != tuple(initial.layer_sizes[1:-1]):
            raise ValueError(
                f"hidden_layer_sizes {tuple(hidden)} differs from the fitted network's "
                f"{tuple(initial.layer_sizes[1:-1])}, which warm_start and partial_fit continue; "
                "set warm_start=False (or start a new estimator) to train another"
            )
        kwargs = {name: getattr(self, name) for name in settings.SETTINGS}
        kwargs.update(
            hidden_layer_sizes=hidden,
            random_state=seed,
            **overrides,
        )
        return training.train(
            X,
            y,
            **kwargs,
            initial=initial,
            labels=labels,
            image_shape=self.image_shape,
            pixel_order=self.pixel_order,
            sample_weight=sample_weight,
            progress=self._print_row if self.verbose else None,
        )

    def _seed(self) -> int | None:
        """``random_state`` as ``train.train`` takes it: an int or None as it is (so
        ``random_state=0`` gives the weights ``train.train(random_state=0)`` gives), and a
        ``RandomState`` as an int drawn from it."""
        if self.random_state is None or isinstance(self.random_state, Integral):
            return None if self.random_state is None else int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

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
        """A fitted classifier from a digitnet model file, with the settings it was trained
        with and ``classes_`` sorted (the output units reordered where the file's are not)."""
        return cls._from_model(model_io.load(path))

    @classmethod
    def from_octave(cls, path) -> DigitNetClassifier:
        """A fitted classifier from the course's ``ex4weights.mat`` (``Theta1``, ``Theta2``),
        ``classes_`` 0..9 (the course's units, 1..9 then 0, reordered)."""
        return cls._from_model(model_io.import_octave(path))

    @classmethod
    def _from_model(cls, model: Model) -> DigitNetClassifier:
        # The settings it was trained with, as recorded, so that clone(loaded).fit trains the
        # same way; the network's own facts (layers, family, image layout) from the model.
        own = {"hidden_layer_sizes", "activation", "output"}
        recorded = {
            name: model.info[name]
            for name in settings.SETTINGS.keys() - own
            if model.info.get(name) is not None
        }
        clf = cls(
            **recorded,
            hidden_layer_sizes=tuple(model.layer_sizes[1:-1]),
            image_shape=model.image_shape if model.pixel_order else None,
            pixel_order=model.pixel_order,
            activation=model.activation,
            output=model.output,
        )
        clf.model_ = _units_in_label_order(model)
        clf.n_features_in_ = model.layer_sizes[0]
        clf._set_fitted_attributes()
        return clf

    def _check_params(self) -> None:
        """Messages name the parameter, as scikit-learn's own estimators do (``settings.check``)."""
        values = {name: getattr(self, name) for name in settings.SETTINGS if hasattr(self, name)}
        if isinstance(self.random_state, np.random.RandomState):
            del values["random_state"]  # the one door that also takes a RandomState
        settings.check(values)
        if self.image_shape is not None and not (
            len(self.image_shape) == 2 and all(isinstance(s, Integral) for s in self.image_shape)
        ):
            raise ValueError(f"image_shape must be (height, width), got {self.image_shape!r}")
        if self.pixel_order not in ("C", "F", None):
            raise ValueError(f"pixel_order must be 'C', 'F' or None, got {self.pixel_order!r}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _units_in_label_order(model: Model) -> Model:
    """``model`` with its output units in sorted label order, as scikit-learn's tools take
    ``classes_`` and the columns of ``predict_proba`` to be: the rows of the last weight matrix
    permuted (the course's weights put the digit 0 last)."""
    classes = list(model.labels.classes)
    order = sorted(range(len(classes)), key=classes.__getitem__)
    if order == list(range(len(classes))):
        return model
    thetas = [*model.thetas[:-1], model.thetas[-1][order]]
    labels = LabelMap([classes[k] for k in order])
    return dataclasses.replace(model, thetas=thetas, labels=labels)


def merge_repeated_rows(X, y, sample_weight=None):
    """Repeated rows merged into weighted ones, so that repeating and weighting are one problem.

    Parameters
    ----------
    X : (m, n) examples; y : (m,) labels; sample_weight : (m,) non-negative weights or None.

    Returns
    -------
    X, y, sample_weight
        Rows of zero weight are dropped; rows equal in ``x`` and label become one row carrying
        their summed weight. When every weight left is 1 the rows keep their order and the
        weights are None (nothing changes for data without repeats or weights); otherwise the
        rows come in sorted order (label, then ``x``), the same for any order of the input.
    """
    if sample_weight is not None:
        keep = sample_weight > 0
        X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
    _, codes = np.unique(y, return_inverse=True)
    if (sample_weight is None or np.all(sample_weight == 1)) and not _may_repeat(X, codes):
        return X, y, None
    key = np.column_stack([codes.astype(np.float64), X])
    unique, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=sample_weight, minlength=len(unique))
    if np.all(weights == 1):
        return X, y, None
    return X[first], y[first], weights


def _may_repeat(X, codes) -> bool:
    """False when no two rows of ``X`` with the same label code are equal; True when some may
    be. A hash per row: cheap in memory (the exact test, ``np.unique``, copies ``X``)."""
    seen = set()
    for row, code in zip(X, codes):
        key = hash(((row + 0.0).tobytes(), int(code)))  # + 0.0: -0.0 becomes 0.0, as equal
        if key in seen:
            return True
        seen.add(key)
    return False
