"""`Task`: the contract every task model fills in (keras-hub's Task, small).

A task model is a `keras.Model` that
- owns its preprocessor (raw strings -> the model's features, TF ops) and saves it in its
  config, so a `.keras` file holds everything needed to run on raw input;
- has `compile()` defaults: Adam with `clipnorm`, its loss (padding weighted out), its metrics,
  an XLA-compiled step; `compile_from_config` restores the same after loading;
- `fit`, `evaluate` and `predict` accept raw inputs (strings, token lists, string pairs) as well
  as features or a `tf.data.Dataset`, as any Keras model;
- stores every constructor argument as an attribute of the same name, so that `get_config` is
  written once, here.

A subclass writes its layers, `call`, and three small hooks:
    is_raw(x)                                   are these raw inputs (not features)?
    raw_dataset(x, y, batch_size, shuffle)      raw inputs (and targets) -> batches of
                                                `(features, y[, sample_weight])`
    predict_raw(x, batch_size)                  raw inputs -> the task's answers
and may override `default_loss()` / `default_metrics()` / `default_weighted_metrics()` and the
class attributes `learning_rate`, `clipnorm`, `jit_compile_default`.
"""

import inspect

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tasks import distribution


class Task(keras.Model):
    """Base class of the task models; see the module docstring."""

    learning_rate = 1e-3  # the default optimizer's
    clipnorm = 5.0
    jit_compile_default = True  # XLA on every backend (Keras' "auto" leaves TF on CPU eager)

    def __init__(self, preprocessor, **kwargs):
        super().__init__(**kwargs)
        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        self.preprocessor = preprocessor

    # -- compile defaults ------------------------------------------------------------------
    def default_loss(self):
        return None  # the subclass's `compute_loss`

    def default_metrics(self):
        return None

    def default_weighted_metrics(self):
        return None

    def compile(self, optimizer="auto", loss="auto", metrics="auto", weighted_metrics="auto",
                jit_compile="default", **kwargs):
        """Every "auto" takes the task's default: Adam(`learning_rate`, clipnorm=`clipnorm`),
        the task's loss and metrics; `jit_compile` the task's (XLA unless it cannot)."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(self.learning_rate, clipnorm=self.clipnorm)
        if loss == "auto":
            loss = self.default_loss()
        if metrics == "auto":
            metrics = self.default_metrics()
        if weighted_metrics == "auto":
            weighted_metrics = self.default_weighted_metrics()
        if jit_compile == "default":
            # Not under a several-replica tf.distribute strategy: XLA cannot reach a mirrored
            # variable's copies on the other devices (TensorFlow's XLA known issues).
            jit_compile = self.jit_compile_default
            if (keras.backend.backend() == "tensorflow"
                    and tf.distribute.get_strategy().num_replicas_in_sync > 1):
                jit_compile = False
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        weighted_metrics=weighted_metrics, jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for a custom `compile`; ours takes the same (deserialized) arguments.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # -- raw inputs ------------------------------------------------------------------------
    def is_raw(self, x):
        return is_text(x)

    def raw_dataset(self, x, y=None, batch_size=None, shuffle=False):
        raise NotImplementedError(f"{type(self).__name__} does not batch raw inputs.")

    def predict_raw(self, x, batch_size=None, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not predict on raw inputs.")

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, shuffle=True,
            **kwargs):
        """As Keras' `fit`, on raw inputs too. With raw inputs and `steps_per_epoch`, their
        batches repeat (reshuffled at each pass), so that every epoch has that many steps
        however few the inputs are (see `epoch_steps`)."""
        if self.is_raw(x):
            x = self.raw_dataset(x, y, batch_size, shuffle=shuffle)
            if kwargs.get("steps_per_epoch"):
                x = x.repeat()
            y, batch_size, shuffle = None, None, False  # the dataset shuffles itself
        if isinstance(validation_data, (tuple, list)) and self.is_raw(validation_data[0]):
            validation_data = self.raw_dataset(*validation_data[:2], batch_size)
        if isinstance(x, tf.data.Dataset):  # equal parts for the devices (tasks/distribution)
            x = distribution.pad_batches(x)
        if isinstance(validation_data, tf.data.Dataset):
            validation_data = distribution.pad_batches(validation_data)
        return super().fit(x, y, batch_size=batch_size, validation_data=validation_data,
                           shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        if self.is_raw(x):
            x, y, batch_size = self.raw_dataset(x, y, batch_size), None, None
        if isinstance(x, tf.data.Dataset):
            x = distribution.pad_batches(x)
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def train_step(self, *args):  # TF: (data); JAX: (state, data), returning (logs, state)
        return _per_worker_logs(super().train_step(*args))

    def test_step(self, *args):
        return _per_worker_logs(super().test_step(*args))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Under `tf.distribute`, Keras (3.15) builds the model from a first batch read off the
        training data and averaged over the replicas. Reading it starts an extra pass over the
        data, so a dataset that reshuffles on each pass would train in another order than on
        one device, and the average fails on a boolean padding mask (TensorFlow has no
        boolean sum). Build from a batch of zeros of the data's shapes instead."""
        strategy = getattr(self, "_distribute_strategy", None)
        if strategy is None or iterator is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

        def zeros(spec):
            shape = [1 if size is None else size for size in spec.shape]
            return tf.fill(shape, "") if spec.dtype == tf.string else tf.zeros(shape, spec.dtype)

        spec = iterator.data_adapter.get_tf_dataset().element_spec
        return super()._maybe_symbolic_build(data_batch=tf.nest.map_structure(zeros, spec))

    def predict(self, x, batch_size=None, **kwargs):
        """On raw inputs: the task's answers (`predict_raw`; an empty list has empty
        answers). On features: the model's outputs, as any Keras model."""
        with distribution.undistributed():
            if self.is_raw(x) or (isinstance(x, (list, tuple)) and len(x) == 0):
                return self.predict_raw(x, batch_size, **kwargs)
            return super().predict(x, batch_size=batch_size, **kwargs)

    def compiled_function(self, key, fn):
        """`compiled_function(self, key, fn)` (below): generation and scoring, compiled."""
        return compiled_function(self, key, fn)

    # -- serialization ---------------------------------------------------------------------
    def get_config(self):
        """Every constructor argument, read from the attribute of the same name."""
        names = [name for name, p in inspect.signature(type(self).__init__).parameters.items()
                 if name not in ("self", "preprocessor") and p.kind == p.POSITIONAL_OR_KEYWORD]
        config = {**super().get_config(),
                  "preprocessor": keras.saving.serialize_keras_object(self.preprocessor)}
        for name in names:
            value = getattr(self, name)
            config[name] = (keras.saving.serialize_keras_object(value)
                            if hasattr(value, "get_config") else value)
        return config

    @classmethod
    def from_config(cls, config):
        """The task rebuilt under the dtype policy it was saved with (`dtype`): the layers a
        task's constructor makes take Keras' global policy, so a model trained in
        mixed_bfloat16 comes back computing in bfloat16 whatever this process's policy is."""
        saved = config.get("dtype")
        if saved is None:
            return super().from_config(config)
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(keras.dtype_policies.get(saved))
        try:
            return super().from_config(config)
        finally:
            keras.mixed_precision.set_global_policy(previous)


