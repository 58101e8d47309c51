"""Data-parallel training on several devices, with the backend's own engine (never our own).

    python -m tasks.<task> train --devices 2 ...        # every task script
    from tasks import distribution
    distribution.configure(devices=2)                    # notebooks: before any model is built

`configure(devices=N)` makes every model built afterwards train on N devices of this host:

- JAX: `keras.distribution.DataParallel` over N devices, set as Keras' global distribution.
  Each batch is split along its first axis across the devices; weights are replicated and
  their gradients averaged by XLA's collectives inside the one compiled train step.
- TensorFlow: `tf.distribute.MirroredStrategy` over N devices, set as TensorFlow's default
  strategy (as if every line ran inside `strategy.scope()`): Keras' `fit` splits each batch
  across the replicas and all-reduces the gradients.

The devices are the host's accelerators (GPUs) when it has N of them; on a CPU-only host the
CPU is split into N virtual devices (JAX: `jax_num_cpu_devices`; TF: logical CPU devices),
which must happen before the backend first touches a device, so call `configure` early
(the scripts do it right after reading their flags). Virtual devices share the same cores:
they test the distributed program, they add no compute.

The global batch (each preset's `batch_size`) is split evenly: it must be divisible by N
(`check_batch_size`). A smaller last batch (bucketed data) is split unevenly by TensorFlow; JAX
needs equal parts, so `pad_batches` gives it rows of padding with weight 0, which change no
loss, metric or gradient of the task models (their losses are means over real tokens or
weighted rows). Prediction runs on one device (`undistributed`). Models with state carried
across batches keep each row's state on the replica that owns the row (see
`RNNLanguageModel`).
"""

import contextlib

import keras
import tensorflow as tf

_CONFIGURED = {"devices": 1}


def configure(devices=1):
    """Trains every model built from now on on `devices` devices of this host (1: as usual).
    Returns the device names used."""
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        raise ValueError(f"`devices` must be a positive integer. Received: devices={devices!r}")
    if devices == 1:
        return []
    if _CONFIGURED["devices"] not in (1, devices):
        raise RuntimeError(f"this process already trains on {_CONFIGURED['devices']} devices; "
                           f"start a new one for another count. Received: devices={devices}")
    names = _jax(devices) if keras.backend.backend() == "jax" else _tensorflow(devices)
    _CONFIGURED["devices"] = devices
    return names


def replicas():
    """How many devices each batch is split across (1 unless `configure` was called)."""
    return _CONFIGURED["devices"]


def check_batch_size(batch_size, name="batch_size"):
    """A clear error when the global batch cannot be split evenly across the replicas."""
    n = replicas()
    if batch_size % n:
        raise ValueError(f"`{name}` must be divisible by the {n} devices it is split across. "
                         f"Received: {name}={batch_size}")


def pad_batches(dataset):
    """`dataset`'s `(x, y[, sample_weight])` batches with rows of zeros added up to a multiple
    of the replicas, their sample weight 0 (JAX under `configure`; otherwise `dataset`)."""
    n = replicas()
    if n == 1 or keras.backend.backend() != "jax":
        return dataset

    def pad(x, y=None, sample_weight=None):
        rows = tf.shape(tf.nest.flatten(x)[0])[0]
        if sample_weight is None and y is not None:
            sample_weight = tf.ones(tf.shape(y), tf.float32)  # one per target
        extra = (n - rows % n) % n

        def grow(t):
            return tf.pad(t, [[0, extra]] + [[0, 0]] * (len(t.shape) - 1))

        padded = tf.nest.map_structure(grow, (x, y, sample_weight))
        return padded if y is not None else padded[0]

    return dataset.map(pad)


@contextlib.contextmanager
def undistributed():
    """Runs its body without the JAX distribution (prediction: one device, any batch)."""
    if keras.backend.backend() != "jax" or replicas() == 1:
        yield
        return
    current = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(current)


def _jax(devices):
    import jax

    try:  # only the CPU backend's count: harmless on a GPU host
        jax.config.update("jax_num_cpu_devices", devices)
    except RuntimeError:  # JAX has started already: fine if it has enough devices (below)
        pass
    accelerators = [d for d in jax.devices() if d.platform != "cpu"]
    chosen = accelerators if len(accelerators) >= devices else jax.devices("cpu")
    if len(chosen) < devices:
        raise RuntimeError(f"JAX sees {len(chosen)} CPU device(s): the virtual devices must be "
                           f"configured before JAX first uses a device (call "
                           f"`distribution.configure` first thing). Received: devices={devices}")
    names = [f"{d.platform}:{d.id}" for d in chosen[:devices]]
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=names))
    return names


def _tensorflow(devices):
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= devices:
        names = [f"/gpu:{i}" for i in range(devices)]
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
        except RuntimeError as error:  # TensorFlow's devices are already initialized
            raise RuntimeError(
                f"{devices} logical CPU devices must be configured before TensorFlow "
                f"initializes its devices: call `distribution.configure` first thing "
                f"(TensorFlow says: {error})") from None
        names = [f"/cpu:{i}" for i in range(devices)]
    tf.distribute.experimental_set_strategy(tf.distribute.MirroredStrategy(names))
    return names
