"""scikit-learn estimators over the NumPy core: NeuralNetClassifier and NeuralNetRegressor.

``hidden_layer_sizes=()`` gives logistic regression (classifier) or linear
regression (regressor); anything else a multilayer perceptron. Parameters and
fitted attributes are those of DESIGN.md; ``fit`` also takes an explicit
validation set and per-epoch callbacks, which the experiment runner uses for
learning curves, and ``fit_folds`` fits one copy per fold of a cross-validation, all
trained together in lock-step (each equal to fitting that fold alone).

Names select the common settings; for finer control ``activation``,
``optimizer`` and ``learning_rate`` also accept core objects, e.g.
``LeakyReLU(0.1)``, ``Adam(beta2=0.99, clip_norm=5.0)`` or ``Cosine(0.01, period=100)``.
Float32 input is trained in float32 (faster); anything else in float64.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .core.activations import TRAINABLE_ACTIVATIONS, Activation
from .core.hyperparameters import check_choice, check_int, check_number
from .core.losses import LOSS_NAMES
from .core.network import Network
from .core.optimizers import OPTIMIZERS, Optimizer
from .core.schedules import Schedule
from .core.training import SUMMARY_KEYS, Fold, TrainingConfig, train_folds


class _NeuralNet(BaseEstimator):
    """Shared parameter checks, network construction and training."""

    _head_losses = ()

    def _check_params(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__") or any(
            isinstance(s, bool) or not isinstance(s, Integral) or s < 1 for s in sizes
        ):
            raise ValueError(
                "hidden_layer_sizes must be a tuple of positive ints, e.g. () for no hidden "
                f"layer or (64, 32), got {sizes!r}."
            )
        check_choice("activation", self.activation, TRAINABLE_ACTIVATIONS, Activation)
        check_choice("loss", self.loss, self._head_losses)
        check_choice("optimizer", self.optimizer, sorted(OPTIMIZERS), Optimizer)
        if not isinstance(self.learning_rate, Schedule):
            check_number("learning_rate", self.learning_rate, low=0.0, low_open=True,
                          extra="(a positive float) or a Schedule instance")
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, low=1, extra="or None for full-batch")
        check_int("max_epochs", self.max_epochs, low=1)
        check_number("l1", self.l1, low=0.0)
        check_number("l2", self.l2, low=0.0)
        check_number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        check_choice("early_stopping", self.early_stopping, (True, False))
        check_int("patience", self.patience, low=1)
        check_number("validation_fraction", self.validation_fraction, 0.0, 1.0, True, True)
        check_choice("warm_start", self.warm_start, (True, False))

    def _fit(self, X, y, sample_weight, validation_data, on_epoch_end):
        network, fold, rng, warm = self._prepare(X, y, sample_weight, validation_data,
                                                 on_epoch_end)
        history = train_folds([network], [fold], self._training_config(), [rng])[0]
        self._store(network, history, warm)
        return self

    def fit_folds(self, folds, sample_weight=None, on_epoch_end=None, val_scores=None):
        """Fit one copy of this estimator per fold, all trained together in lock-step as one
        stacked model (``pipeline.core.lockstep``): the folds of a cross-validation, its
        repeats, the final refit.

        Parameters
        ----------
        folds : list of tuples ``(X, y, X_val, y_val, random_state)``
            Training rows (counts may differ), validation rows (or None, None: then
            ``early_stopping`` carves its own, as ``fit`` does) and the fold's seed.
        sample_weight, on_epoch_end : lists with one entry per fold, optional
            As in ``fit``; every fold weighted, or none.
        val_scores : dict, optional
            name -> ``f(T_val, predicted)`` in every fold's ``history_`` each epoch, on its
            validation rows (``pipeline.core.lockstep.Fold``).

        Returns
        -------
        list of fitted estimators
            Fold k's equals, bit for bit, ``clone(self).set_params(random_state=seed_k).fit(
            X_k, y_k, sample_weight_k, (X_val_k, y_val_k), on_epoch_end_k)``.
        """
        weights = sample_weight or [None] * len(folds)
        callbacks = on_epoch_end or [None] * len(folds)
        if not (len(weights) == len(callbacks) == len(folds) > 0):
            raise ValueError(f"fit_folds needs folds and one sample_weight and on_epoch_end "
                             f"entry per fold, got {len(folds)}, {len(weights)}, {len(callbacks)}.")
        models = [clone(self).set_params(random_state=fold[4]) for fold in folds]
        prepared = [model._prepare(X, y, w, None if X_val is None and y_val is None
                                   else (X_val, y_val), callback, val_scores)
                    for model, (X, y, X_val, y_val, _), w, callback
                    in zip(models, folds, weights, callbacks)]
        networks, data, rngs, _ = zip(*prepared)
        histories = train_folds(list(networks), list(data), self._training_config(), list(rngs))
        for model, network, history in zip(models, networks, histories):
            model._store(network, history, False)
        return models

    def _prepare(self, X, y, sample_weight, validation_data, on_epoch_end, val_scores=None):
        """Checked inputs of one fit: (initialised network, core Fold, generator, warm)."""
        self._check_params()
        warm = self.warm_start and hasattr(self, "coefs_")
        X, y = validate_data(
            self, X, y, reset=not warm, dtype=(np.float64, np.float32), multi_output=self._multi_output
        )
        T = self._targets(y, fit=not warm)
        weights = self._weights(X, y, sample_weight)
        rng = _generator(self.random_state)
        validation = None
        if validation_data is not None:
            X_val, y_val = validation_data
            X_val = validate_data(self, X_val, reset=False, dtype=X.dtype)
            validation = (X_val, self._targets(np.asarray(y_val), fit=False), None)
        elif self.early_stopping:
            X, T, weights, validation = self._carve_validation(X, y, T, weights, rng)

        network = self._network(X.shape[1], T.shape[1], X.dtype, warm, rng)
        fold = Fold(X, T, weights, validation, on_epoch_end or (), val_scores or {})
        return network, fold, rng, warm

    def _training_config(self):
        return TrainingConfig(
            loss=self.loss, optimizer=self.optimizer, learning_rate=self.learning_rate,
            batch_size=self.batch_size, max_epochs=self.max_epochs, l1=self.l1, l2=self.l2,
            dropout=self.dropout, patience=self.patience if self.early_stopping else None,
        )

    def _weights(self, X, y, sample_weight):
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=X.dtype)

    def _carve_validation(self, X, y, T, weights, rng):
        """Split off ``validation_fraction`` of the rows (stratified when classes allow)."""
        stratify = self._stratify_labels(y)
        seed = int(rng.integers(2**31))
        arrays = [X, T] if weights is None else [X, T, weights]
        parts = train_test_split(
            *arrays, test_size=self.validation_fraction, random_state=seed, stratify=stratify
        )
        X_fit, X_val, T_fit, T_val = parts[:4]
        w_fit, w_val = (None, None) if weights is None else parts[4:]
        return X_fit, T_fit, w_fit, (X_val, T_val, w_val)

    def _stratify_labels(self, y):
        return None

    def _network(self, n_inputs, n_outputs, dtype, warm, rng):
        sizes = (n_inputs, *self.hidden_layer_sizes, n_outputs)
        network = Network(sizes, self.activation, self._head(n_outputs), dtype)
        if warm:
            return network.set_weights(self.coefs_, self.intercepts_)
        return network.initialize(rng)

    def _store(self, network, history, warm):
        summary = {key: history.pop(key, None) for key in SUMMARY_KEYS}
        if warm and hasattr(self, "history_"):
            for key, values in history.items():
                self.history_.setdefault(key, []).extend(values)
            self.n_epochs_ += len(history["train_loss"])
        else:
            self.history_ = history
            self.n_epochs_ = len(history["train_loss"])
        self.best_epoch_ = summary["best_epoch"]
        # Convergence of THIS fit (a warm start's n_epochs_ counts every fit).
        self.converged_ = bool(summary["converged"])
        self.stop_reason_ = summary["stop_reason"]
        self.n_iter_ = summary["n_iter"]
        self.final_grad_norm_ = summary["final_grad_norm"]
        self.coefs_ = [w.copy() for w in network.weights]
        self.intercepts_ = [b.copy() for b in network.biases]

    def __getstate__(self):
        # Per-epoch histories travel as arrays: skops, the logged model's format, writes
        # each list element as its own JSON node (a 200-epoch history made up most of a
        # model's save and load time). Only lists of floats, so the round trip is exact.
        state = dict(super().__getstate__())  # a copy: it may be the live __dict__
        history = state.get("history_")
        if history:
            state["history_"] = {key: np.array(values) if _floats(values) else values
                                 for key, values in history.items()}
        return state

    def __setstate__(self, state):
        state = dict(state)
        if "_y_ndim" in state:  # a regressor saved before the fitted attribute got its "_"
            state["y_ndim_"] = state.pop("_y_ndim")
        history = state.get("history_")
        if history:
            state["history_"] = {key: values.tolist() if isinstance(values, np.ndarray) else values
                                 for key, values in history.items()}
        super().__setstate__(state)

    def _forward(self, X):
        """Head outputs for X: probabilities or values, shape (n, n_outputs)."""
        check_is_fitted(self, "coefs_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        sizes = (self.coefs_[0].shape[0], *self.hidden_layer_sizes, self.coefs_[-1].shape[1])
        network = Network(sizes, self.activation, self._head(sizes[-1]), self.coefs_[0].dtype)
        return network.set_weights(self.coefs_, self.intercepts_).predict(X)


class NeuralNetClassifier(ClassifierMixin, _NeuralNet):
    """Binary (one sigmoid unit) or multiclass (softmax) neural network classifier.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Units per hidden layer; ``()`` = logistic regression.
    activation : {"identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"} or Activation
    loss : {"cross_entropy", "squared_error", "absolute_error"}
        The last two act on predicted probabilities.
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "lbfgs"} or Optimizer
        ``"lbfgs"`` is full-batch L-BFGS run to its tolerance (``LBFGS(tol=...)`` to
        change it): it ignores ``learning_rate`` and ``batch_size`` (its line search
        picks every step over all rows) and refuses ``l1 > 0`` and ``dropout > 0``.
    learning_rate : float or Schedule, default=1e-3
    batch_size : int or None, default=32
        None = full-batch gradient descent; 1 = pure stochastic gradient descent.
    max_epochs : int, default=200
        Passes over the data; for lbfgs, iterations.
    l1, l2 : float, default=0.0
        Penalties on weights (not biases): ``l1 * sum|W| + (l2 / 2) * sum W**2``.
    dropout : float, default=0.0
        Inverted-dropout rate on hidden activations, never active at prediction.
    early_stopping : bool, default=False
        Stop when the validation loss has not improved for ``patience`` epochs and
        restore the best weights. The validation set is ``validation_data`` given to
        ``fit``, else a stratified ``validation_fraction`` of the training rows.
    patience : int, default=10
    validation_fraction : float, default=0.1
    class_weight : None, "balanced" or dict, default=None
        Multiplies each example's weight in the loss.
    warm_start : bool, default=False
        Continue from the current ``coefs_`` / ``intercepts_``.
    random_state : int, Generator, RandomState or None
        Seed of the one generator used for initialisation, shuffling and dropout.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list of ndarray; ``coefs_[i]`` has shape (n_in, n_out)
    intercepts_ : list of ndarray
    n_epochs_ : int
        Epochs (lbfgs: iterations) of every fit so far, warm starts included.
    best_epoch_ : int or None
        0-based epoch whose weights were restored by early stopping.
    history_ : dict of lists
        Per epoch (lbfgs: per iteration): ``train_loss``, ``learning_rate`` (lbfgs: the
        accepted step length), ``grad_norm``, ``val_loss`` (with a validation set) and
        any metrics the callbacks added.
    converged_ : bool
        lbfgs: a tolerance was reached (or early stopping ended the fit). Other
        optimizers (scikit-learn MLP's test): early stopping ended the fit, or at some
        epoch the training loss had not improved by more than 1e-4 for more than 10
        epochs in a row; they still train for ``max_epochs``, this only reports.
    stop_reason_ : str
        ``"max_epochs"``, ``"early_stopping"``, and for lbfgs also
        ``"gradient_tolerance"``, ``"objective_tolerance"`` or ``"line_search_failed"``.
    n_iter_ : int
        Epochs (lbfgs: iterations) of the last call to ``fit``.
    final_grad_norm_ : float
        L2 norm of the gradient of the objective over all training rows (no dropout)
        at the returned weights.

    A fit whose loss or weights blow up raises ``TrainingDivergedError`` (from
    ``pipeline.core.training``) instead of returning.
    """

    _head_losses = LOSS_NAMES["sigmoid"]
    _multi_output = False

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", loss="cross_entropy",
        optimizer="adam", learning_rate=1e-3, batch_size=32, max_epochs=200, l1=0.0, l2=0.0,
        dropout=0.0, early_stopping=False, patience=10, validation_fraction=0.1,
        class_weight=None, warm_start=False, random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.l1 = l1
        self.l2 = l2
        self.dropout = dropout
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, validation_data=None, on_epoch_end=None):
        """Train on X (n_samples, n_features) and labels y (n_samples,).

        ``validation_data=(X_val, y_val)`` is monitored every epoch (``val_loss``)
        and used by early stopping; ``on_epoch_end`` is a callable or list of
        callables ``f(epoch, record, network)`` that may add metrics to ``record``.
        """
        if self.class_weight is not None and self.class_weight != "balanced" and not isinstance(
            self.class_weight, dict
        ):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict {{class: weight}}, "
                f"got {self.class_weight!r}."
            )
        return self._fit(X, y, sample_weight, validation_data, on_epoch_end)

    def _targets(self, y, fit):
        if fit:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"y has only one class ({self.classes_[0]!r}); a classifier needs at "
                    "least 2 classes."
                )
        index = np.minimum(np.searchsorted(self.classes_, y), len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            raise ValueError(
                f"y contains labels {np.unique(np.asarray(y)[unknown])[:5].tolist()} not seen in "
                f"training (classes_ = {self.classes_.tolist()})."
            )
        if len(self.classes_) == 2:
            return index[:, None].astype(np.float64)
        return np.eye(len(self.classes_))[index]

    def _weights(self, X, y, sample_weight):
        weights = super()._weights(X, y, sample_weight)
        if self.class_weight is None:
            return weights
        class_weights = compute_sample_weight(self.class_weight, y)
        return class_weights.astype(X.dtype) * (1.0 if weights is None else weights)

    def _stratify_labels(self, y):
        counts = np.unique(y, return_counts=True)[1]
        return y if counts.min() >= 2 else None

    def _head(self, n_outputs):
        return "sigmoid" if n_outputs == 1 else "softmax"

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns ordered as ``classes_``."""
        p = self._forward(X)
        if p.shape[1] == 1:
            return np.hstack([1.0 - p, p])
        return p

    def predict(self, X):
        """Most probable class per row (threshold 0.5 for binary)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


class NeuralNetRegressor(RegressorMixin, _NeuralNet):
    """Neural network regressor with an identity output (``()`` = linear regression).

    Parameters are those of :class:`NeuralNetClassifier` except ``class_weight``;
    ``loss`` is ``"squared_error"`` or ``"absolute_error"``. ``y`` may have several
    columns (one output unit each).

    Attributes
    ----------
    Those of :class:`NeuralNetClassifier` except ``classes_``, plus
    y_ndim_ : int
        Dimensions of the ``y`` seen in ``fit`` (1 or 2): ``predict`` returns the same shape.
    """

    _head_losses = LOSS_NAMES["identity"]
    _multi_output = True

    def __init__(
        self, hidden_layer_sizes=(100,), activation="relu", loss="squared_error",
        optimizer="adam", learning_rate=1e-3, batch_size=32, max_epochs=200, l1=0.0, l2=0.0,
        dropout=0.0, early_stopping=False, patience=10, validation_fraction=0.1,
        warm_start=False, random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.l1 = l1
        self.l2 = l2
        self.dropout = dropout
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, validation_data=None, on_epoch_end=None):
        """Train on X (n_samples, n_features) and targets y (n_samples,) or (n_samples, n_outputs)."""
        return self._fit(X, y, sample_weight, validation_data, on_epoch_end)

    def _targets(self, y, fit):
        y = np.asarray(y, dtype=np.float64)
        if fit:
            self.y_ndim_ = y.ndim
        return y.reshape(len(y), -1)

    def _head(self, n_outputs):
        return "identity"

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs) as y was."""
        out = self._forward(X)
        return out[:, 0] if self.y_ndim_ == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _floats(values):
    return isinstance(values, list) and all(type(v) is float for v in values)


def _generator(random_state):
    """One numpy Generator from any scikit-learn style ``random_state``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, Integral):
        return np.random.default_rng(random_state)
    return np.random.default_rng(check_random_state(random_state).randint(2**31))
