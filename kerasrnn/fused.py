"""Whole-sequence kernels for the built-in cells, with hand-written gradients.

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


def _parse(args, n_states, use_bias, spec):
    """args = [x, *states, kernel, recurrent_kernel, (bias), (mask), (rec_mask)]."""
    x, states = args[0], tuple(args[1 : 1 + n_states])
    w, u = args[1 + n_states], args[2 + n_states]
    b = args[3 + n_states] if use_bias else None
    mask, rm = spec.unpack_extras(args[3 + n_states + use_bias :])
    return x, states, w, u, b, _bool(mask), rm


def _launch(
    forward, backward, make_step, x, states, kernel, recurrent_kernel, bias, spec, input_grad=None
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
    """
    use_bias = bias is not None
    n_states = len(states)
    args = [x, *states, kernel, recurrent_kernel] + ([bias] if use_bias else []) + spec.extras()
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
        x, init, w, u, b, m, rm = _parse(args, n_states, use_bias, spec)
        step = make_step(w, u, b, rm, m, False)
        final, ys = _scan.scan(
            step, init, _masked_xs((x,), m), n_ys=int(spec.sequences), unroll=spec.unroll
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


def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias, spec):
    """LSTM over a whole sequence. `bias` may be None (use_bias=False).

    The forward loop saves, per step, what the backward loop multiplies by instead of the
    gates: P = [g i', c_{t-1} f', i g', tanh(c_t) o'] (so dZ = [dc, dc, dc, dh] * P),
    E = o act'(c_t) (so dc += dh E) and f (so dc_{t-1} = dc f), all already zeroed (f: one)
    at masked steps. The backward loop then has no activation left to evaluate, and its dZ
    is written over P in place.
    """
    use_bias = bias is not None

    def make_step(w, u, b, rm, m, save):
        def step(carry, xs):
            h, c = carry
            hr = _recurrent_in(h, rm)
            z = ops.matmul(xs[0], w) + ops.matmul(hr, u)
            if use_bias:
                z = z + b
            zi, zf, zg, zo = ops.split(z, 4, axis=-1)
            i, f, o = spec.ract(zi), spec.ract(zf), spec.ract(zo)
            g = spec.act(zg)
            c_new = f * c + i * g
            tc = spec.act(c_new)
            h_new = o * tc
            mt = xs[1] if m is not None else None
            h_new, c_new = _keep(mt, h_new, h), _keep(mt, c_new, c)
            ys = (h_new,) if spec.sequences else ()
            if not save:
                return (h_new, c_new), ys
            p = ops.concatenate(
                [g * spec.dract(i), c * spec.dract(f), i * spec.dact(g), tc * spec.dract(o)],
                axis=-1,
            )
            e = o * spec.dact(tc)
            if mt is not None:
                p, e = ops.where(mt, p, ops.zeros_like(p)), ops.where(mt, e, ops.zeros_like(e))
                f = ops.where(mt, f, ops.ones_like(f))
            return (h_new, c_new), (p, e, f, hr) + ys

        return step

    def forward(*args):
        x, (h0, c0), w, u, b, m, rm = _parse(args, 2, use_bias, spec)
        (h_t, c_t), saved = _scan.scan(
            make_step(w, u, b, rm, m, True), (h0, c0), _masked_xs((x,), m),
            n_ys=5 if spec.sequences else 4, unroll=spec.unroll,
        )
        outputs = (_first_output(spec, saved[4] if spec.sequences else h_t, m), h_t, c_t)
        return outputs, tuple(saved[:4])

    def backward(args, saved, upstream):
        x, _, w, u, b, m, rm = _parse(args, 2, use_bias, spec)
        p, e, f, hr_prev = saved
        d_out, dh_t, dc_t = upstream
        u_t = ops.transpose(u)  # once, outside the reverse loop
        xs, dh_t = _upstream_xs(spec, (p, e, f), (d_out, dh_t), m)

        def back(carry, xs):
            dh, dc = carry
            p_t, e_t, f_t = xs[:3]
            if spec.sequences:
                dh = dh + xs[3]
            dc = dc + dh * e_t
            dz = ops.concatenate([dc, dc, dc, dh], axis=-1) * p_t
            dh_prev = _recurrent_in(ops.matmul(dz, u_t), rm)
            if m is not None:  # a masked step hands dh on to h_{t-1} unchanged
                dh_prev = dh_prev + ops.where(xs[-1], ops.zeros_like(dh), dh)
            return (dh_prev, dc * f_t), (dz,)

        (dh0, dc0), (dz,) = _scan.scan(
            back, (dh_t, dc_t), _masked_xs(xs, m), n_ys=1, reverse=True,
            unroll=spec.unroll, overwrite=0,
        )
        dw, db = _weight_grads(x, dz, use_bias)
        return (dz,), [dh0, dc0, *dw, _sum_outer(hr_prev, dz), *db]

    return _launch(forward, backward, make_step, x, (h0, c0), kernel, recurrent_kernel, bias, spec)