def flat_dense(layer, x):
    """`layer(x)` (a `Dense`) on x's rows: (..., d) is reshaped to (rows, d) and back. On JAX
    (XLA:CPU), a vocabulary-sized Dense on (batch, time, d) trains slower than on the same
    rows as a matrix: its kernel's gradient contracts two axes (benchmarks/peers.py)."""
    shape = ops.shape(x)
    out = layer(ops.reshape(x, (-1, shape[-1])))
    return ops.reshape(out, (*shape[:-1], ops.shape(out)[-1]))


def compiled_function(layer, key, fn):
    """`fn(*tensors)`, a function of the inputs and `layer`'s weights (generation, scoring),
    compiled once per `key` (which names everything `fn` closes over that is not a tensor) and
    per input shape, and always reading the weights' current values.

    Run eagerly, a decoding loop is slow on both backends: TensorFlow dispatches every op of
    every step one by one, and JAX traces and compiles the loop anew at each call. So: a
    `tf.function` on TensorFlow; on JAX a `jax.jit` that takes the weights' values as
    arguments (a closure would keep the values they had when it was traced)."""
    # Kept out of Keras' (and TensorFlow's) attribute tracking: not state to save.
    functions = layer.__dict__.setdefault("_compiled_functions", {})
    if key not in functions:
        functions[key] = _compile(layer, fn)
    return functions[key]


