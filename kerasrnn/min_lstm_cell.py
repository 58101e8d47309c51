"""`MinLSTMCell`: the minimal LSTM of Feng et al. 2024, parallel over time."""

from keras import ops

from kerasrnn import _parallel
from kerasrnn._cell_base import _ParallelCell, register


@register
class MinLSTMCell(_ParallelCell):
    """minLSTM ("Were RNNs All We Needed?", Feng et al. 2024): an LSTM whose gates read only the
    input, normalized so that the state is a convex mix, with no cell/hidden split.

        f_t = σ(x_t W_f + b_f),  i_t = σ(x_t W_i + b_i)      forget and input gates
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)  normalized (the paper's
                                                              length-independent scale)
        h̃_t = act(x_t W_h + b_h)                            candidate (act linear in the paper)
        h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t

    Inside `kerasrnn.RNN` the whole sequence runs at once (an associative scan of
    h_t = a_t ⊙ h_{t-1} + b_t, a = f', b = i' ⊙ h̃; `kerasrnn._parallel`); step by step
    elsewhere, with the same numbers. At a padded step the state is kept and the output
    repeats the previous one.

    `kernel` is (F, 3·units), blocks `[f, i, h]`; `bias` (3·units,), its forget block 1 with
    `unit_forget_bias` (as Keras' LSTM).

    Args:
        units: positive int, size of `h`.
        activation: `act` of the candidate, default `"linear"` (the paper's).
        unit_forget_bias: start the forget gate's bias at 1 (default True).
        Other arguments: as `MinGRUCell`.

    Call arguments:
        inputs: `(batch, features)`; states: `[h_{t-1}]`; training: enables dropout.

    Example:
        >>> layer = kerasrnn.RNN(kerasrnn.MinLSTMCell(16))
        >>> layer(np.zeros((2, 5, 8))).shape
        (2, 16)
    """

    gates = 3

    def __init__(self, units, activation="linear", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def build(self, input_shape):
        self._add_kernel(input_shape[-1])
        initializer = None
        if self.unit_forget_bias:
            def initializer(shape, dtype=None):
                rest = self.bias_initializer((2 * self.units,), dtype=dtype)
                return ops.concatenate([ops.ones((self.units,), dtype=dtype), rest])
        self._add_bias((3 * self.units,), initializer)

    def _gates(self, x):
        fx, ix, hx = self._project(x)
        f, i, candidate = ops.sigmoid(fx), ops.sigmoid(ix), self.activation(hx)
        total = f + i
        return f / total, i / total * candidate, f, i, candidate

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: "forget" f_t, "input" i_t (before normalizing),
        "candidate" h̃_t, "hidden" h_t."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x, _ = self._masked_step_inputs(inputs, h_prev, training)
        a, b, f, i, candidate = self._gates(x)
        return {"forget": f, "input": i, "candidate": candidate, "hidden": a * h_prev + b}

    def fused_sequence(self, x, states, spec):
        a, b, _, _, _ = self._gates(x)
        h = _parallel.linear_recurrence(a, b, states[0], spec.mask)
        return spec.finish(h, repeated=True), [h[-1]]

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