def gru_sequence(x, h0, kernel, recurrent_kernel, bias, reset_after, spec):
    """GRU over a whole sequence, either form. `bias`: (2, 3H) if reset_after else (3H,).

    With `reset_after` (the default form) the forward loop saves the backward's multipliers,
    as `lstm_sequence` does: the recurrent pre-activations' gradient is [dh, dh, dh] * Q with
    Q = [(h_{t-1} - h~) z', (1 - z) act'(h~) (h_{t-1} U_h + b_h) r', (1 - z) act'(h~) r],
    dh_{t-1} gets dh z, and the input side differs only in the candidate block, by
    dh (1 - z) act'(h~) (1 - r). Masked steps have Q = 0 and z = 1.
    """
    use_bias = bias is not None
    units = ops.shape(h0)[-1]

    def make_step(w, u, b, rm, m, save):
        b_in, b_rec = (b[0], b[1]) if (use_bias and reset_after) else (b, None)
        u_zr, u_h = u[:, : 2 * units], u[:, 2 * units :]

        def step(carry, xs):
            (h,) = carry
            hr = _recurrent_in(h, rm)
            xz = ops.matmul(xs[0], w)
            if b_in is not None:
                xz = xz + b_in
            xz_z, xz_r, xz_h = ops.split(xz, 3, axis=-1)
            if reset_after:
                rz = ops.matmul(hr, u)
                if b_rec is not None:
                    rz = rz + b_rec
                rz_z, rz_r, rz_h = ops.split(rz, 3, axis=-1)
                z, r = spec.ract(xz_z + rz_z), spec.ract(xz_r + rz_r)
                hh = spec.act(xz_h + r * rz_h)
            else:
                rz_z, rz_r = ops.split(ops.matmul(hr, u_zr), 2, axis=-1)
                z, r = spec.ract(xz_z + rz_z), spec.ract(xz_r + rz_r)
                rz_h = ops.matmul(r * hr, u_h)
                hh = spec.act(xz_h + rz_h)
            h_new = hh + z * (h - hh)
            mt = xs[1] if m is not None else None
            h_new = _keep(mt, h_new, h)
            ys = (h_new,) if spec.sequences else ()
            if not save:
                return (h_new,), ys
            if not reset_after:
                return (h_new,), (ops.concatenate([z, r, hh], axis=-1), rz_h, h_new)
            qh = (1.0 - z) * spec.dact(hh)
            q = ops.concatenate([(h - hh) * spec.dract(z), qh * rz_h * spec.dract(r), qh * r], -1)
            qd = qh * (1.0 - r)
            if mt is not None:
                q, qd = ops.where(mt, q, ops.zeros_like(q)), ops.where(mt, qd, ops.zeros_like(qd))
                z = ops.where(mt, z, ops.ones_like(z))
            return (h_new,), (q, qd, z, hr) + ys

        return step

    def forward(*args):
        x, (h0,), w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        (h_t,), saved = _scan.scan(
            make_step(w, u, b, rm, m, True), (h0,), _masked_xs((x,), m),
            n_ys=4 + spec.sequences if reset_after else 3, unroll=spec.unroll,
        )
        hs = saved[-1] if (spec.sequences or not reset_after) else None
        outputs = (_first_output(spec, hs if spec.sequences else h_t, m), h_t)
        return outputs, tuple(saved[:4] if reset_after else saved)

    def backward(args, saved, upstream):
        if reset_after:
            return _backward_reset_after(args, saved, upstream)
        return _backward_reset_before(args, saved, upstream)

    def _backward_reset_after(args, saved, upstream):
        x, _, w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        q, qd, z, hr_prev = saved
        xs, dh_t = _upstream_xs(spec, (q, qd, z), upstream, m)
        u_t = ops.transpose(u)  # once, outside the reverse loop

        def back(carry, xs):
            (dh,) = carry
            if spec.sequences:
                dh = dh + xs[3]
            d_rec = ops.concatenate([dh, dh, dh], axis=-1) * xs[0]
            dh_prev = _recurrent_in(ops.matmul(d_rec, u_t), rm) + dh * xs[2]
            return (dh_prev,), (d_rec, dh * xs[1])

        (dh0,), (d_rec, d_cand) = _scan.scan(
            back, (dh_t,), xs, n_ys=2, reverse=True, unroll=spec.unroll, overwrite=0
        )
        # the input side's gradient is d_rec + [0, 0, d_cand]; never materialized
        dw = _sum_outer(x, d_rec) + ops.pad(_sum_outer(x, d_cand), [[0, 0], [2 * units, 0]])
        grads = [dh0, dw, _sum_outer(hr_prev, d_rec)]
        if use_bias:
            db_rec = ops.sum(_flat(d_rec), axis=0)
            db_in = db_rec + ops.pad(ops.sum(_flat(d_cand), axis=0), [[2 * units, 0]])
            grads.append(ops.stack([db_in, db_rec]))
        return (d_rec, d_cand), grads

    def _backward_reset_before(args, saved, upstream):
        x, (h0,), w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        gates, rzh, hs = saved
        h_prev = _shift(h0, hs)
        xs, dh_t = _upstream_xs(spec, (gates, rzh, h_prev), upstream, m)
        # once, outside the reverse loop
        u_h_t, u_zr_t = ops.transpose(u[:, 2 * units :]), ops.transpose(u[:, : 2 * units])

        def back(carry, xs):
            (dh,) = carry
            gate, rz_h, h_p = xs[:3]
            if spec.sequences:
                dh = dh + xs[3]
            dh, dh_skip = _split_masked(xs[-1] if m is not None else None, dh)
            z, r, hh = ops.split(gate, 3, axis=-1)
            da_z = dh * (h_p - hh) * spec.dract(z)
            da_h = dh * (1.0 - z) * spec.dact(hh)
            d_rh = ops.matmul(da_h, u_h_t)
            da_r = d_rh * _recurrent_in(h_p, rm) * spec.dract(r)
            dhr = ops.matmul(ops.concatenate([da_z, da_r], axis=-1), u_zr_t) + d_rh * r
            dh_prev = _recurrent_in(dhr, rm) + dh * z
            return (_add(dh_prev, dh_skip),), (ops.concatenate([da_z, da_r, da_h], -1),)

        (dh0,), (dz,) = _scan.scan(
            back, (dh_t,), _masked_xs(xs, m), n_ys=1, reverse=True, unroll=spec.unroll
        )
        dw, db = _weight_grads(x, dz, use_bias)
        hr_prev = _recurrent_in(h_prev, rm)
        r_seq = gates[..., units : 2 * units]
        du = ops.concatenate(
            [
                _sum_outer(hr_prev, dz[..., : 2 * units]),
                _sum_outer(r_seq * hr_prev, dz[..., 2 * units :]),
            ],
            axis=1,
        )
        return (dz,), [dh0, *dw, du, *db]

    def input_grad(w, ds):
        if not reset_after:
            return ops.matmul(_flat(ds[0]), ops.transpose(w))
        d_rec, d_cand = ds
        w_h = w[:, 2 * units :]
        return ops.matmul(_flat(d_rec), ops.transpose(w)) + ops.matmul(
            _flat(d_cand), ops.transpose(w_h)
        )

    return _launch(
        forward, backward, make_step, x, (h0,), kernel, recurrent_kernel, bias, spec, input_grad
    )


