"""What the benchmark scripts share: the time budget (a Keras callback that prints each epoch's
results and stops training before an epoch that would end past `minutes` of wall time),
`free_compiled_programs` between two trainings in one process, and `per_backend`, which runs a
script's measuring half once per backend. `--set FIELD=VALUE` overrides are the task scripts'
own (`tasks.cli.with_overrides`)."""

import argparse
import json
import os
import subprocess
import sys
import time

import keras


class Budget(keras.callbacks.Callback):
    """Prints `describe(logs)` after every epoch with the wall minutes so far, keeps
    `rows` = [(epoch, logs, wall minutes, process CPU minutes)], and stops training when one
    more epoch, as long as the slowest so far after the first (which also compiles), would end
    past `minutes` (0: no limit). Training time stays within the budget."""

    def __init__(self, minutes, describe):
        super().__init__()
        self.minutes, self.describe, self.rows = minutes, describe, []

    def on_train_begin(self, logs=None):
        self.start, self.cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        wall = (time.perf_counter() - self.start) / 60
        cpu = (time.process_time() - self.cpu) / 60
        self.rows.append((epoch + 1, dict(logs), wall, cpu))
        print(f"  epoch {epoch + 1}: {self.describe(logs)} ({wall:.1f} min)", flush=True)
        durations = [b[2] - a[2] for a, b in zip(self.rows, self.rows[1:])] or [wall]
        if self.minutes and wall + max(durations) > self.minutes:
            self.model.stop_training = True


def free_compiled_programs():
    """Call between two trainings in one process, once nothing refers to the first's model
    (its history and callbacks do): on JAX this frees the model's compiled programs. Each holds
    memory maps on XLA:CPU, a Linux process may have 65,530, and one tagger train step with
    character LMs holds about 2,800; a JAX process that kept every run's died in its second
    tagger run. TensorFlow keeps its XLA programs until the process ends."""
    keras.backend.clear_session()


def backend_parser(doc):
    """The arguments of a script measured once per backend: `--backends`, `--rounds` and
    the hidden `--child` that `per_backend` passes."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc at its defaults, which the task scripts "
                        "change (tasks.cli.keep_freed_memory)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def child_env(default_malloc=False, **more):
    """The environment of a measuring process: malloc set as the task scripts set it
    (`tasks.cli.keep_freed_memory`) unless `default_malloc`, and `more`."""
    from tasks.cli import KEEP_FREED_MEMORY_ENV

    return {**os.environ, **({} if default_malloc else KEEP_FREED_MEMORY_ENV), **more}


def per_backend(script, arguments, backends, default_malloc=False):
    """{backend: result}: `python script --child *arguments` run in a fresh process per
    backend (the backend is chosen at import), each printing its result as JSON on its last
    line; malloc as `child_env` sets it. Exits with the child's error output if one fails."""
    results = {}
    for backend in backends:
        out = subprocess.run([sys.executable, script, "--child", *map(str, arguments)],
                             env=child_env(default_malloc, KERAS_BACKEND=backend),
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{backend} failed:\n{out.stderr[-3000:]}")
        results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
    return results
