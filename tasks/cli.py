"""The command-line plumbing every task script shares.

    python -m tasks.<task> COMMAND [inputs ...] [--preset P] [--set FIELD=VALUE ...]
                                   [--data D] [--data-dir DIR] [--train F] [--dev F]
                                   [--model M.keras] [--out DIR] [--backup-dir DIR]
                                   [--tensorboard DIR] [--epochs N] [--seed N] [--devices N]
                                   [--precision {float32,mixed_bfloat16,mixed_float16}]
                                   [--workers HOST:PORT,... --worker-index I] [--verbose]

A task script builds its parser with `parser(...)`, adds its own flags, reads them with
`arguments(parser, argv)` (which also sets up `--devices` and `--workers`, before anything
touches a device, and `--precision`, before any model is built) and hands each command to a
function:
    config(args, presets)   the preset with the flag overrides applied (its batch checked
                            against the devices)
    check_model_path(path)  run before any data is read, so that a run never trains for an
                            hour and then fails to save
    train_callbacks(args)   the backup and TensorBoard callbacks
    save / load / export    write the trained model, read it, write its SavedModel
"""

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile

from tasks import data as data_lib


def quiet_tensorflow():
    """Imports TensorFlow and Keras with stderr pointed at /dev/null, then restores it:
    TensorFlow's C++ start-up lines (absl, oneDNN, CUDA probes) print before any setting can
    stop them. The task scripts do this first unless `--verbose` is given."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()  # the device probes print here
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                   "MALLOC_ARENA_MAX", "GLIBC_TUNABLES")
_LARGEST = 2**31 - 1  # 2 GB, the most mallopt (which takes an int) can set
KEEP_FREED_MEMORY_ENV = {"MALLOC_MMAP_THRESHOLD_": str(_LARGEST),
                         "MALLOC_TRIM_THRESHOLD_": str(_LARGEST), "MALLOC_ARENA_MAX": "1"}


def keep_freed_memory():
    """Has glibc's malloc keep the memory a training step frees for the next step, instead
    of handing it back to the kernel; returns whether it did. By default, blocks over 128 KB
    (up to 32 MB as glibc adapts) are mmap-ed and unmapped one by one and the heap's free top
    is trimmed, so every step faults its fresh pages in again: on the 2-core machine, a JAX
    training step of the `small` language model faulted in 11,400 pages (311 with this), and
    JAX's steps ran up to 1.5x slower. Three settings:
      - no block is mmap-ed on its own and the heap's free top is not trimmed (up to 2 GB);
      - one arena for every thread. A thread other than the main one otherwise allocates from
        an arena of its own, made of 64 MB heaps that glibc unmaps or shrinks as they empty
        (and a block larger than a heap is mmap-ed whatever the threshold). XLA:CPU runs a
        step on such threads, from one buffer of all its temporaries (50 MB for a minGRU step
        at T = 1,024): without this a JAX `Dense(512)` step over (8, 1,024) tokens faulted in
        about 14,000 pages at most steps, under 1,000 with it. It must be set before the
        threads first allocate, hence before TensorFlow or JAX is loaded.
    The cost: the process keeps its peak memory, and threads share one arena's lock (small
    blocks come from each thread's cache without it). Linux with glibc only; left alone when
    the user chose malloc settings (`MALLOC_SETTINGS` in the environment). The task scripts
    (`python -m tasks.<task>`) call it before TensorFlow or JAX is loaded; elsewhere call it
    first, or start Python with the same settings in the environment: `KEEP_FREED_MEMORY_ENV`
    (MALLOC_MMAP_THRESHOLD_=2147483647 MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_ARENA_MAX=1).
    """
    import ctypes
    import platform

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in MALLOC_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8  # malloc.h
    return bool(libc.mallopt(m_trim_threshold, _LARGEST) and
                libc.mallopt(m_mmap_threshold, _LARGEST) and libc.mallopt(m_arena_max, 1))


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def parser(task, doc, commands, presets, default_preset):
    """An argparse parser with the shared flags for `python -m tasks.<task>`. `commands`: the
    subcommand names (the first positional argument). The model goes to
    `saved_models/<task>.keras` and its export to `saved_models/<task>` by default."""
    model, out = f"saved_models/{task}.keras", f"saved_models/{task}"
    p = argparse.ArgumentParser(prog=f"python -m tasks.{task}", description=doc.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=doc.split("\n\n")[1] if "\n\n" in doc else None)
    p.add_argument("command", choices=commands)
    p.add_argument("inputs", nargs="*", help="the texts (or sentences) to run the command on")
    p.add_argument("--preset", choices=sorted(presets), default=default_preset,
                   help=f"the configuration (default: {default_preset})")
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="override fields of the preset's Config")
    p.add_argument("--data", help="a dataset: a path, or a name in --data-dir")
    p.add_argument("--data-dir", help=f"where named datasets are (default: ${data_lib.DATA_ENV})")
    p.add_argument("--train", help="the training file (a path, or a name in --data-dir)")
    p.add_argument("--dev", help="the dev file (a path, or a name in --data-dir)")
    p.add_argument("--model", default=model, help=f"the .keras file (default: {model})")
    p.add_argument("--out", default=out, help=f"export: the SavedModel folder (default: {out})")
    p.add_argument("--backup-dir", help="train: checkpoints to resume an interrupted run")
    p.add_argument("--tensorboard", help="train: a TensorBoard log folder")
    from tasks.cells import CELLS, VARIANTS

    names = "{" + ",".join(sorted(CELLS)) + "}"
    p.add_argument("--cell", type=_cell_name, metavar="CELL",
                   help=f"override the preset's recurrent cell: one of {names}, "
                   "with variants as NAME:option=value,... (" + "; ".join(
                       f"{name}: {', '.join(options)}" for name, options in VARIANTS.items())
                   + "), e.g. lstm:layer_norm=true,weight_drop=0.5")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--seed", type=int, help="override the preset's seed")
    p.add_argument("--devices", type=int, default=1,
                   help="train data-parallel on N devices of this host: its GPUs, or N "
                   "virtual CPU devices (tasks/distribution.py); the batch must divide by N")
    p.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="the Keras dtype policy of the models this run builds: mixed_bfloat16 "
                   "or mixed_float16 compute in 16 bits with float32 variables (float16 with "
                   "loss scaling); a saved model keeps its policy (default: float32)")
    p.add_argument("--workers", metavar="HOST:PORT,...",
                   help="train on several processes (hosts), one per address, each running "
                   "this command with its own --worker-index; the first is the coordinator")
    p.add_argument("--worker-index", type=int, default=0,
                   help="with --workers: this process's place in the list (0 is the chief, "
                   "which writes the model)")
    p.add_argument("--verbose", action="store_true",
                   help="TensorFlow's start-up log lines, and a progress bar even when the "
                   "output is not a terminal")
    return p


def _cell_name(value):
    from tasks.cells import check_cell

    try:
        return check_cell(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def arguments(parser, argv=None):
    """The parsed flags (options may come between the inputs); `--devices N` and `--workers`
    are set up here, first thing, as the virtual devices and the processes' links must be,
    and `--precision` becomes Keras' global dtype policy (float32 unless given: each run
    states its own, whatever an earlier call in this process chose)."""
    from tasks import distribution

    args = parser.parse_intermixed_args(argv)
    workers = args.workers.split(",") if args.workers else None
    try:
        distribution.configure(args.devices, workers, args.worker_index)
    except ValueError as error:  # the message names the argument: devices, workers, ...
        parser.error(f"--devices / --workers / --worker-index: {error}")
    import keras

    keras.mixed_precision.set_global_policy(args.precision)
    return args


def keras_verbosity(args):
    """Keras' `verbose`: a progress bar on a terminal (or with --verbose), a line per epoch
    otherwise."""
    return 1 if args.verbose or sys.stdout.isatty() else 2


def config(args, presets, **overrides):
    """The preset `args.preset` with `--cell`, `--epochs`, `--seed`, the task's own
    `overrides` (those not None) and then `--set FIELD=VALUE` applied."""
    chosen = presets[args.preset]
    given = {"cell": args.cell, "epochs": args.epochs, "seed": args.seed, **overrides}
    if not hasattr(chosen, "cell"):
        given.pop("cell")
    chosen = dataclasses.replace(chosen, **{k: v for k, v in given.items() if v is not None})
    chosen = with_overrides(chosen, args.set)
    if hasattr(chosen, "batch_size"):
        from tasks import distribution

        distribution.check_batch_size(chosen.batch_size)
    return chosen


def with_overrides(config, items):
    """`config` (a dataclass) with `FIELD=VALUE` strings applied, each value parsed as the
    field's type (booleans as true/false). Unknown fields or bad values raise one ValueError."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    overrides = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or field not in fields:
            raise ValueError(f"--set takes FIELD=VALUE with FIELD one of {sorted(fields)}. "
                             f"Received: {item!r}")
        kind = type(getattr(config, field))
        if kind is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"--set {field} takes true or false. Received: {value!r}")
            overrides[field] = value.lower() in ("true", "1")
        else:
            try:
                overrides[field] = kind(value)
            except ValueError:
                raise ValueError(f"--set {field} takes a value of type {kind.__name__}. "
                                 f"Received: {value!r}") from None
    return dataclasses.replace(config, **overrides)


