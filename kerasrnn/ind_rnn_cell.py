"""`IndRNNCell`: independently recurrent cell (Li et al. 2018)."""

import keras
from keras import ops

from kerasrnn import _fused, _parallel
from kerasrnn._cell_base import _activation_name, _ParallelCell, _value, register


@register
class _MaxAbs(keras.constraints.Constraint):
    """Clips every weight to [-max_abs, max_abs] after each update (IndRNN's constraint)."""

    def __init__(self, max_abs):
        self.max_abs = max_abs

    def __call__(self, w):
        return ops.clip(w, -self.max_abs, self.max_abs)

    def get_config(self):
        return {"max_abs": self.max_abs}


@register
class IndRNNCell(_ParallelCell):
    """Independently recurrent cell (IndRNN, Li et al. 2018): each unit sees only its own past,
    through one recurrent weight per unit.

        h_t = act(x_t W + u ⊙ h_{t-1} + b)           act = ReLU in the paper

    With |u| ≤ γ the gradient through T steps is bounded by γ^T; the paper keeps u in
    [-(2)^{1/T}, (2)^{1/T}] for ReLU (`recurrent_max_abs`, applied after each update), and
    starts u uniform in [0, 1].

    Inside `kerasrnn.RNN` the input projection x W + b runs as one matmul over all steps; only
    the element-wise recurrence loops over time, with a hand-written gradient
    (`kerasrnn._parallel.elementwise_recurrence`; activations tanh, sigmoid, relu, linear,
    any other on the generic loop). At a padded step
    the state is kept and the output repeats the previous one.

    `kernel` is (F, units), `recurrent_kernel` (units,), `bias` (units,).

    Args:
        units: positive int, size of `h`.
        activation: `act`, default `"relu"`.
        recurrent_max_abs: the bound γ on |u|, or None (no constraint). For sequences of
            length T the paper uses 2 ** (1 / T).
        recurrent_initializer: for `u`, default uniform in [0, 1].
        recurrent_regularizer, recurrent_constraint: for `u` (a constraint given here
            replaces `recurrent_max_abs`).
        recurrent_dropout: rate dropped from `h_{t-1}` before `u`, one mask per sequence.
        Other arguments: as `MinGRUCell`.

    Call arguments:
        inputs: `(batch, features)`; states: `[h_{t-1}]`; training: enables dropout.

    Example:
        >>> layer = kerasrnn.RNN(kerasrnn.IndRNNCell(16, recurrent_max_abs=2 ** (1 / 100)))
        >>> layer(np.zeros((2, 5, 8))).shape
        (2, 16)
    """

    recurrent_options = _ParallelCell.RECURRENT[:4]  # not weight_drop, zoneout_h

    def __init__(self, units, activation="relu", recurrent_max_abs=None,
                 recurrent_initializer=None, recurrent_constraint=None, **kwargs):
        if recurrent_max_abs is not None and not (
                isinstance(recurrent_max_abs, (int, float)) and recurrent_max_abs > 0):
            raise ValueError(f"`recurrent_max_abs` must be a positive number or None. "
                             f"Received: recurrent_max_abs={recurrent_max_abs!r}")
        if recurrent_constraint is None and recurrent_max_abs is not None:
            recurrent_constraint = _MaxAbs(float(recurrent_max_abs))
        super().__init__(
            units, activation=activation, recurrent_constraint=recurrent_constraint,
            recurrent_initializer=recurrent_initializer or keras.initializers.RandomUniform(0, 1),
            **kwargs)
        self.recurrent_max_abs = recurrent_max_abs

    def build(self, input_shape):
        self._add_kernel(input_shape[-1])
        self.recurrent_kernel = self.add_weight(
            shape=(self.units,), name="recurrent_kernel",
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        self._add_bias((self.units,))

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: {"hidden": h_t}."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x, h_rec = self._masked_step_inputs(inputs, h_prev, training)
        return {"hidden": self.activation(self._project(x)[0] + self.recurrent_kernel * h_rec)}

    def fused_spec(self, mask, rec_mask, zero_output, unroll, training=True, sequences=True):
        if _activation_name(self.activation) not in _fused.FUNCTIONS:
            return None  # no hand-written derivative: the generic loop (autodiff) runs it
        return super().fused_spec(mask, rec_mask, zero_output, unroll, training, sequences)

    def fused_sequence(self, x, states, spec):
        u = _value(self.recurrent_kernel)  # a tensor: TF would see a variable as captured
        u = u if spec.rec_mask is None else u * spec.rec_mask
        h = _parallel.elementwise_recurrence(self._project(x)[0], u, states[0],
                                             _activation_name(self.activation), spec.mask)
        return spec.finish(h, repeated=True), [h[-1]]

    def get_config(self):
        config = {**super().get_config(), "recurrent_max_abs": self.recurrent_max_abs}
        if isinstance(self.recurrent_constraint, _MaxAbs):
            config["recurrent_constraint"] = None  # rebuilt from recurrent_max_abs
        return config