def _compile(model, fn):
    if keras.backend.backend() == "tensorflow":
        return tf.function(fn, reduce_retracing=True, autograph=False)
    if keras.backend.backend() != "jax":
        return fn
    import jax

    variables = model.trainable_variables + model.non_trainable_variables

    def stateless(values, *args):
        with keras.StatelessScope(state_mapping=zip(variables, values)):
            return fn(*args)

    jitted = jax.jit(stateless)
    return lambda *args: jitted([v.value for v in variables], *args)


def weight_averaging(ema_momentum):
    """Polyak averaging of the weights (a task config's `ema_momentum`; 0 turns it off):
    the optimizer arguments that keep an exponential moving average of the weights, and the
    callbacks that validate the averaged weights at each epoch end (and let later callbacks,
    such as early stopping, see them). Keras' `fit` leaves them in the model at the end."""
    if not 0.0 <= ema_momentum < 1.0:
        raise ValueError(f"`ema_momentum` must be in [0, 1). Received: "
                         f"ema_momentum={ema_momentum}")
    options = {"use_ema": ema_momentum > 0, "ema_momentum": ema_momentum or 0.99}
    callbacks = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema_momentum else []
    return options, callbacks


def epoch_steps(num_examples, batch_size, min_steps):
    """Keras' `steps_per_epoch` for a training set of `num_examples`: None (an epoch is one
    pass over the data) when a pass has at least `min_steps` batches, else `min_steps` (the
    data repeats within an epoch; 0 turns this off). A recipe counts its schedule in epochs:
    the dev score after each, early stopping, the learning-rate plateau, the weight average.
    On a small corpus a pass is a few dozen steps, too few for any of them to mean anything
    (the dev F1 of a tagger is still 0 after the first passes of 1,000 sentences, so the
    plateau halves the learning rate and early stopping ends the run before it has learnt).
    With a floor in steps, a small corpus gets as much training between two dev scores as a
    large one, and a large one keeps its epochs."""
    if min_steps < 0:
        raise ValueError(f"`min_steps_per_epoch` must be >= 0. Received: "
                         f"min_steps_per_epoch={min_steps}")
    passes = -(-num_examples // batch_size)
    return min_steps if passes < min_steps else None


def dev_score_callbacks(monitor, patience, plateau_factor=0.0, mode="max", plateau_patience=1):
    """The callbacks that act on a dev score `monitor` (`mode` "max": higher is better, "min":
    lower): the learning rate times `plateau_factor` once `plateau_patience` epochs have passed
    without a better score (0: never), and early stopping after `patience` epochs without one
    (0: never), the best epoch's weights kept."""
    callbacks = []
    if plateau_factor:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor, mode=mode, factor=plateau_factor, patience=plateau_patience, verbose=0))
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor, mode=mode, patience=patience, restore_best_weights=True))
    return callbacks


def activation_penalty(dropped, h, padding_mask, alpha, beta):
    """AR + TAR (Merity et al. 2017) of a recurrent layer's (batch, T, units) output:
    alpha · mean(dropped²) (after its dropout) + beta · mean((h_t - h_{t-1})²) (before it),
    means over real positions (and over consecutive real ones for TAR)."""
    real = ops.ones_like(h[..., :1]) if padding_mask is None else \
        ops.cast(padding_mask, h.dtype)[..., None]

    def mean(squares, weights):
        count = ops.sum(weights) * ops.cast(ops.shape(squares)[-1], h.dtype)
        return ops.sum(squares * weights) / ops.maximum(count, 1.0)

    both = real[:, 1:] * real[:, :-1]
    return alpha * mean(ops.square(dropped), real) + beta * mean(
        ops.square(h[:, 1:] - h[:, :-1]), both)