def check_model_path(path):
    """Fails now, not after training, if the model cannot be saved at `path`."""
    if not str(path).endswith(".keras"):
        raise ValueError(f"--model must name a .keras file. Received: --model {path}")
    folder = os.path.dirname(os.path.abspath(path))
    parent = folder
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise ValueError(f"--model {path}: cannot write into {parent}")
    if os.path.isdir(path):
        raise ValueError(f"--model {path} is a folder; give a .keras file path")


def train_callbacks(args):
    """BackupAndRestore (with --backup-dir) and TensorBoard (with --tensorboard). The backup
    outlives training: `save` deletes it once the model is saved. With several workers, each
    writes its own (`distribution.worker_folder`)."""
    import keras

    from tasks import distribution

    callbacks = []
    if args.backup_dir:
        callbacks.append(keras.callbacks.BackupAndRestore(
            distribution.worker_folder(args.backup_dir), delete_checkpoint=False))
    if args.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(distribution.worker_folder(args.tensorboard)))
    return callbacks


def save(model, args):
    """Writes the trained model to `--model`; only then deletes this process's `--backup-dir`
    checkpoint (a failed save leaves it, so the run can be resumed and saved again). With
    several workers every one saves, as the engines may need all of them to read the weights,
    but only the chief's file is kept."""
    from tasks import distribution

    if distribution.is_chief():
        os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
        model.save(args.model)
        print(f"saved {args.model}")
    else:
        with tempfile.TemporaryDirectory() as folder:
            model.save(os.path.join(folder, os.path.basename(args.model)))
        print(f"not saved here: worker 0 writes {args.model}")
    backup = args.backup_dir and distribution.worker_folder(args.backup_dir)
    if backup and os.path.isdir(backup):
        shutil.rmtree(backup)


def export(model, args, **options):
    """The `export` command: the model's string-input SavedModel in `--out`."""
    from tasks import export as export_lib

    path = export_lib.export(model, args.out, **options)
    default, *others = export_lib.endpoints(model)
    print(f"exported a SavedModel with endpoints {default} (the default)"
          f"{''.join(', ' + name for name in others)}: {path}")
    return path


def load(args):
    import keras

    return keras.saving.load_model(args.model)


def banner(name, config):
    import keras

    print(f"kerasrnn {name}, {keras.backend.backend()} backend: {config}")
