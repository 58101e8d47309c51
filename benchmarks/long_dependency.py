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
    parser.add_argument("--plot", help="also save the gradient-flow plot to this PNG file")
    parser.add_argument("--no-experiment", action="store_true", help="gradient flow only")
    args = parser.parse_args()

    if not args.no_experiment:
        start = time.perf_counter()
        rows = diagnostics.long_dependency(lengths=args.lengths, units=args.units,
                                           train_size=args.train_size, epochs=args.epochs)
        minutes = (time.perf_counter() - start) / 60
        print(f"\nRecall of the first token after N steps, dev accuracy "
              f"({keras.backend.backend()} backend, {args.units} units, {args.train_size} "
              f"sequences x {args.epochs} epochs, {minutes:.1f} min):\n")
        print(diagnostics.accuracy_table(rows))

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
