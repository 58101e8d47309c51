"""Whole sequences at once for the cells whose recurrence is linear in the state
(`MinGRUCell`, `MinLSTMCell`, `QRNNCell`): h_t = a_t ⊙ h_{t-1} + b_t, with a_t and b_t
computed from the inputs alone, for all steps together.

The pairs (a_t, b_t) compose associatively: step 1 then step 2 is the single step
(a_1 a_2, a_2 b_1 + b_2). So every h_t can be computed in O(log T) sequential depth by an
associative scan (Blelloch 1990; Martin & Cundy 2018), `keras.ops.associative_scan` on every
backend. That pays where many cores run each level at once (a GPU). On a CPU with a few cores it
does not: the scan does ~2 log T passes over the (T, B, H) tensors where the loop does one, and
the loop's steps are only element-wise (no matmul: all of those ran before, over all steps at
once). Measured on the 2-core machine, T = 1,024, B = 8, H = 256, forward and backward: the
step loop 14 ms (TF) / 25 ms (JAX), the associative scan 50 ms (JAX), and autodiff through the
associative scan 216 ms (JAX). Hence `method`: "sequential" on CPUs, "associative" on
accelerators (the default, "auto", picks by `keras.distribution.list_devices()`).

The loop's forward and its backward are each one compiled function (`_scan.compiled`), as the
LSTM's kernels are. On TensorFlow that is XLA; before, TensorFlow's graph (not XLA-compiled on
a CPU) ran the loop op by op, and a TensorFlow minGRU training step at T = 1,024 took 1.7x as
long (`benchmarks/sequence_length.py`, 2026-12-07: 104k against 177k tokens/s; IndRNN's
element-wise loop below, 144k against 351k). JAX compiles the whole step anyway.

Both methods have the same hand-written gradient, itself a linear recurrence run backwards:
with g_t = dL/dh_t in total, g_t = dh_t + a_{t+1} ⊙ g_{t+1}, and then db_t = g_t,
da_t = g_t ⊙ h_{t-1}, dh_{-1} = a_0 ⊙ g_0.

Why not the log-space formulation (Heinsen 2023, in the minGRU paper's code)? It writes
h_t = A_t (h_{-1} + Σ_s b_s / A_s) with A_t = Π a, which overflows in float32 without logs,
and needs h > 0. Neither method here divides: they multiply gates in (0, 1) and add, so they
are as stable as the step-by-step loop (products underflow to 0 exactly when the loop forgets),
and any sign is allowed. Both agree with the step-by-step cell to float32 rounding at T = 4,096
(tests/test_parallel_cells.py).

Masking: a masked step is the identity element (a = 1, b = 0): it keeps the state, as in every
kerasrnn layer. All tensors are time-major: (T, B, H).
"""

import functools

import keras
from keras import ops

from kerasrnn import _fused, _scan

METHODS = ("auto", "sequential", "associative")


def _combine(earlier, later):
    a1, b1 = earlier
    a2, b2 = later
    return a1 * a2, a2 * b1 + b2


def _sequential(a, b, h0, reverse=False):
    def step(carry, xs):
        h = xs[0] * carry[0] + xs[1]
        return (h,), (h,)

    # Unrolling helps TensorFlow's loop; JAX's runs fastest not unrolled (8.8 ms for T=1,024
    # forward and backward, 13.5 ms unrolled 8 times).
    unroll = 1 if keras.backend.backend() == "jax" else 8
    _, (h,) = _scan.scan(step, (h0,), (a, b), n_ys=1, reverse=reverse, unroll=unroll)
    return h


def _associative(a, b, h0, reverse=False):
    if reverse:
        return _associative(a[::-1], b[::-1], h0)[::-1]
    b = ops.concatenate([(a[0] * h0 + b[0])[None], b[1:]], axis=0)
    return ops.associative_scan(_combine, (a, b), axis=0)[1]


def _with_gradient(run, compiled=True):
    def backward(a, h0, h, upstream):
        a_next = ops.concatenate([a[1:], ops.zeros_like(a[:1])], axis=0)
        g = run(a_next, upstream, ops.zeros_like(h0), reverse=True)
        h_prev = previous(h, h0, None)
        return g * h_prev, g, a[0] * g[0]

    # Each direction is one compiled function (`_scan.compiled`: XLA on TensorFlow, whose
    # graph would otherwise run the loop op by op; as is on JAX). Not the associative scan:
    # Keras' TensorFlow `associative_scan` fails under XLA for odd lengths (a concatenation of
    # unequal shapes), and it is meant for accelerators, where the loop's cost is not the point.
    forward = _scan.compiled(run) if compiled else run
    backward = _scan.compiled(backward) if compiled else backward

    @ops.custom_gradient
    def recurrence(a, b, h0):
        # The loop is differentiated by hand: keep autodiff out of it.
        a, b, h0 = (ops.stop_gradient(t) for t in (a, b, h0))
        h = forward(a, b, h0)

        def grad(*upstream, **kwargs):
            return backward(a, h0, h, upstream[0])

        return h, grad

    return recurrence


_RUN = {"sequential": _with_gradient(_sequential),
        "associative": _with_gradient(_associative, compiled=False)}


