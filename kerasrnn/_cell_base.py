"""What the built-in cells share (not public): argument checks, weights, dropout masks and
the choice of the fused whole-sequence kernel (`kerasrnn._fused`).

A cell follows the Keras cell protocol (`call(inputs, states, training) -> (output,
new_states)`, `state_size`, `output_size`, `get_initial_state`), so it works inside
`kerasrnn.RNN` as well as `keras.layers.RNN`. Weights have exactly the shapes and gate order of
Keras' built-in cells, so `set_weights` copies both ways. The built-in cells also know how to
run a whole sequence at once with a hand-written gradient (`fused_sequence`); `kerasrnn.RNN`
uses that fast path whenever it applies.
"""

import inspect

import keras
from keras import ops

from kerasrnn import _fused, _parallel, _scan

register = keras.saving.register_keras_serializable(package="kerasrnn")


def _check_units(units):
    if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
        raise ValueError(
            f"`units` must be a positive integer. Received: units={units!r}"
        )


def _check_rate(name, value):
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")


def _activation_name(fn):
    name = keras.activations.serialize(fn)
    return name if isinstance(name, str) else None


class _BaseCell(keras.layers.Layer):
    """Shared options and dropout handling of the built-in cells (not public)."""

    # which of "zoneout" and "layer_norm" the cell's fused kernel implements (when on, the
    # others send the cell to the generic loop)
    fused_variants = ()

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        weight_drop=0.0,
        zoneout_h=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_units(units)
        _check_rate("dropout", dropout)
        _check_rate("recurrent_dropout", recurrent_dropout)
        _check_rate("weight_drop", weight_drop)
        _check_rate("zoneout_h", zoneout_h)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.weight_drop = float(weight_drop)
        self.zoneout_h = float(zoneout_h)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Set by kerasrnn.RNN for the length of one call: the dropout masks (one per
        # sequence), the weight-drop mask on U (one per call) and, inside the step loop, this
        # step's zoneout masks.
        self._step_masks = None
        self._weight_mask = None
        self._zoneout_step = None
        self._zoneout_masks = None  # a fused kernel's (T, B, size) masks, set by kerasrnn.RNN

    # Number of gate blocks in kernel / recurrent_kernel (1 for SimpleRNN, 4 LSTM, 3 GRU).
    gates = 1

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _add_kernels(self, input_dim, recurrent_rows=None):
        self.kernel = self.add_weight(
            shape=(input_dim, self.gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(recurrent_rows or self.units, self.gates * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )

    def _add_bias(self, shape, initializer=None):
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=shape,
                name="bias",
                initializer=initializer or self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs, states, training=False):
        """One step of a cell whose one state is its output (an LSTM or a QRNN overrides this);
        the arithmetic is `step_activations`, which the diagnostics read too."""
        h = self.step_activations(inputs, states, training)["hidden"]
        return h, [h] if isinstance(states, (list, tuple)) else h

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [ops.zeros((batch_size, s), dtype=self.compute_dtype) for s in sizes]

    def dropout_masks(self, step_input, training):
        """(input mask (B, F) or None, recurrent mask (B, units) or None) for one sequence."""
        if not training:
            return None, None
        batch = ops.shape(step_input)[0]
        input_mask = rec_mask = None
        if self.dropout > 0:
            input_mask = _scan.dropout(ops.ones_like(step_input), self.dropout, None,
                                       self.seed_generator)
        if self.recurrent_dropout > 0:
            rec_mask = _scan.dropout(ops.ones((batch, self.output_size), dtype=step_input.dtype),
                                     self.recurrent_dropout, None, self.seed_generator)
        return input_mask, rec_mask

    def weight_drop_mask(self, training):
        """The DropConnect mask on `recurrent_kernel` (Wan et al. 2013, as in AWD-LSTM): one
        scaled 0/(1/(1-p)) mask for a whole call, or None (not training, or no weight_drop)."""
        if not training or self.weight_drop <= 0:
            return None
        u = self.recurrent_kernel
        return _scan.dropout(ops.ones(u.shape, dtype=self.compute_dtype), self.weight_drop, None,
                             self.seed_generator)

    def _recurrent_kernel(self, training, fused=False):
        """U as this call uses it: times the call's weight-drop mask. Outside `kerasrnn.RNN`
        (no mask prepared) a mask is drawn per step. `fused`: a tensor read for a kernel."""
        u = _value(self.recurrent_kernel) if fused else self.recurrent_kernel
        mask = self._weight_mask
        if mask is None and self._step_masks is None and not fused:
            mask = self.weight_drop_mask(training)
        return u if mask is None else u * ops.cast(mask, u.dtype)

    def zoneout_rates(self):
        """Zoneout rate per state (Krueger et al. 2017); the LSTM adds `zoneout_c`."""
        return [self.zoneout_h] + [0.0] * (len(_flat_sizes(self)) - 1)

    def zoneout_masks(self, steps, batch, training, dtype):
        """Per state, the (T, B, size) 0/1 masks of the units that keep their previous value
        at each step (drawn with probability = the rate), or None where nothing is drawn."""
        if not training or not any(self.zoneout_rates()):
            return None
        return [
            None if rate <= 0 else ops.cast(
                _scan.uniform((steps, batch, size), self.seed_generator) < rate, dtype)
            for rate, size in zip(self.zoneout_rates(), _flat_sizes(self))
        ]

    def _fused_zoneout(self, spec):
        """Per state, what a fused kernel's zoneout takes: None (none), the rate (inference)
        or the (T, B, size) masks that `kerasrnn.RNN` drew for this call (training)."""
        masks = self._zoneout_masks or [None] * len(self.zoneout_rates())
        return [m if m is not None else (None if spec.training or r <= 0 else r)
                for m, r in zip(masks, self.zoneout_rates())]

    def _zone(self, index, old, new, training):
        """Zoneout of state `index`: d * old + (1 - d) * new, with d this step's 0/1 mask at
        training and the rate itself (the expectation) at inference."""
        rate = self.zoneout_rates()[index]
        if rate <= 0:
            return new
        if self._zoneout_step is not None:
            keep = self._zoneout_step[index]
        elif training:  # outside kerasrnn.RNN: drawn here, per step
            keep = ops.cast(_scan.uniform(ops.shape(new), self.seed_generator) < rate, new.dtype)
        else:
            keep = rate
        return new + keep * (old - new)

    def _masked_step_inputs(self, inputs, h_prev, training):
        """Applies the sequence's dropout masks to one step's input and previous output."""
        if self._step_masks is not None:
            input_mask, rec_mask = self._step_masks
        else:
            # Called outside kerasrnn.RNN (e.g. inside keras.layers.RNN): no per-sequence
            # masks were prepared, so masks are drawn per step.
            input_mask, rec_mask = self.dropout_masks(inputs, training)
        if input_mask is not None:
            inputs = inputs * input_mask
        if rec_mask is not None:
            h_prev = h_prev * rec_mask
        return inputs, h_prev

    def fused_spec(self, mask, rec_mask, zero_output, unroll, training=True, sequences=True):
        """A `_fused._Spec` when this cell can run on the fast path, else None. With
        `sequences=False` the kernel returns only the last step's output."""
        act = _activation_name(self.activation)
        ract = _activation_name(getattr(self, "recurrent_activation", self.activation))
        if act not in _fused.FUNCTIONS or ract not in _fused.FUNCTIONS:
            return None
        if any(self.zoneout_rates()) and "zoneout" not in self.fused_variants:
            return None
        if getattr(self, "layer_norm", False) and "layer_norm" not in self.fused_variants:
            return None
        return _fused._Spec(
            mask, rec_mask, zero_output, act, ract, unroll, training, sequences=sequences
        )

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": ser(self.kernel_initializer),
            "recurrent_initializer": ser(self.recurrent_initializer),
            "bias_initializer": ser(self.bias_initializer),
            "kernel_regularizer": ser(self.kernel_regularizer),
            "recurrent_regularizer": ser(self.recurrent_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "kernel_constraint": ser(self.kernel_constraint),
            "recurrent_constraint": ser(self.recurrent_constraint),
            "bias_constraint": ser(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "weight_drop": self.weight_drop,
            "zoneout_h": self.zoneout_h,
            "seed": self.seed,
        }


class _ParallelCell(_BaseCell):
    """Base of the cells that run a whole sequence without a recurrent matmul (minGRU, minLSTM,
    QRNN: gates from the input alone; IndRNN: an element-wise recurrence). Inside
    `kerasrnn.RNN` they run on `fused_sequence` (an associative scan, `kerasrnn._parallel`),
    differentiated by autodiff; step by step anywhere else. The `recurrent_*` options of the
    other cells exist only where the cell has a recurrent weight (`recurrent_options`)."""

    recurrent_options = ()  # which of RECURRENT the cell takes
    RECURRENT = ("recurrent_initializer", "recurrent_regularizer", "recurrent_constraint",
                 "recurrent_dropout", "weight_drop", "zoneout_h")

    def __init__(self, units, **kwargs):
        for name in self.RECURRENT:
            if name not in self.recurrent_options and kwargs.get(name) not in (None, 0, 0.0):
                raise ValueError(f"{type(self).__name__} has no recurrent matmul, so no "
                                 f"`{name}`. Received: {name}={kwargs[name]!r}")
            if name not in self.recurrent_options:
                kwargs.pop(name, None)
        super().__init__(units, **kwargs)

    def _add_kernel(self, rows):
        """`kernel` (rows, gates·units): the cell's only matmul, applied to all steps at once."""
        self.kernel = self.add_weight(
            shape=(rows, self.gates * self.units), name="kernel",
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint)

    def _project(self, x):
        """x W + b for any leading shape, as a list of the `gates` blocks (..., units), each
        one matmul of a 2-D matrix by its slice of `kernel`:
        - 2-D: on JAX (XLA:CPU) a (T, B, F) product and its weight gradient ran slower (a
          minGRU training step at T = 1,024, 2026-12-07: 31–36 ms against 39–47 ms);
        - a matmul per block, not one product split afterwards: on TensorFlow the split and
          its gradient (a concatenation) each copied the whole (T, B, gates·units) tensor (the
          same step: 32–34 ms against 28–29 ms; minLSTM and QRNN 10–13 % faster; JAX the
          same within noise)."""
        rows = ops.reshape(x, (-1, ops.shape(x)[-1]))
        lead = tuple(ops.shape(x)[:-1])
        kernels = ops.split(self.kernel, self.gates, axis=-1)
        biases = ops.split(self.bias, self.gates) if self.use_bias else [None] * self.gates
        blocks = [ops.matmul(rows, w) if b is None else ops.matmul(rows, w) + b
                  for w, b in zip(kernels, biases)]
        return [ops.reshape(block, lead + (self.units,)) for block in blocks]

    def fused_spec(self, mask, rec_mask, zero_output, unroll, training=True, sequences=True):
        return _parallel.Spec(mask, zero_output, sequences, rec_mask)

    def get_config(self):
        config = super().get_config()
        for name in self.RECURRENT:
            if name not in self.recurrent_options:
                config.pop(name)
        return config


def block_norm(a, blocks, epsilon=1e-5):
    """Layer normalization without gain or shift, over each of the `blocks` equal parts of the
    last axis separately (one per gate): (a - mean) / sqrt(var + epsilon); the fused kernels'
    `_fused._normalize`, without its 1/std."""
    return _fused._normalize(a, blocks, epsilon)[0]


def _value(variable):
    # A tensor read outside the custom-gradient function: on TF, a variable read inside it
    # would be treated as a captured variable (convert_to_tensor returns the variable itself).
    return None if variable is None else ops.copy(variable)


def _flat_sizes(cell):
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def _takes_training(cell):
    try:
        return "training" in inspect.signature(cell.call).parameters
    except (TypeError, ValueError):
        return False
