"""Recurrent cells: one time step each, written from the equations.

A cell follows the Keras cell protocol (`call(inputs, states, training) -> (output,
new_states)`, `state_size`, `output_size`, `get_initial_state`), so it works inside
`kerasrnn.RNN` as well as `keras.layers.RNN`. Weights have exactly the shapes and gate order of
Keras' built-in cells, so `set_weights` copies both ways.

The built-in cells also know how to run a whole sequence at once with a hand-written gradient
(`kerasrnn.fused`); `kerasrnn.RNN` uses that fast path whenever it applies.
"""

import inspect

import keras
from keras import ops

from kerasrnn import fused

_register = keras.saving.register_keras_serializable(package="kerasrnn")


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
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_units(units)
        _check_rate("dropout", dropout)
        _check_rate("recurrent_dropout", recurrent_dropout)
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
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Set by kerasrnn.RNN for the length of one call: one mask per sequence.
        self._step_masks = None

    # Number of gate blocks in kernel / recurrent_kernel (1 for SimpleRNN, 4 LSTM, 3 GRU).
    gates = 1

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _add_kernels(self, input_dim):
        self.kernel = self.add_weight(
            shape=(input_dim, self.gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.gates * self.units),
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
            input_mask = keras.random.dropout(
                ops.ones_like(step_input), rate=self.dropout, seed=self.seed_generator
            )
        if self.recurrent_dropout > 0:
            rec_mask = keras.random.dropout(
                ops.ones((batch, self.units), dtype=step_input.dtype),
                rate=self.recurrent_dropout,
                seed=self.seed_generator,
            )
        return input_mask, rec_mask

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
        """A `fused._Spec` when this cell can run on the fast path, else None. With
        `sequences=False` the kernel returns only the last step's output."""
        act = _activation_name(self.activation)
        ract = _activation_name(getattr(self, "recurrent_activation", self.activation))
        if act not in fused.FUNCTIONS or ract not in fused.FUNCTIONS:
            return None
        return fused._Spec(
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
            "seed": self.seed,
        }


@_register
class SimpleRNNCell(_BaseCell):
    """Elman cell: `h_t = act(x_t W + h_{t-1} U + b)`; the output is `h_t`.

    Args:
        units: positive int, size of `h`.
        activation: `act`, default `"tanh"`.
        use_bias: whether to add `b`.
        kernel_initializer, recurrent_initializer, bias_initializer: for `W` (F, units),
            `U` (units, units, orthogonal by default) and `b` (units,).
        kernel_regularizer, recurrent_regularizer, bias_regularizer, *_constraint: as in Keras.
        dropout: rate dropped from `x_t`; one mask per sequence, reused at every step.
        recurrent_dropout: rate dropped from `h_{t-1}` before `U`; one mask per sequence.
        seed: seed of the dropout masks.

    Call arguments:
        inputs: `(batch, features)`; states: `[h_{t-1}]`; training: enables dropout.

    Example:
        >>> layer = kerasrnn.RNN(kerasrnn.SimpleRNNCell(16), return_sequences=True)
        >>> layer(np.zeros((2, 5, 8))).shape
        (2, 5, 16)
    """

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        self._add_bias((self.units,))

    def call(self, inputs, states, training=False):
        h = self.step_activations(inputs, states, training)["hidden"]
        return h, [h] if isinstance(states, (list, tuple)) else h

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: {"hidden": h_t}."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x, h_rec = self._masked_step_inputs(inputs, h_prev, training)
        a = ops.matmul(x, self.kernel) + ops.matmul(h_rec, self.recurrent_kernel)
        if self.use_bias:
            a = a + self.bias
        return {"hidden": self.activation(a)}

    def fused_sequence(self, x, states, spec):
        out, h = fused.simple_rnn_sequence(
            x, states[0], _value(self.kernel), _value(self.recurrent_kernel), _value(self.bias),
            spec,
        )
        return out, [h]


@_register
class LSTMCell(_BaseCell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997, with forget gate).

        i_t = σ(x_t W_i + h_{t-1} U_i + b_i)        input gate
        f_t = σ(x_t W_f + h_{t-1} U_f + b_f)        forget gate
        g_t = tanh(x_t W_g + h_{t-1} U_g + b_g)     candidate
        o_t = σ(x_t W_o + h_{t-1} U_o + b_o)        output gate
        c_t = f_t * c_t-1 + i_t * g_t               cell state
        h_t = o_t * tanh(c_t)                       output and hidden state

    `σ` is `recurrent_activation`, `tanh` is `activation`. The kernels hold the four blocks in
    Keras' order `[i, f, g, o]`: `kernel` (F, 4·units), `recurrent_kernel` (units, 4·units),
    `bias` (4·units,). States are `[h, c]`.

    Args:
        units: positive int, size of `h` and `c`.
        activation: for `g` and `tanh(c)`, default `"tanh"`.
        recurrent_activation: for the gates, default `"sigmoid"`.
        unit_forget_bias: initialise `b_f` to 1 (Jozefowicz et al. 2015), default True.
        Other arguments: as `SimpleRNNCell`.

    Call arguments:
        inputs: `(batch, features)`; states: `[h_{t-1}, c_{t-1}]`; training: enables dropout.

    Example:
        >>> cell = kerasrnn.LSTMCell(16)
        >>> y, (h, c) = cell(np.zeros((2, 8)), cell.get_initial_state(2))
    """

    gates = 4

    def __init__(
        self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self):
        return [self.units, self.units]

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        initializer = None
        if self.unit_forget_bias:
            base, units = self.bias_initializer, self.units

            def initializer(shape, dtype=None):
                return ops.concatenate(
                    [
                        base((units,), dtype=dtype),
                        keras.initializers.Ones()((units,), dtype=dtype),
                        base((units * 2,), dtype=dtype),
                    ]
                )

        self._add_bias((4 * self.units,), initializer)

    def call(self, inputs, states, training=False):
        a = self.step_activations(inputs, states, training)
        return a["hidden"], [a["hidden"], a["cell"]]

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: the gates "input", "forget", "output", the
        "candidate" g_t, and the new "cell" c_t and "hidden" h_t."""
        h_prev, c_prev = states[0], states[1]
        x, h_rec = self._masked_step_inputs(inputs, h_prev, training)
        z = ops.matmul(x, self.kernel) + ops.matmul(h_rec, self.recurrent_kernel)
        if self.use_bias:
            z = z + self.bias
        zi, zf, zg, zo = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(zi)
        f = self.recurrent_activation(zf)
        o = self.recurrent_activation(zo)
        g = self.activation(zg)
        c = f * c_prev + i * g
        h = o * self.activation(c)
        return {"input": i, "forget": f, "output": o, "candidate": g, "cell": c, "hidden": h}

    def fused_sequence(self, x, states, spec):
        out, h, c = fused.lstm_sequence(
            x, states[0], states[1], _value(self.kernel), _value(self.recurrent_kernel),
            _value(self.bias), spec,
        )
        return out, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


@_register
class GRUCell(_BaseCell):
    """Gated recurrent unit (Cho et al. 2014), in either of its two forms.

        z_t = σ(x_t W_z + h_{t-1} U_z + b_z)                 update gate
        r_t = σ(x_t W_r + h_{t-1} U_r + b_r)                 reset gate
        reset_after=True  (Keras / cuDNN form, default):
            ĥ_t = tanh(x_t W_h + b_h + r_t * (h_{t-1} U_h + b'_h))
        reset_after=False (Cho et al. 2014):
            ĥ_t = tanh(x_t W_h + b_h + (r_t * h_{t-1}) U_h)
        h_t = z_t * h_{t-1} + (1 - z_t) * ĥ_t

    Blocks in Keras' order `[z, r, h]`: `kernel` (F, 3·units), `recurrent_kernel`
    (units, 3·units); `bias` is (2, 3·units) with reset_after — row 0 the input bias, row 1 the
    recurrent bias (b'), which is what makes the two forms differ — and (3·units,) without.

    Args:
        units: positive int, size of `h`.
        activation: for `ĥ`, default `"tanh"`.
        recurrent_activation: for the gates, default `"sigmoid"`.
        reset_after: which form (see above), default True.
        Other arguments: as `SimpleRNNCell`.

    Call arguments:
        inputs: `(batch, features)`; states: `[h_{t-1}]`; training: enables dropout.

    Example:
        >>> layer = kerasrnn.RNN(kerasrnn.GRUCell(16, reset_after=False))
        >>> layer(np.zeros((2, 5, 8))).shape
        (2, 16)
    """

    gates = 3

    def __init__(
        self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.reset_after = reset_after

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        self._add_bias((2, 3 * self.units) if self.reset_after else (3 * self.units,))

    def call(self, inputs, states, training=False):
        h = self.step_activations(inputs, states, training)["hidden"]
        return h, [h] if isinstance(states, (list, tuple)) else h

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: the gates "update" z_t and "reset" r_t, the
        "candidate" ĥ_t and the new "hidden" h_t."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x, h_rec = self._masked_step_inputs(inputs, h_prev, training)
        u = self.recurrent_kernel
        xz = ops.matmul(x, self.kernel)
        b_rec = None
        if self.use_bias:
            b_in, b_rec = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
            xz = xz + b_in
        x_z, x_r, x_h = ops.split(xz, 3, axis=-1)
        if self.reset_after:
            rz = ops.matmul(h_rec, u)
            if b_rec is not None:
                rz = rz + b_rec
            r_z, r_r, r_h = ops.split(rz, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            hh = self.activation(x_h + r * r_h)
        else:
            r_z, r_r = ops.split(ops.matmul(h_rec, u[:, : 2 * self.units]), 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            hh = self.activation(x_h + ops.matmul(r * h_rec, u[:, 2 * self.units :]))
        h = z * h_prev + (1.0 - z) * hh
        return {"update": z, "reset": r, "candidate": hh, "hidden": h}

    def fused_sequence(self, x, states, spec):
        out, h = fused.gru_sequence(
            x, states[0], _value(self.kernel), _value(self.recurrent_kernel), _value(self.bias),
            self.reset_after, spec,
        )
        return out, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


def _value(variable):
    # A tensor read outside the custom-gradient function: on TF, a variable read inside it
    # would be treated as a captured variable (convert_to_tensor returns the variable itself).
    return None if variable is None else ops.copy(variable)


def _flat_sizes(cell):
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


@_register
class StackedRNNCells(keras.layers.Layer):
    """Several cells stacked into one: the output of cell k is the input of cell k+1.

    Follows the Keras cell protocol: `state_size` is the list of every cell's state sizes,
    and `call(inputs, states)` takes and returns states as one list per cell. Inside
    `kerasrnn.RNN`, a stack of built-in cells runs layer by layer on the fast path (identical
    results: a masked step is skipped by every cell alike).

    Args:
        cells: list of cell instances.

    Call arguments:
        inputs: `(batch, features)`; states: a list with each cell's state list.

    Example:
        >>> cell = kerasrnn.StackedRNNCells([kerasrnn.LSTMCell(8), kerasrnn.GRUCell(8)])
        >>> kerasrnn.RNN(cell)(np.zeros((2, 5, 3))).shape
        (2, 8)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not cells:
            raise ValueError(
                f"`cells` must be a non-empty list of cells. Received: cells={cells!r}"
            )
        for cell in cells:
            if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
                raise ValueError(
                    "Every cell needs a `call` method and a `state_size` attribute. "
                    f"Received: cell={cell!r}"
                )
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", _flat_sizes(last)[0])

    def build(self, input_shape):
        for cell in self.cells:
            if not cell.built:
                cell.build(input_shape)
            size = getattr(cell, "output_size", _flat_sizes(cell)[0])
            input_shape = tuple(input_shape[:-1]) + (size,)
        self.built = True

    def get_initial_state(self, batch_size=None):
        states = []
        for cell in self.cells:
            fn = getattr(cell, "get_initial_state", None)
            if fn is not None:
                states.append(list(fn(batch_size=batch_size)))
            else:
                states.append([ops.zeros((batch_size, s)) for s in _flat_sizes(cell)])
        return states

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            single = not isinstance(cell.state_size, (list, tuple))
            if not isinstance(cell_states, (list, tuple)):
                cell_states = [cell_states]
            kwargs = {"training": training} if _takes_training(cell) else {}
            inputs, cell_new = cell(inputs, cell_states[0] if single else cell_states, **kwargs)
            new_states.append(list(cell_new) if isinstance(cell_new, (list, tuple)) else [cell_new])
        return inputs, new_states

    def get_config(self):
        return {
            **super().get_config(),
            "cells": [keras.saving.serialize_keras_object(c) for c in self.cells],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cells = [keras.saving.deserialize_keras_object(c) for c in config.pop("cells")]
        return cls(cells, **config)


def _takes_training(cell):
    try:
        return "training" in inspect.signature(cell.call).parameters
    except (TypeError, ValueError):
        return False
