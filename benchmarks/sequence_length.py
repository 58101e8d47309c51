"""Training and inference speed against sequence length: the parallel-in-time cells (minGRU,
minLSTM, QRNN, IndRNN) against the kerasrnn LSTM and `keras.layers.LSTM`.

    python benchmarks/sequence_length.py                       # both backends, both tables
    python benchmarks/sequence_length.py --backends jax --lengths 64,1024 --plot out.png

Batch 8, 128 input features, 256 units, every layer one layer returning its whole sequence
(the loss reads every step: MSE against zeros); T = 64, 256, 1,024, 4,096. Training =
`model.fit` steps (Adam), inference = `predict_on_batch`; tokens/s = batch × T × steps / s. Each
variant keeps its fastest of `--rounds` rounds, run interleaved (the machine is shared). glibc's
malloc is set as the task scripts set it (`tasks.cli.keep_freed_memory`) unless
`--default-malloc`. With `--plot`, a log-log figure of training tokens/s against T.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
from budget import child_env  # noqa: E402

BATCH, FEATURES, UNITS = 8, 128, 256
LAYERS = ("mingru", "minlstm", "qrnn", "indrnn", "kerasrnn_lstm", "keras_lstm")


def make_layer(name):
    import keras

    import kerasrnn

    return {
        "mingru": lambda: kerasrnn.MinGRU(UNITS, return_sequences=True),
        "minlstm": lambda: kerasrnn.MinLSTM(UNITS, return_sequences=True),
        "qrnn": lambda: kerasrnn.QRNN(UNITS, window=2, return_sequences=True),
        "indrnn": lambda: kerasrnn.IndRNN(UNITS, return_sequences=True),
        "kerasrnn_lstm": lambda: kerasrnn.LSTM(UNITS, return_sequences=True),
        "keras_lstm": lambda: keras.layers.LSTM(UNITS, return_sequences=True),
    }[name]()


def run_backend(lengths, rounds, steps, layers):
    import keras
    import numpy as np

    rows = []
    for length in lengths:
        x = np.random.default_rng(0).normal(size=(BATCH, length, FEATURES)).astype("float32")
        y = np.zeros((BATCH, length, UNITS), "float32")
        models = {}
        for name in layers:
            inputs = keras.Input((length, FEATURES), batch_size=BATCH)
            models[name] = keras.Model(inputs, make_layer(name)(inputs))
            models[name].compile(keras.optimizers.Adam(1e-3), "mse")

        def timed(model, train, x=x, y=y):
            start = time.perf_counter()
            for _ in range(steps):
                if train:
                    model.train_on_batch(x, y)
                else:
                    np.asarray(model.predict_on_batch(x))
            return time.perf_counter() - start

        for train in (True, False):
            best = dict.fromkeys(layers, float("inf"))
            for name in layers:  # warm-up: compilation
                models[name].train_on_batch(x, y) if train else models[name].predict_on_batch(x)
            for _ in range(rounds):
                for name in layers:
                    best[name] = min(best[name], timed(models[name], train))
            rows += [{"backend": keras.backend.backend(), "T": length, "layer": name,
                      "mode": "train" if train else "infer",
                      "tokens_per_s": BATCH * length * steps / best[name]} for name in layers]
        keras.backend.clear_session()
    return rows


def print_table(rows):
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    print(f"\n### {rows[0]['backend']} backend — tokens/s (ratio to the kerasrnn LSTM)\n")
    print("| T | mode | " + " | ".join(layers) + " |")
    print("|---:|---|" + "---:|" * len(layers))
    for length, mode in dict.fromkeys((r["T"], r["mode"]) for r in rows):
        sel = {r["layer"]: r["tokens_per_s"] for r in rows if (r["T"], r["mode"]) == (length, mode)}
        base = sel.get("kerasrnn_lstm")
        cells = [f"{sel[n] / 1000:.1f}k" + (f" ({sel[n] / base:.1f}×)" if base else "")
                 for n in layers]
        print(f"| {length:,} | {mode} | " + " | ".join(cells) + " |")


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(dict.fromkeys(r["backend"] for r in rows))
    fig, axes = plt.subplots(1, len(backends), figsize=(5.5 * len(backends), 4), squeeze=False)
    for ax, backend in zip(axes[0], backends):
        for layer in dict.fromkeys(r["layer"] for r in rows):
            sel = [r for r in rows if r["backend"] == backend and r["layer"] == layer
                   and r["mode"] == "train"]
            ax.plot([r["T"] for r in sel], [r["tokens_per_s"] for r in sel], "o-", label=layer)
        ax.set(xscale="log", yscale="log", xlabel="sequence length T",
               ylabel="training tokens/s", title=f"{backend}: batch {BATCH}, {UNITS} units")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="tensorflow,jax")
    p.add_argument("--lengths", default="64,256,1024,4096")
    p.add_argument("--layers", default=",".join(LAYERS))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3, help="steps per round")
    p.add_argument("--plot", help="save a log-log figure of training tokens/s here")
    p.add_argument("--default-malloc", action="store_true",
                   help="leave glibc's malloc at its defaults, which the task scripts change")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    lengths = [int(t) for t in args.lengths.split(",")]
    if args.child:
        rows = run_backend(lengths, args.rounds, args.steps, args.layers.split(","))
        print("ROWS " + json.dumps(rows))
        return
    all_rows = []
    for backend in args.backends.split(","):
        env = child_env(args.default_malloc, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run([sys.executable, __file__, "--child", "--lengths", args.lengths,
                              "--layers", args.layers, "--rounds", str(args.rounds),
                              "--steps", str(args.steps)], env=env, capture_output=True,
                             text=True)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("ROWS ")]
        if out.returncode != 0 or not lines:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"benchmark on {backend} failed (exit {out.returncode})")
        rows = json.loads(lines[-1][5:])
        print_table(rows)
        all_rows += rows
    if args.plot:
        plot(all_rows, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
