"""The long-dependency experiment: can SimpleRNN, GRU and LSTM recall the first token of a
sequence of N tokens? (`kerasrnn.diagnostics.long_dependency`; chance = 1 / classes.)

    python benchmarks/long_dependency.py                       # N = 10, 50, 100, 200
    python benchmarks/long_dependency.py --lengths 10 40 --epochs 5

Also prints the mean gradient norm ‖∂J_T/∂h_t‖ of each freshly initialized cell at a few
distances T - t (`gradient_flow`), the quantity that explains the table.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasrnn  # noqa: E402
from kerasrnn import diagnostics  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=2048)
    args = parser.parse_args()

    start = time.perf_counter()
    rows = diagnostics.long_dependency(lengths=args.lengths, units=args.units,
                                       train_size=args.train_size, epochs=args.epochs)
    minutes = (time.perf_counter() - start) / 60
    print(f"\nRecall of the first token after N steps, dev accuracy ({keras.backend.backend()} "
          f"backend, {args.units} units, {args.train_size} sequences x {args.epochs} epochs, "
          f"{minutes:.1f} min):\n")
    print(diagnostics.accuracy_table(rows))

    x = np.random.default_rng(0).normal(size=(32, 100, 16)).astype("float32")
    distances = [0, 10, 25, 50, 99]
    print("\nmean ‖∂J_T/∂h_t‖ at distance T - t, untrained layers, 100 random steps:\n")
    print("| cell | " + " | ".join(str(k) for k in distances) + " |")
    print("|---|" + "---:|" * len(distances))
    for name, cell in (("simple_rnn", kerasrnn.SimpleRNNCell), ("gru", kerasrnn.GRUCell),
                       ("lstm", kerasrnn.LSTMCell)):
        keras.utils.set_random_seed(0)
        layer = kerasrnn.RNN(cell(args.units))
        layer(x)
        mean = diagnostics.gradient_flow(layer, x, jacobians=False)["mean_grad_norms"]
        print(f"| {name} | " + " | ".join(f"{mean[-1 - k]:.1e}" for k in distances) + " |")


if __name__ == "__main__":
    main()
