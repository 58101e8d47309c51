"""`MinGRUCell`: the minimal GRU of Feng et al. 2024, parallel over time."""

from keras import ops

from kerasrnn import _parallel
from kerasrnn._cell_base import _ParallelCell, register


@register
class MinGRUCell(_ParallelCell):
    """minGRU ("Were RNNs All We Needed?", Feng et al. 2024): a GRU whose gate and candidate
    read only the input, so the recurrence is linear in the state.

        z_t = σ(x_t W_z + b_z)                   update gate
        h̃_t = act(x_t W_h + b_h)                 candidate (act linear in the paper)
        h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

    Inside `kerasrnn.RNN` the whole sequence runs at once: both matmuls over all steps, then
    h_t = a_t ⊙ h_{t-1} + b_t with a = 1 - z, b = z ⊙ h̃ by an associative scan (O(log T)
    depth; `kerasrnn._parallel`). Step by step (generation, `keras.layers.RNN`) it is the
    equations above, with the same numbers. At a padded step the state is kept (the scan's
    identity element a = 1, b = 0) and the output repeats the previous one.

    `kernel` is (F, 2·units), blocks `[z, h]`; `bias` (2·units,).

    Args:
        units: positive int, size of `h`.
        activation: `act` of the candidate, default `"linear"` (the paper's).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in Keras.
        dropout: rate dropped from `x_t`, one mask per sequence. seed: its seed.

    Call arguments:
        inputs: `(batch, features)`; states: `[h_{t-1}]`; training: enables dropout.

    Example:
        >>> layer = kerasrnn.RNN(kerasrnn.MinGRUCell(16), return_sequences=True)
        >>> layer(np.zeros((2, 5, 8))).shape
        (2, 5, 16)
    """

    gates = 2

    def __init__(self, units, activation="linear", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    def build(self, input_shape):
        self._add_kernel(input_shape[-1])
        self._add_bias((2 * self.units,))

    def _gates(self, x):
        """(a, b) of h = a ⊙ h_prev + b, and the gate and candidate, for any leading shape."""
        zx, hx = self._project(x)
        z, candidate = ops.sigmoid(zx), self.activation(hx)
        return 1.0 - z, z * candidate, z, candidate

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: "update" z_t, "candidate" h̃_t, "hidden" h_t."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x, _ = self._masked_step_inputs(inputs, h_prev, training)
        a, b, z, candidate = self._gates(x)
        return {"update": z, "candidate": candidate, "hidden": a * h_prev + b}

    def fused_sequence(self, x, states, spec):
        a, b, _, _ = self._gates(x)
        h = _parallel.linear_recurrence(a, b, states[0], spec.mask)
        return spec.finish(h, repeated=True), [h[-1]]
