"""Public operations for code built beside the layers (a CRF, an attentive decoder).

    scan(fn, carry, xs, n_ys=1, reverse=False, unroll=2) -> (final_carry, ys)

The loop over time that the recurrent layers themselves run on: `jax.lax.scan` on JAX, a
hand-unrolled `tf.while_loop` over TensorArrays on TensorFlow (which, unlike
`keras.ops.scan` there, XLA-compiles and differentiates), `keras.ops.scan` elsewhere.
"""

from kerasrnn import _scan


def scan(fn, carry, xs, n_ys=1, reverse=False, unroll=2):
    """Runs `fn` over the leading (time) axis of the tensors `xs`.

    Args:
        fn: `fn(carry, x_t) -> (new_carry, y_t)`; `carry` and `x_t` are tuples of tensors,
            `y_t` a tuple of `n_ys` tensors.
        carry: tuple of tensors, the start value of the carry.
        xs: tuple of time-major tensors `(T, ...)`, all with the same `T`.
        n_ys: how many tensors `fn` emits per step.
        reverse: run from t = T-1 down to 0 (`ys[t]` still belongs to step t).
        unroll: steps per loop iteration.

    Returns:
        `(final_carry, ys)`: tuples; each of `ys` is stacked along a new leading time axis.

    Example:
        >>> _, (sums,) = kerasrnn.ops.scan(lambda c, x: ((c[0] + x[0],), (c[0] + x[0],)),
        ...                                (ops.zeros(2),), (ops.ones((3, 2)),))
        >>> sums[:, 0]
        [1., 2., 3.]
    """
    if n_ys < 1:
        raise ValueError(f"`n_ys` must be a positive integer. Received: n_ys={n_ys!r}")
    return _scan.scan(fn, tuple(carry), tuple(xs), n_ys, reverse=reverse, unroll=unroll)
