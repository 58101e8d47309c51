"""`SimpleRNNCell`: the Elman cell, one step."""

from keras import ops

from kerasrnn import _fused
from kerasrnn._cell_base import _BaseCell, _value, register


@register
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
        weight_drop: DropConnect rate on `U` (Merity et al. 2017): at training one mask on the
            recurrent kernel per call, so the whole sequence sees the same dropped weights
            (the fused kernel stays fused); the identity at inference.
        zoneout_h: zoneout rate on `h` (Krueger et al. 2017): at training each unit keeps
            h_{t-1} with this probability, a fresh draw every step; at inference
            h_t = z h_{t-1} + (1 - z) h~_t, the expectation.
        seed: seed of the dropout, weight-drop and zoneout masks.

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

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: {"hidden": h_t}."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x, h_rec = self._masked_step_inputs(inputs, h_prev, training)
        a = ops.matmul(x, self.kernel) + ops.matmul(h_rec, self._recurrent_kernel(training))
        if self.use_bias:
            a = a + self.bias
        return {"hidden": self._zone(0, h_prev, self.activation(a), training)}

    fused_variants = ("zoneout",)

    def fused_sequence(self, x, states, spec):
        out, h = _fused.simple_rnn_sequence(
            x, states[0], _value(self.kernel), self._recurrent_kernel(spec.training, fused=True),
            _value(self.bias), spec, zoneout=self._fused_zoneout(spec)[0],
        )
        return out, [h]
