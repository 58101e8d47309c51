"""`LSTMCell`: one step of a long short-term memory."""

import keras
from keras import ops

from kerasrnn import _fused_gated
from kerasrnn._cell_base import _BaseCell, _value, register


@register
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
        out, h, c = _fused_gated.lstm_sequence(
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
