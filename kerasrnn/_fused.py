"""Whole-sequence kernels for the built-in cells, with hand-written gradients: the shared
machinery and the SimpleRNN kernel (the LSTM and GRU kernels: `kerasrnn._fused_gated`).

Autodiff through a recurrent loop saves every intermediate of every step and replays the loop
backwards op by op. These kernels do what cuDNN does instead: the forward loop saves, per step,
only what the backward multiplies by; the reverse loop computes only what is truly recurrent
(dh, dc and the pre-activation gradients dZ_t); the weight, bias and input gradients are then
single large matmuls over all steps (dW = X^T dZ, dU = H_prev^T dZ, db = sum dZ, dX = dZ W^T).

On CPU, memory is what these kernels save first. A fresh (T, B, 4H) buffer costs more than the
arithmetic that fills it: the runtime maps new pages for each training step's temporaries, and
faulting them in took ~40% of a JAX LSTM step on the 2-core CI machine (20k page faults per
step). So the LSTM and GRU (reset_after) kernels save the backward's multipliers instead of the
gates (nothing left to evaluate in the reverse loop, masks folded in), write dZ over them in place
(JAX), return only the last output when no one reads the others (`spec.sequences=False`), and
never build a shifted or padded copy of a whole sequence.

Conventions (all tensors time-major):
    x: (T, B, F) inputs (input dropout already applied); h0, c0: (B, H) initial states.
    mask: (T, B, 1) float 0/1 or None. A masked step keeps the previous state; its output is
        that kept state, or zeros when `zero_output=True`.
    rec_mask: (B, H) recurrent dropout mask or None, multiplied into h_{t-1} before the
        recurrent matmul (one mask for the whole sequence).
Each kernel returns (outputs, *final_states): outputs (T, B, H), or with
`spec.sequences=False` the last step's output (B, H).

Activations are restricted to those whose derivative can be computed from their output
(`DERIVATIVES`); a cell with any other activation runs on the generic (autodiff) loop.
"""

from keras import ops

from kerasrnn import _scan

# derivative of the activation, written in terms of its output y = act(a)
DERIVATIVES = {
    "tanh": lambda y: 1.0 - y * y,
    "sigmoid": lambda y: y * (1.0 - y),
    "relu": lambda y: ops.cast(y > 0, y.dtype),
    "linear": lambda y: ops.ones_like(y),
}
FUNCTIONS = {
    "tanh": ops.tanh,
    "sigmoid": ops.sigmoid,
    "relu": ops.relu,
    "linear": lambda a: a,
}


def _flat(a):
    return ops.reshape(a, (-1, ops.shape(a)[-1]))


def _sum_outer(a, b):
    """sum over time and batch of a_t^T b_t: (T, B, X), (T, B, Y) -> (X, Y)."""
    return ops.matmul(ops.transpose(_flat(a)), _flat(b))


def _shift(first, seq):
    """[first, seq_0, ..., seq_{T-2}]: the 'previous' value at every step."""
    return ops.concatenate([first[None], seq[:-1]], axis=0)


def _keep(m, new, old):
    return new if m is None else ops.where(m, new, old)


def _split_masked(m, d):
    """Gradient of where(m, new, old) w.r.t. (new, old)."""
    if m is None:
        return d, None
    zero = ops.zeros_like(d)
    return ops.where(m, d, zero), ops.where(m, zero, d)


def _add(a, b):
    return a if b is None else a + b


