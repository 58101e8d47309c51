"""`GRUCell`: one step of a gated recurrent unit."""

import keras
from keras import ops

from kerasrnn import _fused_gru
from kerasrnn._cell_base import _BaseCell, _value, block_norm, register


@register
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

    Variants (off by default):

    - `layer_norm=True` (Ba et al. 2016): the input pre-activations x_t W and the recurrent
      ones h_{t-1} U (with reset_after=False: h_{t-1} U_zr and (r_t * h_{t-1}) U_h) are
      normalized separately, each gate block over its units, times learned gains
      `input_norm_gain`, `recurrent_norm_gain` (3·units,), before the biases (which act as the
      normalizations' shift): x_t W_z becomes LN(x_t W_z) γ_xz, and so on
      (LN(a) = (a - mean(a)) / sqrt(var(a) + 1e-5)).
    - `zoneout_h`, `weight_drop`: as `SimpleRNNCell`.

    A masked (padded) step keeps h. Inside `kerasrnn.RNN` every variant runs on the fused
    kernel (`kerasrnn._fused_gru`, hand-written gradients), except layer norm and zoneout
    with reset_after=False, which run on the generic loop (autodiff through `call`).

    Args:
        units: positive int, size of `h`.
        activation: for `ĥ`, default `"tanh"`.
        recurrent_activation: for the gates, default `"sigmoid"`.
        reset_after: which form (see above), default True.
        layer_norm: see above, default False.
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
        layer_norm=False, **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.reset_after = reset_after
        self.layer_norm = bool(layer_norm)

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        self._add_bias((2, 3 * self.units) if self.reset_after else (3 * self.units,))
        if self.layer_norm:
            self.input_norm_gain, self.recurrent_norm_gain = (self.add_weight(
                shape=(3 * self.units,), name=name, initializer="ones")
                for name in ("input_norm_gain", "recurrent_norm_gain"))

    def _norm(self, a, gain, first=0):
        """LN of each gate block of `a` (blocks `first`, `first` + 1, ... of the three) times
        the gain's matching blocks; the identity without layer_norm."""
        if not self.layer_norm:
            return a
        start = first * self.units
        return block_norm(a, a.shape[-1] // self.units) * gain[start : start + a.shape[-1]]

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: the gates "update" z_t and "reset" r_t, the
        "candidate" ĥ_t and the new "hidden" h_t."""
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x, h_rec = self._masked_step_inputs(inputs, h_prev, training)
        u = self._recurrent_kernel(training)
        xz = self._norm(ops.matmul(x, self.kernel), getattr(self, "input_norm_gain", None))
        g_rec = getattr(self, "recurrent_norm_gain", None)
        b_rec = None
        if self.use_bias:
            b_in, b_rec = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
            xz = xz + b_in
        x_z, x_r, x_h = ops.split(xz, 3, axis=-1)
        if self.reset_after:
            rz = self._norm(ops.matmul(h_rec, u), g_rec)
            if b_rec is not None:
                rz = rz + b_rec
            r_z, r_r, r_h = ops.split(rz, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            hh = self.activation(x_h + r * r_h)
        else:
            rzr = self._norm(ops.matmul(h_rec, u[:, : 2 * self.units]), g_rec)
            r_z, r_r = ops.split(rzr, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            rzh = self._norm(ops.matmul(r * h_rec, u[:, 2 * self.units :]), g_rec, first=2)
            hh = self.activation(x_h + rzh)
        h = z * h_prev + (1.0 - z) * hh
        h = self._zone(0, h_prev, h, training)
        return {"update": z, "reset": r, "candidate": hh, "hidden": h}

    @property
    def fused_variants(self):
        return ("zoneout", "layer_norm") if self.reset_after else ()

    def fused_sequence(self, x, states, spec):
        norm = None
        if self.layer_norm:
            norm = [_value(self.input_norm_gain), _value(self.recurrent_norm_gain)]
        out, h = _fused_gru.gru_sequence(
            x, states[0], _value(self.kernel), self._recurrent_kernel(spec.training, fused=True),
            _value(self.bias), self.reset_after, spec, norm=norm,
            zoneout=self._fused_zoneout(spec)[0],
        )
        return out, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
            "layer_norm": self.layer_norm,
        }
