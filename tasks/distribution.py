"""Data-parallel training on several devices and hosts, with the backend's own engine.

    python -m tasks.<task> train --devices 2 ...        # every task script
    python -m tasks.<task> train --workers h0:1234,h1:1234 --worker-index I ...   # on host I
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

`configure(devices, workers=[address, ...], worker_index=i)` trains on several processes (hosts),
one per address, each with `devices` devices; every process runs the same command with its own
index, and the global batch is split across all `devices * len(workers)` replicas:

- JAX: `keras.distribution.initialize` (`jax.distributed`, the first address is the
  coordinator; CPU processes all-reduce through gloo) and `DataParallel` over every process's
  devices. Each process feeds its own rows of each global batch (`pad_batches` cuts them out).
- TensorFlow: `tf.distribute.MultiWorkerMirroredStrategy` with `TF_CONFIG` made from the
  addresses: one replica per GPU of each worker, or one per CPU worker.

Worker 0 is the chief: it alone writes the model (`is_chief`); the others keep their backups
and logs in a `-worker<i>` folder beside the chief's (tasks/cli.py).
"""

import contextlib
import json
import os
import socket

import keras
import tensorflow as tf

_CONFIGURED = {"devices": 1, "workers": 1, "worker_index": 0}


def configure(devices=1, workers=None, worker_index=0):
    """Trains every model built from now on on `devices` devices of this host (1: as usual),
    and with `workers` (a list of "host:port", one per process, this one's at `worker_index`)
    on several processes. Returns the device names used."""
    if not isinstance(devices, int) or isinstance(devices, bool) or devices < 1:
        raise ValueError(f"`devices` must be a positive integer. Received: devices={devices!r}")
    workers = list(workers or [])
    if workers and not all(isinstance(w, str) and w.rpartition(":")[2].isdigit() and
                           w.rpartition(":")[0] for w in workers):
        raise ValueError(f"`workers` must be addresses 'host:port'. Received: workers={workers}")
    if workers and not (isinstance(worker_index, int) and 0 <= worker_index < len(workers)):
        raise ValueError(f"`worker_index` must be one of 0..{len(workers) - 1}, this process's "
                         f"place in `workers`. Received: worker_index={worker_index!r}")
    wanted = {"devices": devices, "workers": max(len(workers), 1),
              "worker_index": worker_index if workers else 0}
    if wanted == _CONFIGURED:
        return []
    if _CONFIGURED != {"devices": 1, "workers": 1, "worker_index": 0}:
        raise RuntimeError(f"this process already trains with {_CONFIGURED}; start a new one "
                           f"for another setting. Received: devices={devices}, "
                           f"workers={workers}, worker_index={worker_index}")
    if keras.backend.backend() == "jax":
        names = _jax(devices, workers, worker_index)
    else:
        names = _tensorflow(devices, workers, worker_index)
    _CONFIGURED.update(wanted)
    return names


def replicas():
    """How many devices each batch is split across, over all workers (1 unless `configure`
    was called)."""
    return _CONFIGURED["devices"] * _CONFIGURED["workers"]


def workers():
    """How many processes train together (1 unless `configure` was given `workers`)."""
    return _CONFIGURED["workers"]


def is_chief():
    """Whether this process writes the run's files (the model): worker 0, or the only one."""
    return _CONFIGURED["worker_index"] == 0


def worker_folder(path):
    """Where this process writes its copy of a per-process folder (a backup, logs): `path`
    itself on the chief, `path-worker<i>` beside it on the others, so that no two processes
    share a file and each can delete its own."""
    if is_chief():
        return path
    return f"{os.path.normpath(path)}-worker{_CONFIGURED['worker_index']}"


def local_workers(n):
    """`n` addresses "localhost:PORT" on ports free right now: `workers` for a trial of several
    processes on one machine (tests, benchmarks)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [f"localhost:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def check_batch_size(batch_size, name="batch_size"):
    """A clear error when the global batch cannot be split evenly across the replicas."""
    n = replicas()
    if batch_size % n:
        raise ValueError(f"`{name}` must be divisible by the {n} devices it is split across. "
                         f"Received: {name}={batch_size}")


def pad_batches(dataset):
    """`dataset`'s `(x, y[, sample_weight])` batches with rows of zeros added up to a multiple
    of the replicas, their sample weight 0, and with several workers only this process's equal
    share of the rows (JAX under `configure`; otherwise `dataset`: TensorFlow splits batches
    itself)."""
    n, k, index = replicas(), workers(), _CONFIGURED["worker_index"]
    if n == 1 or keras.backend.backend() != "jax":
        return dataset

    def pad(x, y=None, sample_weight=None):
        rows = tf.shape(tf.nest.flatten(x)[0])[0]
        if sample_weight is None and y is not None:
            sample_weight = tf.ones(tf.shape(y), tf.float32)  # one per target
        extra = (n - rows % n) % n

        def grow(t):
            return tf.pad(t, [[0, extra]] + [[0, 0]] * (len(t.shape) - 1))

        def share(t):  # rows [index * r / k, (index + 1) * r / k) of the padded r rows
            t = grow(t)
            part = tf.shape(t)[0] // k
            return t[index * part:(index + 1) * part]

        padded = tf.nest.map_structure(share, (x, y, sample_weight))
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


def _jax(devices, workers, worker_index):
    import jax

    try:  # only the CPU backend's settings: harmless on a GPU host
        jax.config.update("jax_num_cpu_devices", devices)
        if workers:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except RuntimeError:  # JAX has started already: fine if it has enough devices (below)
        pass
    if workers:  # jax.distributed: blocks until every process has joined the coordinator
        keras.distribution.initialize(",".join(workers), len(workers), worker_index)
    accelerators = [d for d in jax.local_devices() if d.platform != "cpu"]
    local = accelerators if len(accelerators) >= devices else jax.local_devices(backend="cpu")
    if len(local) < devices:
        raise RuntimeError(f"JAX sees {len(local)} CPU device(s): the virtual devices must be "
                           f"configured before JAX first uses a device (call "
                           f"`distribution.configure` first thing). Received: devices={devices}")
    platform = local[0].platform
    chosen = [d for d in jax.devices(platform) if d.platform == platform]
    # Every process's first `devices` devices of that kind, in process order.
    chosen = [d for p in range(max(len(workers), 1))
              for d in [d for d in chosen if d.process_index == p][:devices]]
    names = [f"{d.platform}:{d.id}" for d in chosen]
    # The task models cut each process's rows out of the batches themselves (`pad_batches`).
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=names, auto_shard_dataset=not workers))
    return names


def _tensorflow(devices, workers, worker_index):
    gpus = tf.config.list_physical_devices("GPU")
    if workers:
        return _tensorflow_workers(devices, workers, worker_index, gpus)
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


def _tensorflow_workers(devices, workers, worker_index, gpus):
    if gpus:  # one replica per visible GPU of each worker
        if len(gpus) < devices:
            raise ValueError(f"this worker has {len(gpus)} GPU(s). Received: devices={devices}")
        tf.config.set_visible_devices(gpus[:devices], "GPU")
    elif devices != 1:
        raise ValueError("MultiWorkerMirroredStrategy runs one replica per CPU worker: leave "
                         f"`devices` at 1 on workers without GPUs. Received: devices={devices}")
    os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers},
                                          "task": {"type": "worker", "index": worker_index}})
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    tf.distribute.experimental_set_strategy(strategy)
    return [f"/job:worker/task:{i}" for i in range(len(workers))]