def masked_cross_entropy(labels, logits, mask, label_smoothing=0.0):
    """The mean cross-entropy over real positions (`mask` 1) of (batch, T, V) logits, with
    label smoothing spread over the vocabulary; a batch with no real position gives 0. Under a
    mixed-precision policy the logits come in float16 or bfloat16: the loss is float32."""
    mask = ops.cast(mask, "float32")
    logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    nll = -ops.take_along_axis(logp, ops.cast(labels, "int32")[..., None], axis=-1)[..., 0]
    if label_smoothing:
        nll = (1 - label_smoothing) * nll - label_smoothing * ops.mean(logp, axis=-1)
    return global_mean(ops.sum(nll * mask), ops.sum(mask))


def global_mean(total, count):
    """`total / count` over the whole batch. Under `tf.distribute` with several replicas each
    replica holds part of the batch and returns its share, `total / (count summed over the
    replicas)`: the strategy sums the replicas' gradients, so the step follows the gradient of
    the whole batch's mean, exactly as on one device. (JAX's DataParallel runs one program
    over the whole batch: nothing to do.)"""
    context = replica_context()
    if context is not None:
        count = context.all_reduce("SUM", count)
    return total / ops.maximum(count, 1.0)


def with_layer_losses(model, loss):
    """`loss` plus the model's regularization losses (what Keras' own compute_loss adds),
    those divided by the replicas under `tf.distribute`, whose gradients are summed."""
    context = replica_context()
    scale = 1.0 / context.num_replicas_in_sync if context is not None else 1.0
    losses = [loss] + [extra * scale for extra in model.losses]
    return ops.sum(ops.stack(losses)) if len(losses) > 1 else loss


def _per_worker_logs(logs):
    """A step's logs, each with a leading axis of length 1 under TensorFlow's
    MultiWorkerMirroredStrategy: there Keras (3.15) averages them with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar logs of every model
    (tensorflow/tensorflow#72388); the mean over that axis takes the added axis away again."""
    if keras.backend.backend() != "tensorflow" or distribution.workers() == 1:
        return logs
    return {name: ops.expand_dims(value, 0) for name, value in logs.items()}


def replica_context():
    """TensorFlow's replica context inside a step that several replicas run, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def model_arguments(cls, config, **fixed):
    """The constructor arguments of `cls` that a recipe's Config holds, by name: the Config
    holds each model argument once, and nothing is copied field by field."""
    names = inspect.signature(cls.__init__).parameters
    values = {name: getattr(config, name) for name in names if hasattr(config, name)}
    return {**values, **fixed}


def as_list(values):
    """A list of Python values from a list, a tuple, a NumPy array or a tf tensor."""
    if isinstance(values, (tf.Tensor, np.ndarray)):
        values = np.asarray(values).tolist()
    return list(values)


def text_list(name, values):
    """`values` as a list of Python strings; one string (not a list) or a non-string item is an
    error that names the argument: `score("the company")` must not score each character."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"`{name}` must be a list of strings, not one string. "
                         f"Received: {name}={values[:40]!r}")
    values = as_list(values)
    for i, value in enumerate(values):
        if not isinstance(value, (str, bytes)):
            raise ValueError(f"`{name}` must be a list of strings. Received: {name}[{i}]="
                             f"{value!r} ({type(value).__name__})")
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def is_text(x):
    """Raw strings (a list, an array or a tf string tensor)? A lone string is an error."""
    if isinstance(x, str):
        raise ValueError(f"Pass a list of strings, not a single string. Received: x={x[:40]!r}")
    if isinstance(x, tf.Tensor):
        return x.dtype == tf.string
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO"
    return isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (str, bytes))
