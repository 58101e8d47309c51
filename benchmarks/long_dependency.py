"""The long-dependency experiment: can SimpleRNN, GRU and LSTM recall the first token of a
sequence of N tokens? (chance = 1 / classes.) The functions are importable too (the
recurrent-cells notebook and the tests use them): `from benchmarks.long_dependency import
long_dependency, accuracy_table`.

    python benchmarks/long_dependency.py                       # N = 10, 50, 100, 200
    python benchmarks/long_dependency.py --lengths 10 40 --epochs 5

Also prints the mean gradient norm ‖∂J_T/∂h_t‖ of each freshly initialized cell at a few
distances T - t (`gradient_flow`), the quantity that explains the table.
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasrnn  # noqa: E402
from kerasrnn import diagnostics  # noqa: E402


def recall_task(length, size, num_classes=8, vocabulary_size=32, seed=0):
    """Sequences of `length` tokens whose label is their first token (1..num_classes); the other
    tokens are distractors drawn from the rest of the vocabulary. Returns (ids, labels)."""
    if length < 1 or num_classes >= vocabulary_size - 1:
        raise ValueError(f"Need length >= 1 and num_classes < vocabulary_size - 1. Received: "
                         f"length={length}, num_classes={num_classes}, "
                         f"vocabulary_size={vocabulary_size}")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size)
    ids = rng.integers(num_classes + 1, vocabulary_size, (size, length))
    ids[:, 0] = labels + 1
    return ids.astype("int32"), labels.astype("int32")


# name -> (layer class, extra arguments): Keras' default recurrent initializer is orthogonal,
# which keeps a SimpleRNN's state norm at the start; "simple_rnn_glorot" is the plain random
# initialization of the early RNN literature.
EXPERIMENT_CELLS = {
    "simple_rnn": ("SimpleRNN", {}),
    "simple_rnn_glorot": ("SimpleRNN", {"recurrent_initializer": "glorot_uniform"}),
    "gru": ("GRU", {}),
    "lstm": ("LSTM", {}),
    # The parallel-in-time cells (README "Parallel-in-time cells").
    "mingru": ("MinGRU", {}),
    "minlstm": ("MinLSTM", {}),
    "qrnn": ("QRNN", {}),
    "indrnn": ("IndRNN", {}),
}


def long_dependency(cells=("simple_rnn_glorot", "simple_rnn", "gru", "lstm"),
                    lengths=(10, 50, 100), units=32, train_size=2048, dev_size=512, epochs=15,
                    num_classes=8, vocabulary_size=32, learning_rate=1e-2, seed=0, verbose=0):
    """Trains one model per (cell, length) on `recall_task`; returns rows
    {"cell", "length", "accuracy", "chance"} with dev accuracy (chance = 1 / num_classes).

    Model: one-hot tokens -> one kerasrnn layer of `units` -> Dense over the classes, Adam with
    `clipnorm=1`. `cells` are names of `EXPERIMENT_CELLS`."""
    rows = []
    for length in lengths:
        x, y = recall_task(length, train_size, num_classes, vocabulary_size, seed=seed)
        dx, dy = recall_task(length, dev_size, num_classes, vocabulary_size, seed=seed + 1)
        for name in cells:
            if name not in EXPERIMENT_CELLS:
                raise ValueError(f"`cells` must be names in {sorted(EXPERIMENT_CELLS)}. "
                                 f"Received: {name!r}")
            layer_name, extra = EXPERIMENT_CELLS[name]
            keras.utils.set_random_seed(seed)
            model = keras.Sequential([
                keras.Input((length,), dtype="int32"),
                keras.layers.Embedding(vocabulary_size, vocabulary_size, trainable=False,
                                       embeddings_initializer="identity"),  # one-hot
                getattr(kerasrnn, layer_name)(units, **extra),
                keras.layers.Dense(num_classes),
            ])
            model.compile(keras.optimizers.Adam(learning_rate, clipnorm=1.0),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            model.fit(x, y, batch_size=64, epochs=epochs, verbose=verbose)
            accuracy = model.evaluate(dx, dy, verbose=0, return_dict=True)["accuracy"]
            rows.append({"cell": name, "length": length, "accuracy": accuracy,
                         "chance": 1.0 / num_classes})
    return rows


def accuracy_table(rows):
    """Markdown: one row per cell, one column per length."""
    lengths = sorted({r["length"] for r in rows})
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    acc = {(r["cell"], r["length"]): r["accuracy"] for r in rows}
    lines = ["| cell | " + " | ".join(f"N = {n}" for n in lengths) + " |",
             "|---|" + "---:|" * len(lengths)]
    for c in cells:
        lines.append(f"| {c} | " + " | ".join(
            f"{acc[(c, n)]:.2f}" if (c, n) in acc else "" for n in lengths) + " |")
    chance = rows[0]["chance"] if rows else math.nan
    return "\n".join(lines) + f"\n\nchance = {chance:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--cells", nargs="+", default=["simple_rnn_glorot", "simple_rnn", "gru",
                                                       "lstm"], choices=sorted(EXPERIMENT_CELLS))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=2048)
    parser.add_argument("--plot", help="also save the gradient-flow plot to this PNG file")
    parser.add_argument("--no-experiment", action="store_true", help="gradient flow only")
    args = parser.parse_args()

    if not args.no_experiment:
        start = time.perf_counter()
        rows = long_dependency(cells=args.cells, lengths=args.lengths, units=args.units,
                                           train_size=args.train_size, epochs=args.epochs)
        minutes = (time.perf_counter() - start) / 60
        print(f"\nRecall of the first token after N steps, dev accuracy "
              f"({keras.backend.backend()} backend, {args.units} units, {args.train_size} "
              f"sequences x {args.epochs} epochs, {minutes:.1f} min):\n")
        print(accuracy_table(rows))

    x = np.random.default_rng(0).normal(size=(32, 100, 16)).astype("float32")
    distances = [0, 10, 25, 50, 99]
    print("\nmean ‖∂J_T/∂h_t‖ at distance T - t, untrained layers, 100 random steps:\n")
    print("| cell | " + " | ".join(str(k) for k in distances) + " |")
    print("|---|" + "---:|" * len(distances))
    curves = {}
    for name, cell in (("SimpleRNN", kerasrnn.SimpleRNNCell), ("GRU", kerasrnn.GRUCell),
                       ("LSTM", kerasrnn.LSTMCell)):
        keras.utils.set_random_seed(0)
        layer = kerasrnn.RNN(cell(args.units))
        layer(x)
        mean = diagnostics.gradient_flow(layer, x, jacobians=False)["mean_grad_norms"]
        curves[name] = mean
        print(f"| {name} | " + " | ".join(f"{mean[-1 - k]:.1e}" for k in distances) + " |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.figure(figsize=(6, 3.5))
        for name, mean in curves.items():
            plt.semilogy(np.arange(len(mean))[::-1], mean, label=name)
        plt.xlabel("distance back in time, T - t")
        plt.ylabel("mean ‖∂J_T / ∂h_t‖")
        plt.title(f"gradient flow, untrained {args.units}-unit layers")
        plt.legend()
        plt.tight_layout()
        plt.savefig(args.plot, dpi=100)
        print(f"\nsaved {args.plot}")


if __name__ == "__main__":
    main()