@functools.lru_cache(maxsize=None)
def _auto():
    devices = keras.distribution.list_devices()
    return "associative" if any(not d.lower().startswith("cpu") for d in devices) else (
        "sequential")


def linear_recurrence(a, b, h0, mask=None, method="auto"):
    """Every h_t = a_t ⊙ h_{t-1} + b_t, with h_{-1} = `h0` (B, H); `mask` (T, B, 1) 0/1 or
    None. Returns (T, B, H)."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    if tuple(a.shape) != tuple(b.shape):  # e.g. a per-row gate (T, B, 1): one shape for both
        a, b = a + ops.zeros_like(b), b + ops.zeros_like(a)
    if mask is not None:
        real = mask > 0.5
        a = ops.where(real, a, ops.ones_like(a))
        b = ops.where(real, b, ops.zeros_like(b))
    return _RUN[_auto() if method == "auto" else method](a, b, h0)


def elementwise_recurrence(p, u, h0, activation, mask=None):
    """IndRNN's recurrence over a whole sequence: every h_t = act(p_t + u ⊙ h_{t-1}), with
    h_{-1} = `h0` (B, H), `u` (H,) or (B, H), `activation` a name in `_fused.FUNCTIONS`; at a
    masked step h_t = h_{t-1}. Not associative (act is not linear), so a loop, with a
    hand-written gradient (its own reverse loop: autodiff of a TensorFlow loop does not
    XLA-compile): with g_t = dL/dh_t in total, da_t = g_t act'(h_t), g_{t-1} += u ⊙ da_t,
    dp_t = da_t, du = Σ_t da_t ⊙ h_{t-1}."""
    act, dact = _fused.FUNCTIONS[activation], _fused.DERIVATIVES[activation]
    unroll = 1 if keras.backend.backend() == "jax" else 8

    def forward(p, u, h0, *mask):
        def step(carry, xs):
            h = act(xs[0] + u * carry[0])
            if mask:
                h = ops.where(xs[1] > 0.5, h, carry[0])
            return (h,), (h,)

        _, (h,) = _scan.scan(step, (h0,), (p, *mask), n_ys=1, unroll=unroll)
        return h

    def backward(u, h0, h, upstream, *mask):
        def back(carry, xs):
            total = xs[0] + carry[0]
            da = total * dact(xs[1])
            if not mask:
                return (da * u,), (da,)
            real = xs[2] > 0.5
            da = ops.where(real, da, ops.zeros_like(da))
            return (ops.where(real, da * u, total),), (da,)

        (dh0,), (da,) = _scan.scan(back, (ops.zeros_like(h0),), (upstream, h, *mask), n_ys=1,
                                   reverse=True, unroll=unroll)
        h_prev = previous(h, h0, None)
        du = ops.sum(da * h_prev, axis=0)
        if len(u.shape) == 1:
            du = ops.sum(du, axis=0)
        return da, du, dh0

    # Each direction one compiled function, as in `linear_recurrence`.
    forward, backward = _scan.compiled(forward), _scan.compiled(backward)

    @ops.custom_gradient
    def run(p, u, h0, *mask):
        p, u, h0 = (ops.stop_gradient(t) for t in (p, u, h0))
        h = forward(p, u, h0, *mask)

        def grad(*upstream, **kwargs):
            return tuple(backward(u, h0, h, upstream[0], *mask)) + tuple(
                ops.zeros_like(t) for t in mask)

        return h, grad

    return run(p, u, h0, *([] if mask is None else [mask]))


def last_real(x, before, mask):
    """At each step, `x` at the latest real step up to and including it (`before` (B, F) if
    none yet). Without a mask, `x` itself."""
    if mask is None:
        return x
    return linear_recurrence(1.0 - mask, mask * x, before, mask=None)


def previous(x, before, mask):
    """At each step, `x` at the latest real step strictly before it (`before` if none)."""
    return ops.concatenate([before[None], last_real(x, before, mask)[:-1]], axis=0)


def repeat_outputs(out, mask, zero_output):
    """Outputs at masked steps: the previous real step's output (zeros before the first), or
    zeros with `zero_output`, as `kerasrnn.RNN` gives them."""
    if mask is None:
        return out
    if zero_output:
        return out * mask
    return last_real(out, ops.zeros_like(out[0]), mask)


class Spec:
    """What `kerasrnn.RNN` tells a parallel cell about one call (see `_fused._Spec`): the mask
    (T, B, 1) or None, zeros at masked steps or repeated outputs, whether every step's output
    is read, the recurrent dropout mask (B, H) or None."""

    def __init__(self, mask, zero_output, sequences, rec_mask=None):
        self.mask, self.zero_output, self.sequences = mask, zero_output, sequences
        self.rec_mask = rec_mask

    def finish(self, outputs, repeated=False):
        """The outputs at masked steps as `kerasrnn.RNN` gives them, or only the last output
        when no one reads the others. `repeated`: `outputs` already hold the previous output
        at masked steps (a state that is its own output; what comes before the first real step
        `kerasrnn.RNN` zeroes)."""
        if repeated and self.mask is not None and self.zero_output:
            outputs = outputs * self.mask
        elif not repeated:
            outputs = repeat_outputs(outputs, self.mask, self.zero_output)
        return outputs if self.sequences else outputs[-1]
