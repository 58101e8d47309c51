"""Backend autodiff for the diagnostics (the second backend-specific module, next to `_scan`).

    value_and_grad(fn, args)  -> (fn(*args), [d fn / d arg for arg in args]); fn returns a scalar
    batch_jacobian(fn, x)     -> (batch, out, in): the Jacobian of each row of fn(x) with respect
                                 to the same row of x (rows must not interact)
"""

import keras


def _unsupported(backend):
    return NotImplementedError(
        f"kerasrnn diagnostics need the TensorFlow or JAX backend. Received: {backend!r}"
    )


def value_and_grad(fn, args):
    backend = keras.backend.backend()
    args = [keras.ops.convert_to_tensor(a, "float32") for a in args]
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for a in args:
                tape.watch(a)
            value = fn(*args)
        return value, tape.gradient(value, args)
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))))(*args)
        return value, list(grads)
    raise _unsupported(backend)


def batch_jacobian(fn, x):
    backend = keras.backend.backend()
    x = keras.ops.convert_to_tensor(x, "float32")
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.batch_jacobian(y, x)
    if backend == "jax":
        import jax

        # The whole batch's Jacobian, then each row's own block: `fn` may close over other
        # per-row tensors (a step's inputs), which a vmap over the rows of `x` would not split.
        full = jax.jacrev(fn)(x)  # (batch, out, batch, in)
        rows = jax.numpy.arange(x.shape[0])
        return full[rows, :, rows, :]
    raise _unsupported(backend)
