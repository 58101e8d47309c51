"""The one backend-specific piece of kerasrnn: a fast loop over time (and a fast dropout).

Everything else in the package is written with public `keras.ops`. This module exists because
`keras.ops.scan` on the TensorFlow backend keeps its carry in a TensorArray, maps `unroll` to
`parallel_iterations` (no real unrolling) and does not XLA-compile under autodiff, which makes
recurrent layers built on it slower than Keras' own (see the README's benchmark section).

`scan(fn, carry, xs, n_ys, reverse=False, unroll=2, overwrite=None)`:
    fn(carry, x_t) -> (new_carry, y_t); `carry` is a tuple of tensors, `xs` a tuple of
    time-major tensors `(T, ...)`, `y_t` a tuple of tensors. Returns `(final_carry, ys)` with
    `ys` (`n_ys` tensors of the carry's dtype) stacked along a new leading time axis.
    With `reverse=True` the loop runs from t = T-1 down to 0 and `ys[t]` still belongs to
    step t. `overwrite=k` says that `ys[0]` has the shape of `xs[k]` and may be written over
    it, step by step (`xs[k][t]` is read before `ys[0][t]` is written): a backward loop then
    needs no second (T, B, 4H) buffer. On CPU a fresh buffer of that size costs more than its
    arithmetic (every page is faulted in again at each training step), so JAX does this;
    TensorFlow compiles each kernel's forward and backward as separate XLA programs, so it
    could not reuse the buffer anyway and ignores the hint.

Backends: JAX uses `jax.lax.scan`; TensorFlow a `tf.while_loop` over TensorArrays, unrolled by
hand; any other backend falls back to `keras.ops.scan`. All are differentiable.

`dropout(inputs, rate, noise_shape, seed_generator)` and `uniform(shape, seed_generator)`:
`keras.random.dropout` and `keras.random.uniform`, but on TensorFlow with the Philox generator
named (see `kerasrnn.Dropout`: XLA on CPU compiles TensorFlow's default "auto_select" into a
far slower generator).
"""

import keras


def _tf_seed(seed_generator):
    import tensorflow as tf

    # As Keras' TensorFlow backend: the generator's next seed, as the int32 XLA expects.
    return tf.cast(tf.math.floormod(seed_generator.next(), tf.int32.max - 1), "int32")


def uniform(shape, seed_generator, dtype="float32"):
    if keras.backend.backend() != "tensorflow":
        return keras.random.uniform(shape, dtype=dtype, seed=seed_generator)
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, _tf_seed(seed_generator), dtype=dtype,
                                       alg="philox")


def dropout(inputs, rate, noise_shape, seed_generator):
    if keras.backend.backend() != "tensorflow":
        return keras.random.dropout(inputs, rate, noise_shape=noise_shape, seed=seed_generator)
    import tensorflow as tf

    if rate >= 1:  # Keras' rate 1 drops everything (TensorFlow's op refuses it)
        return tf.zeros_like(inputs)
    seed = _tf_seed(seed_generator)
    if noise_shape is not None:
        shape = tf.shape(inputs)
        noise_shape = [shape[i] if size is None else size for i, size in enumerate(noise_shape)]
    return tf.nn.experimental.stateless_dropout(inputs, rate, seed=seed, rng_alg="philox",
                                                noise_shape=noise_shape)


def _tf_scan(fn, carry, xs, reverse, unroll, n_ys):
    import tensorflow as tf

    length = tf.shape(xs[0])[0]
    in_tas = [
        tf.TensorArray(x.dtype, size=length, infer_shape=True).unstack(x) for x in xs
    ]

    def step(t, carry):
        return fn(carry, tuple(ta.read(t) for ta in in_tas))

    # Every y_t has the carry's float dtype (all callers in kerasrnn emit activations).
    dtype = carry[0].dtype
    out_tas = tuple(
        tf.TensorArray(dtype, size=length, infer_shape=True) for _ in range(n_ys)
    )

    def run(start, n_iter, k, carry, out_tas):
        # Each iteration does k steps: t = start + i*k + j (forward) or mirrored (reverse).
        def body(i, carry, out_tas):
            for j in range(k):
                t = start + i * k + j
                if reverse:
                    t = length - 1 - t
                carry, ys = step(t, carry)
                out_tas = tuple(ta.write(t, y) for ta, y in zip(out_tas, ys))
            return i + 1, carry, out_tas

        _, carry, out_tas = tf.while_loop(
            lambda i, *_: i < n_iter,
            body,
            (tf.constant(0), tuple(carry), out_tas),
            maximum_iterations=n_iter,
        )
        return carry, out_tas

    n_main = length // unroll
    carry, out_tas = run(0, n_main, unroll, carry, out_tas)
    if unroll > 1:
        # The remainder (fewer than `unroll` steps) runs one step per iteration.
        carry, out_tas = run(n_main * unroll, length - n_main * unroll, 1, carry, out_tas)
    return tuple(carry), tuple(ta.stack() for ta in out_tas)


def _jax_scan(fn, carry, xs, reverse, unroll, overwrite):
    import jax

    if not isinstance(xs[0].shape[0], int):
        unroll = 1  # a symbolic length (jax2tf export): unrolling would need `length >= 2`
        overwrite = None
    if overwrite is not None:
        return _jax_scan_in_place(fn, carry, xs, reverse, unroll, overwrite)
    carry, ys = jax.lax.scan(
        lambda c, x: fn(tuple(c), tuple(x)),
        tuple(carry),
        tuple(xs),
        reverse=reverse,
        unroll=unroll,
    )
    return tuple(carry), tuple(ys)


def _jax_scan_in_place(fn, carry, xs, reverse, unroll, k):
    import jax
    import jax.numpy as jnp

    buf, rest = xs[k], xs[:k] + xs[k + 1 :]

    def body(c, x):
        c, buf = c
        t, rest_t = x[0], tuple(x[1:])
        x_t = rest_t[:k] + (jax.lax.dynamic_index_in_dim(buf, t, 0, keepdims=False),) + rest_t[k:]
        c, ys = fn(tuple(c), x_t)
        buf = jax.lax.dynamic_update_index_in_dim(buf, ys[0], t, 0)
        return (c, buf), tuple(ys[1:])

    steps = jnp.arange(buf.shape[0], dtype="int32")
    (carry, buf), ys = jax.lax.scan(
        body, (tuple(carry), buf), (steps,) + rest, reverse=reverse, unroll=unroll
    )
    return tuple(carry), (buf,) + tuple(ys)


def _ops_scan(fn, carry, xs, reverse, unroll):
    carry, ys = keras.ops.scan(
        lambda c, x: fn(tuple(c), tuple(x)),
        tuple(carry),
        tuple(xs),
        reverse=reverse,
        unroll=unroll,
    )
    return tuple(carry), tuple(ys)


def scan(fn, carry, xs, n_ys, reverse=False, unroll=2, overwrite=None):
    """Runs `fn` over the leading (time) axis of `xs`; see the module docstring."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tf_scan(fn, tuple(carry), tuple(xs), reverse, unroll, n_ys)
    if backend == "jax":
        return _jax_scan(fn, tuple(carry), tuple(xs), reverse, unroll, overwrite)
    return _ops_scan(fn, tuple(carry), tuple(xs), reverse, unroll)


def compiled(fn):
    """`fn` compiled whole where that pays: on TensorFlow with XLA (`jit_compile=True`; Keras'
    default `compile()` leaves TF on CPU uncompiled, and op-by-op dispatch dominates a
    recurrent loop); JAX already compiles the surrounding step, so `fn` is returned as is."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True, autograph=False)
    return fn
