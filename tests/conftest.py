"""Shared helpers: the backend's autodiff, used as the gradient oracle in the tests."""

import json
import os
import subprocess
import sys

# XLA:CPU keeps a compiled program's code mapped until the process ends (three memory maps per
# compiled kernel on TensorFlow; neither Keras' clear_session nor resetting TF's context frees
# them), and a test worker compiles tens of thousands of kernels: with 465 tests each worker
# passed Linux's vm.max_map_count (65,530) and crashed, and the default run alone reached 56k
# on TensorFlow and 35k by half-way on JAX. These two XLA:CPU options (the same programs,
# emitted as fewer, larger objects) cut the maps about 3x on TensorFlow. Set before either
# backend starts (both read XLA_FLAGS), unless already set; the processes the tests start
# inherit them.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false "
                      "--xla_cpu_parallel_codegen_split_count=1")

import keras  # noqa: E402
import numpy as np
import pytest


def gradients(layer, loss_fn, x, **call_kwargs):
    """Loss value and gradients of `loss_fn(layer(x, **call_kwargs))` w.r.t. x and the weights.

    Returns (loss, dx, [d weight for weight in layer.trainable_weights]) as numpy arrays.
    """
    backend = keras.backend.backend()
    x = np.asarray(x, dtype="float32")
    # training=True selects kerasrnn's fused kernels with hand-written gradients; with
    # training=False kerasrnn runs a lean forward loop and autodiff differentiates it.
    call_kwargs.setdefault("training", True)
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = loss_fn(layer(xt, **call_kwargs))
        grads = tape.gradient(loss, [xt] + [w.value for w in layer.trainable_weights])
        grads = [np.zeros(w.shape) if g is None else np.asarray(g) for g, w in
                 zip(grads, [xt] + layer.trainable_weights)]
        return float(loss), grads[0], grads[1:]
    if backend == "jax":
        import jax

        trainable = [w.value for w in layer.trainable_variables]
        non_trainable = [w.value for w in layer.non_trainable_variables]

        def f(xv, tv):
            out, _ = layer.stateless_call(tv, non_trainable, xv, **call_kwargs)
            return loss_fn(out)

        loss, (dx, dw) = jax.value_and_grad(f, argnums=(0, 1))(x, trainable)
        return float(loss), np.asarray(dx), [np.asarray(g) for g in dw]
    pytest.skip(f"no gradient oracle for backend {backend}")


def weighted_sum_loss(outputs):
    """A loss that touches every output and state with distinct weights, so no gradient is
    trivially symmetric."""
    outputs = keras.tree.flatten(outputs)
    total = 0.0
    for k, o in enumerate(outputs):
        w = keras.ops.cos(keras.ops.arange(keras.ops.size(o), dtype="float32") * (0.37 + k))
        total = total + keras.ops.sum(keras.ops.reshape(o, (-1,)) * w)
    return total


def assert_close(a, b, atol=1e-5, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} != {b.shape}"
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    assert np.all(np.isfinite(a)), f"{what}: non-finite values"
    assert diff <= atol, f"{what}: max abs diff {diff} > {atol}"


def with_new_weights(model, seed=0):
    """`(fresh, weights)`: a model rebuilt from `model`'s config holding its weights plus
    noise, and `model`'s own weights (to restore). The fresh model compiled nothing yet: an
    oracle for `model` once it is given the same weights."""
    weights = model.get_weights()
    rng = np.random.default_rng(seed)
    changed = [w + rng.normal(0, 0.5, w.shape).astype(w.dtype) if w.dtype.kind == "f" else w
               for w in weights]
    fresh = type(model).from_config(model.get_config())
    fresh.build()
    fresh.set_weights(changed)
    return fresh, weights


def serve_in_fresh_process(code):
    """Runs `code` in a new Python process as a server would (TensorFlow's default backend,
    only what `code` imports) and returns the JSON that its last output line holds."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="module")
def _fresh_keras_state_per_module():
    """One pytest process runs every module: release each module's models, compiled
    functions and (on TensorFlow) kernel cache when it ends, so they do not pile up."""
    yield
    keras.backend.clear_session()
