"""`QRNNCell`: quasi-recurrent cell (Bradbury et al. 2017), fo-pooling, parallel over time."""

from keras import ops

from kerasrnn import _parallel
from kerasrnn._cell_base import _ParallelCell, register


@register
class QRNNCell(_ParallelCell):
    """Quasi-recurrent cell with fo-pooling (Bradbury et al. 2017): gates from a causal
    convolution of width k over the inputs, and a recurrence linear in the state.

        [z_t, f_t, o_t] = [x_{t-k+1}, ..., x_{t-1}, x_t] W + b     (the width-k convolution)
        z_t ← act(z_t) (tanh),  f_t ← σ(f_t),  o_t ← σ(o_t)
        c_t = f_t ⊙ c_{t-1} + (1 - f_t) ⊙ z_t                       fo-pooling
        h_t = o_t ⊙ c_t                                             the output

    The states are `[c, window]`: `window` holds the k-1 previous inputs, oldest first (zeros
    before the sequence, as the convolution's causal padding), so that the cell runs step by
    step for generation with a constant-size state; with k = 1 the states are `[c]`.

    Inside `kerasrnn.RNN` the whole sequence runs at once: the convolution as one matmul over
    all steps, then the pooling by an associative scan (`kerasrnn._parallel`). At a padded step
    the states are kept (the window too: the convolution reads the previous k-1 *real* inputs,
    whatever the padding pattern) and the output repeats the previous one.

    `kernel` is (k·F, 3·units): rows for x_{t-k+1} first, blocks `[z, f, o]`; `bias` (3·units,).

    Args:
        units: positive int, size of `c` and `h`.
        window: the convolution's width k, default 2 (the paper's language model).
        activation: of `z`, default `"tanh"`.
        Other arguments: as `MinGRUCell`.

    Call arguments:
        inputs: `(batch, features)`; states: `[c_{t-1}, window]`; training: enables dropout.

    Example:
        >>> layer = kerasrnn.RNN(kerasrnn.QRNNCell(16, window=2), return_sequences=True)
        >>> layer(np.zeros((2, 5, 8))).shape
        (2, 5, 16)
    """

    gates = 3

    def __init__(self, units, window=2, activation="tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"`window` must be a positive integer. Received: window={window!r}")
        self.window = window
        self.input_dim = None

    @property
    def state_size(self):
        if self.window == 1:
            return [self.units]
        # The window's width is the input's: None until the cell is built.
        width = None if self.input_dim is None else (self.window - 1) * self.input_dim
        return [self.units, width]

    def build(self, input_shape):
        self.input_dim = int(input_shape[-1])
        self._add_kernel(self.window * self.input_dim)
        self._add_bias((3 * self.units,))

    def _gates(self, windows):
        """[x_{t-k+1} .. x_t] concatenated (..., k·F) -> z, f, o."""
        zx, fx, ox = self._project(windows)
        return self.activation(zx), ops.sigmoid(fx), ops.sigmoid(ox)

    def call(self, inputs, states, training=False):
        acts = self.step_activations(inputs, states, training)
        if self.window == 1:
            return acts["hidden"], [acts["cell"]]
        return acts["hidden"], [acts["cell"], acts["window"]]

    def step_activations(self, inputs, states, training=False):
        """One step's activations by name: "candidate" z_t, "forget" f_t, "output" o_t,
        "cell" c_t, "hidden" h_t, and the next "window" (k > 1)."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        c_prev = states[0]
        x, _ = self._masked_step_inputs(inputs, c_prev, training)
        inputs = ops.concatenate([states[1], x], axis=-1) if self.window > 1 else x
        z, f, o = self._gates(inputs)
        c = f * c_prev + (1.0 - f) * z
        acts = {"candidate": z, "forget": f, "output": o, "cell": c, "hidden": o * c}
        if self.window > 1:
            acts["window"] = inputs[:, self.input_dim :]
        return acts

    def fused_sequence(self, x, states, spec):
        c0, k, width = states[0], self.window, self.input_dim
        # The k-1 earlier inputs of every step, most recent first, counting real steps only.
        before = [states[1][:, (k - 1 - j) * width : (k - j) * width] for j in range(1, k)]
        earlier, series = [], x
        for j in range(k - 1):
            series = _parallel.previous(series, before[j], spec.mask)
            earlier.append(series)
        z, f, o = self._gates(ops.concatenate(earlier[::-1] + [x], axis=-1))
        c = _parallel.linear_recurrence(f, (1.0 - f) * z, c0, spec.mask)
        outputs = spec.finish(o * c)
        if k == 1:
            return outputs, [c[-1]]
        # The next window: the last k-1 real inputs, oldest first.
        last = [_parallel.last_real(s, b, spec.mask)[-1]
                for s, b in zip([x] + earlier[:-1], before)]
        return outputs, [c[-1], ops.concatenate(last[::-1], axis=-1)]

    def get_config(self):
        return {**super().get_config(), "window": self.window}
