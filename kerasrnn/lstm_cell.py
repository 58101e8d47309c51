"""`LSTMCell`: one step of a long short-term memory, with the variants the literature uses."""

import keras
from keras import ops

from kerasrnn import _fused_gated
from kerasrnn._cell_base import _BaseCell, _check_rate, _value, block_norm, register


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

    Variants (each off by default; any combination):

    - `peephole=True` (Gers & Schmidhuber 2000): the gates also see the cell state through
      diagonal weights, `peephole_kernel` (3, units) = rows [p_i, p_f, p_o]:
          i_t = σ(... + p_i * c_{t-1}),  f_t = σ(... + p_f * c_{t-1}),  o_t = σ(... + p_o * c_t)
    - `projection_units=p` (Sak et al. 2014; torch's `proj_size`): h_t = (o_t * tanh(c_t)) W_hr
      with `projection_kernel` W_hr (units, p); h has p units, so `recurrent_kernel` is
      (p, 4·units) and the states are `[h (p), c (units)]`. A torch `nn.LSTM(proj_size=p)`
      maps on as `kernel = weight_ih.T`, `recurrent_kernel = weight_hh.T`,
      `bias = bias_ih + bias_hh`, `projection_kernel = weight_hr.T` (same gate order).
    - `layer_norm=True` (Ba et al. 2016): the input and the recurrent pre-activations are
      normalized separately, each gate block over its units, with learned gains
      (`input_norm_gain`, `recurrent_norm_gain`, (4·units,)) and the cell's `bias` as their
      shift; the cell state is normalized before the output tanh with its own gain and bias
      (`cell_norm_gain`, `cell_norm_bias`, (units,)):
          z_t = LN(x_t W) ⊙ γ_x + LN(h_{t-1} U) ⊙ γ_h + b,   h_t = o_t * tanh(LN(c_t) ⊙ γ_c + β_c)
      (LN(a) = (a - mean(a)) / sqrt(var(a) + 1e-5) over each block's units); c_t itself is
      carried unnormalized.
    - `zoneout_h`, `zoneout_c` (Krueger et al. 2017): at training each unit of h (of c) keeps
      its previous value with that probability, a fresh draw every step; at inference the
      expectation, h_t = z h_{t-1} + (1 - z) h~_t (h~_t, c~_t: the values computed above; h~_t
      is computed from c~_t). `weight_drop`: DropConnect on `recurrent_kernel`, one mask per
      call (see `SimpleRNNCell`).

    A masked (padded) step keeps `[h, c]` unchanged, zoneout or not. Inside `kerasrnn.RNN`
    every variant runs on the fused kernel (`kerasrnn._fused_gated`, hand-written gradients).

    Args:
        units: positive int, size of `c` (and of `h` without projection).
        activation: for `g` and `tanh(c)`, default `"tanh"`.
        recurrent_activation: for the gates, default `"sigmoid"`.
        unit_forget_bias: initialise `b_f` to 1 (Jozefowicz et al. 2015), default True.
        peephole, projection_units, layer_norm, zoneout_c: see above; `weight_drop`,
            `zoneout_h` and the other arguments: as `SimpleRNNCell`.

    Call arguments:
        inputs: `(batch, features)`; states: `[h_{t-1}, c_{t-1}]`; training: enables dropout,
            weight-drop and zoneout's random draws.

    Example:
        >>> cell = kerasrnn.LSTMCell(16, projection_units=8, layer_norm=True)
        >>> y, (h, c) = cell(np.zeros((2, 8)), cell.get_initial_state(2))
        >>> h.shape, c.shape
        ((2, 8), (2, 16))
    """

    gates = 4
    fused_variants = ("zoneout", "layer_norm")

    def __init__(
        self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True,
        peephole=False, projection_units=None, layer_norm=False, zoneout_c=0.0, **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        if projection_units is not None and (
                not isinstance(projection_units, int) or isinstance(projection_units, bool)
                or projection_units <= 0):
            raise ValueError("`projection_units` must be a positive integer or None. "
                             f"Received: projection_units={projection_units!r}")
        _check_rate("zoneout_c", zoneout_c)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias
        self.peephole = bool(peephole)
        self.projection_units = projection_units
        self.layer_norm = bool(layer_norm)
        self.zoneout_c = float(zoneout_c)

    @property
    def state_size(self):
        return [self.output_size, self.units]

    @property
    def output_size(self):
        return self.projection_units or self.units

    def zoneout_rates(self):
        return [self.zoneout_h, self.zoneout_c]

    def build(self, input_shape):
        self._add_kernels(input_shape[-1], recurrent_rows=self.output_size)
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
        self.peephole_kernel = self.projection_kernel = None
        if self.peephole:
            self.peephole_kernel = self.add_weight(
                shape=(3, self.units), name="peephole_kernel", initializer="zeros")
        if self.projection_units:
            self.projection_kernel = self.add_weight(
                shape=(self.units, self.projection_units), name="projection_kernel",
                initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint)
        if self.layer_norm:
            for name, size in (("input_norm_gain", 4), ("recurrent_norm_gain", 4),
                               ("cell_norm_gain", 1)):
                setattr(self, name, self.add_weight(
                    shape=(size * self.units,), name=name, initializer="ones"))
            self.cell_norm_bias = self.add_weight(
                shape=(self.units,), name="cell_norm_bias", initializer="zeros")

    def call(self, inputs, states, training=False):
        a = self.step_activations(inputs, states, training)
        return a["hidden"], [a["hidden"], a["cell"]]

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: the gates "input", "forget", "output", the
        "candidate" g_t, and the new "cell" c_t and "hidden" h_t."""
        h_prev, c_prev = states[0], states[1]
        x, h_rec = self._masked_step_inputs(inputs, h_prev, training)
        zx = ops.matmul(x, self.kernel)
        zh = ops.matmul(h_rec, self._recurrent_kernel(training))
        if self.layer_norm:
            zx = block_norm(zx, 4) * self.input_norm_gain
            zh = block_norm(zh, 4) * self.recurrent_norm_gain
        z = zx + zh
        if self.use_bias:
            z = z + self.bias
        zi, zf, zg, zo = ops.split(z, 4, axis=-1)
        if self.peephole:
            zi = zi + self.peephole_kernel[0] * c_prev
            zf = zf + self.peephole_kernel[1] * c_prev
        i = self.recurrent_activation(zi)
        f = self.recurrent_activation(zf)
        g = self.activation(zg)
        c = f * c_prev + i * g
        if self.peephole:
            zo = zo + self.peephole_kernel[2] * c
        o = self.recurrent_activation(zo)
        c_out = c
        if self.layer_norm:
            c_out = block_norm(c, 1) * self.cell_norm_gain + self.cell_norm_bias
        h = o * self.activation(c_out)
        if self.projection_units:
            h = ops.matmul(h, self.projection_kernel)
        h = self._zone(0, h_prev, h, training)
        c = self._zone(1, c_prev, c, training)
        return {"input": i, "forget": f, "output": o, "candidate": g, "cell": c, "hidden": h}

    def fused_sequence(self, x, states, spec):
        norm = None
        if self.layer_norm:
            norm = [_value(v) for v in (self.input_norm_gain, self.recurrent_norm_gain,
                                        self.cell_norm_gain, self.cell_norm_bias)]
        out, h, c = _fused_gated.lstm_sequence(
            x, states[0], states[1], _value(self.kernel),
            self._recurrent_kernel(spec.training, fused=True), _value(self.bias), spec,
            projection=_value(self.projection_kernel), peephole=_value(self.peephole_kernel),
            norm=norm, zoneout=self._fused_zoneout(spec),
        )
        return out, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
            "peephole": self.peephole,
            "projection_units": self.projection_units,
            "layer_norm": self.layer_norm,
            "zoneout_c": self.zoneout_c,
        }