def _normalize(a, blocks, epsilon=1e-5):
    """Layer normalization over each of `blocks` equal parts of the last axis (one per gate):
    the normalized `a` and 1/sqrt(var + epsilon), (..., blocks, 1)."""
    shape = ops.shape(a)
    parts = ops.reshape(a, tuple(shape[:-1]) + (blocks, a.shape[-1] // blocks))
    centered = parts - ops.mean(parts, axis=-1, keepdims=True)
    rstd = ops.rsqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + epsilon)
    return ops.reshape(centered * rstd, shape), rstd


def _normalize_grad(d, n, rstd, blocks):
    """Gradient of `_normalize` from that of its output `d`, the normalized `n` and `rstd`:
    rstd (d - mean(d) - n mean(d n)), the means over each block."""
    shape = ops.shape(d)
    split = tuple(shape[:-1]) + (blocks, d.shape[-1] // blocks)
    d, n = ops.reshape(d, split), ops.reshape(n, split)
    mean_d = ops.mean(d, axis=-1, keepdims=True)
    mean_dn = ops.mean(d * n, axis=-1, keepdims=True)
    return ops.reshape(rstd * (d - mean_d - n * mean_dn), shape)


def _unpack_upstream(args, n):
    # TF passes one upstream gradient per output; JAX passes them as one tuple.
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return args[:n]


class _Spec:
    """Flags and optional tensors of one kernel call, so each kernel's signature stays short."""

    def __init__(
        self, mask, rec_mask, zero_output, activation, recurrent_activation, unroll, training,
        sequences=True,
    ):
        self.mask = mask
        self.sequences = sequences
        self.training = training
        self.rec_mask = rec_mask
        self.zero_output = zero_output
        self.act, self.dact = FUNCTIONS[activation], DERIVATIVES[activation]
        self.ract = FUNCTIONS[recurrent_activation]
        self.dract = DERIVATIVES[recurrent_activation]
        self.unroll = unroll

    def extras(self):
        return [t for t in (self.mask, self.rec_mask) if t is not None]

    def unpack_extras(self, extras):
        extras = list(extras)
        mask = extras.pop(0) if self.mask is not None else None
        rec_mask = extras.pop(0) if self.rec_mask is not None else None
        return mask, rec_mask

    def output(self, states, bool_mask):
        if self.zero_output and bool_mask is not None:
            return ops.where(bool_mask, states, ops.zeros_like(states))
        return states


def _first_output(spec, states, bool_mask):
    """The kernel's first output: all steps' outputs, or with `spec.sequences=False` only the
    last one, so that no (T, B, H) output (nor its gradient) exists when nothing reads it."""
    if not spec.sequences and bool_mask is not None:
        bool_mask = bool_mask[-1]
    return spec.output(states, bool_mask)


def _upstream_xs(spec, xs, upstream, bool_mask):
    """The reverse loop's inputs, with the per-step output gradient appended when the kernel
    returned all outputs; dh_T, with the last output's gradient folded in when it did not."""
    d_out, dh_t = upstream
    if spec.sequences:
        return xs + (spec.output(d_out, bool_mask),), dh_t  # zeroing is its own gradient
    last_mask = None if bool_mask is None else bool_mask[-1]
    return xs, dh_t + spec.output(d_out, last_mask)


def _sequence_grad(spec, d_out, dh_t, hs, bool_mask):
    """Upstream gradient of `_first_output` as one per step (T, B, H), and dh_T."""
    if spec.sequences:
        return spec.output(d_out, bool_mask), dh_t  # zeroing is its own gradient
    last_mask = None if bool_mask is None else bool_mask[-1]
    return ops.zeros_like(hs), dh_t + spec.output(d_out, last_mask)


def _bool(mask):
    return None if mask is None else mask > 0.5


def _masked_xs(xs, bool_mask):
    return xs + ((bool_mask,) if bool_mask is not None else ())


def _recurrent_in(h, rec_mask):
    return h if rec_mask is None else h * rec_mask


def _parse(args, n_states, use_bias, spec, n_more=0):
    """args = [x, *states, kernel, recurrent_kernel, (bias), *more, (mask), (rec_mask)];
    returns (x, states, w, u, b, bool mask, rec_mask, *more): `more` are a kernel's further
    weights (the LSTM's projection, peepholes and layer norm)."""
    x, states = args[0], tuple(args[1 : 1 + n_states])
    w, u = args[1 + n_states], args[2 + n_states]
    b = args[3 + n_states] if use_bias else None
    start = 3 + n_states + use_bias
    more = tuple(args[start : start + n_more])
    mask, rm = spec.unpack_extras(args[start + n_more :])
    return (x, states, w, u, b, _bool(mask), rm) + more


def _launch(
    forward, backward, make_step, x, states, kernel, recurrent_kernel, bias, spec, input_grad=None,
    more=(), n_step=0,
):
    """Runs a kernel with its hand-written gradient.

    `forward(*args) -> (outputs, saved)` is the loop that saves what the backward needs;
    `backward(args, saved, upstream) -> (ds, grads)` returns the gradient of the input
    projection's pre-activations (T, B, G) as `ds[0]` (or in parts, see `input_grad`) and those
    of the states and weights. Each is one compiled function (`_scan.compiled`). The input
    gradient dX = ds[0] W^T (or `input_grad(W, ds)`, flat) is computed outside them: when
    nothing reads it (the layer's input needs no gradient), TensorFlow's graph then never runs
    it, as JAX's jit drops it.

    At inference (`spec.training=False`) a lean forward loop that saves nothing runs instead;
    if it is differentiated after all, its gradient re-runs `forward` and applies `backward`.
    `more`: further weights, after the bias in `args` (and in `backward`'s gradients);
    `make_step(w, u, b, rec_mask, mask, save, *more)` receives them, but for the last
    `n_step` of them: those are per-step (T, B, .) inputs, which the loop reads after x.
    """
    use_bias = bias is not None
    n_states = len(states)
    args = [x, *states, kernel, recurrent_kernel] + ([bias] if use_bias else []) + list(more)
    args += spec.extras()
    compiled_fwd, compiled_bwd = _scan.compiled(forward), _scan.compiled(backward)

    # The compiled functions are opaque to autodiff (their gradient is written by hand): cut
    # their inputs off the tape, or TensorFlow would prepare to differentiate their loops.
    def fwd(*args):
        return compiled_fwd(*_opaque(args))

    def gradient(args, saved):
        def grad(*upstream, **kwargs):
            upstream = tuple(_unpack_upstream(upstream, 1 + n_states))
            ds, grads = compiled_bwd(*map(_opaque, (args, saved, upstream)))
            x, w = args[0], args[1 + n_states]
            if input_grad is None:
                dx = ops.matmul(_flat(ds[0]), ops.transpose(w))
            else:
                dx = input_grad(w, ds)
            dx = ops.reshape(dx, ops.shape(x)[:-1] + (ops.shape(w)[0],))
            return [dx, *grads] + [ops.zeros_like(e) for e in spec.extras()]

        return grad

    if spec.training:

        def run(*args):
            outputs, saved = fwd(*args)
            return tuple(outputs), gradient(args, saved)

        return ops.custom_gradient(run)(*args)

    def lean_forward(*args):
        x, init, w, u, b, m, rm, *weights = _parse(args, n_states, use_bias, spec, len(more))
        per_step = tuple(weights[len(weights) - n_step :])
        step = make_step(w, u, b, rm, m, False, *weights[: len(weights) - n_step])
        final, ys = _scan.scan(
            step, init, _masked_xs((x,) + per_step, m), n_ys=int(spec.sequences),
            unroll=spec.unroll,
        )
        return (_first_output(spec, ys[0] if ys else final[0], m),) + tuple(final)

    lean = _scan.compiled(lean_forward)

    def run_lean(*args):
        def grad(*upstream, **kwargs):
            return gradient(args, fwd(*args)[1])(*upstream)

        return tuple(lean(*_opaque(args))), grad

    return ops.custom_gradient(run_lean)(*args)


def _opaque(tensors):
    return tuple(ops.stop_gradient(t) for t in tensors)


def _weight_grads(x, d_in, bias_grad_needed):
    """dW (and db) of the input projection x @ W + b from its pre-activation gradient."""
    dw = _sum_outer(x, d_in)
    return [dw], ([ops.sum(_flat(d_in), axis=0)] if bias_grad_needed else [])


def simple_rnn_sequence(x, h0, kernel, recurrent_kernel, bias, spec, zoneout=None):
    """Elman RNN over a whole sequence. `bias` may be None (use_bias=False). `zoneout`: None,
    the rate (inference) or the (T, B, H) 0/1 masks of the units kept (training); the loop
    then also saves h~_t = act(a_t), whose derivative the backward needs."""
    use_bias = bias is not None
    masks = [] if zoneout is None or isinstance(zoneout, float) else [zoneout]
    zoned = zoneout is not None

    def make_step(w, u, b, rm, m, save):
        def step(carry, xs):
            (h,) = carry
            a = ops.matmul(xs[0], w) + ops.matmul(_recurrent_in(h, rm), u)
            if use_bias:
                a = a + b
            h_act = spec.act(a)
            kh = xs[1] if masks else zoneout
            h_new = _keep(xs[-1] if m is not None else None,
                          h_act if kh is None else h_act + kh * (h - h_act), h)
            ys = (h_new,) if (save or spec.sequences) else ()
            return (h_new,), ys + ((h_act,) if save and zoned else ())

        return step

    def forward(*args):
        x, (h0,), w, u, b, m, rm, *kept = _parse(args, 1, use_bias, spec, len(masks))
        (h_t,), saved = _scan.scan(
            make_step(w, u, b, rm, m, True), (h0,), _masked_xs((x, *kept), m), n_ys=1 + zoned,
            unroll=spec.unroll,
        )
        return (_first_output(spec, saved[0] if spec.sequences else h_t, m), h_t), saved

    def backward(args, saved, upstream):
        x, (h0,), w, u, b, m, rm, *kept = _parse(args, 1, use_bias, spec, len(masks))
        hs, h_act = saved[0], saved[-1]  # h_t, and act(a_t) (the same without zoneout)
        d_out, dh_t = _sequence_grad(spec, *upstream, hs, m)
        u_t = ops.transpose(u)  # once, outside the reverse loop

        def back(carry, xs):
            (dh,) = carry
            d_o, h = xs[:2]
            dh, dh_skip = _split_masked(xs[-1] if m is not None else None, dh + d_o)
            kh = xs[2] if masks else zoneout
            dh_kept = None if kh is None else dh * kh  # zoneout: straight to h_{t-1}
            da = (dh if kh is None else dh - dh_kept) * spec.dact(h)
            dh_prev = _add(_recurrent_in(ops.matmul(da, u_t), rm), dh_kept)
            return (_add(dh_prev, dh_skip),), (da,)

        (dh0,), (da,) = _scan.scan(
            back, (dh_t,), _masked_xs((d_out, h_act, *kept), m), n_ys=1, reverse=True,
            unroll=spec.unroll, overwrite=0,
        )
        dw, db = _weight_grads(x, da, use_bias)
        du = _sum_outer(_recurrent_in(_shift(h0, hs), rm), da)
        return (da,), [dh0, *dw, du, *db] + [ops.zeros_like(k) for k in kept]

    return _launch(forward, backward, make_step, x, (h0,), kernel, recurrent_kernel, bias, spec,
                   more=masks, n_step=len(masks))