def simple_rnn_sequence(x, h0, kernel, recurrent_kernel, bias, spec):
    """Elman RNN over a whole sequence. `bias` may be None (use_bias=False)."""
    use_bias = bias is not None

    def make_step(w, u, b, rm, m, save):
        def step(carry, xs):
            (h,) = carry
            a = ops.matmul(xs[0], w) + ops.matmul(_recurrent_in(h, rm), u)
            if use_bias:
                a = a + b
            h_new = _keep(xs[1] if m is not None else None, spec.act(a), h)
            return (h_new,), (h_new,) if (save or spec.sequences) else ()

        return step

    def forward(*args):
        x, (h0,), w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        (h_t,), (hs,) = _scan.scan(
            make_step(w, u, b, rm, m, True), (h0,), _masked_xs((x,), m), n_ys=1,
            unroll=spec.unroll,
        )
        return (_first_output(spec, hs if spec.sequences else h_t, m), h_t), (hs,)

    def backward(args, saved, upstream):
        x, (h0,), w, u, b, m, rm = _parse(args, 1, use_bias, spec)
        (hs,) = saved
        d_out, dh_t = _sequence_grad(spec, *upstream, hs, m)
        u_t = ops.transpose(u)  # once, outside the reverse loop

        def back(carry, xs):
            (dh,) = carry
            d_o, h = xs[:2]
            dh, dh_skip = _split_masked(xs[2] if m is not None else None, dh + d_o)
            da = dh * spec.dact(h)
            dh_prev = _recurrent_in(ops.matmul(da, u_t), rm)
            return (_add(dh_prev, dh_skip),), (da,)

        (dh0,), (da,) = _scan.scan(
            back, (dh_t,), _masked_xs((d_out, hs), m), n_ys=1, reverse=True,
            unroll=spec.unroll, overwrite=0,
        )
        dw, db = _weight_grads(x, da, use_bias)
        du = _sum_outer(_recurrent_in(_shift(h0, hs), rm), da)
        return (da,), [dh0, *dw, du, *db]

    return _launch(forward, backward, make_step, x, (h0,), kernel, recurrent_kernel, bias, spec)
