"""Both directions of a bidirectional LSTM in one loop, against kerasrnn's two loops, at
inference: the experiment behind issue 19's "fused bidirectional", kept because its answer was
no (README, "Speed").

    python benchmarks/bidirectional.py                    # both backends
    python benchmarks/bidirectional.py --backends jax --rounds 5

"Two loops" is `kerasrnn.Bidirectional(kerasrnn.RNN(kerasrnn.LSTMCell(units)))` as the layers
run it: each direction on kerasrnn's fused inference kernel (`_fused_gated.lstm_sequence`).
"One loop" stacks the two directions on a leading axis: the inputs (T, 2, B, F), the backward
one time-reversed, and the weights (2, F, 4H), (2, H, 4H), (2, 1, 4H), and runs the same
kernel once, whose per-step matmuls then are batched over the two directions (oneDNN's
`bidirectional_concat` does the same). Its outputs equal the two loops' (checked before
timing). Unpadded batches only; the shapes are the tasks' (tagger, sentiment, language model)
and the layers benchmark's. Each `predict_on_batch` is timed, the fastest of `--rounds`
rounds of `--steps` kept, the two variants interleaved.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from budget import backend_parser, per_backend  # noqa: E402

SHAPES = [(64, 100, 128, 256), (32, 40, 256, 256), (32, 25, 300, 200), (32, 25, 400, 200),
          (64, 50, 300, 150), (20, 35, 650, 650)]  # (batch, steps, features, units)


def _models(batch, steps, features, units):
    import keras
    from keras import ops

    import kerasrnn
    from kerasrnn import _fused, _fused_gated

    inputs = keras.Input((steps, features), batch_size=batch)
    pair = kerasrnn.Bidirectional(
        kerasrnn.RNN(kerasrnn.LSTMCell(units), return_sequences=True))
    two = keras.Model(inputs, pair(inputs))

    class OneLoop(keras.layers.Layer):
        def call(self, x):
            cells = pair.forward_layer.cell, pair.backward_layer.cell
            xt = ops.transpose(x, (1, 0, 2))
            xs = ops.stack([xt, ops.flip(xt, axis=0)], axis=1)  # (T, 2, B, F)
            h0 = ops.zeros((2, batch, units))
            spec = _fused._Spec(None, None, False, "tanh", "sigmoid", 2, False)
            out, _, _ = _fused_gated.lstm_sequence(
                xs, h0, h0, *(ops.stack([getattr(c, name).value for c in cells])
                              for name in ("kernel", "recurrent_kernel")),
                ops.stack([c.bias.value for c in cells])[:, None], spec)
            y = ops.concatenate([out[:, 0], ops.flip(out[:, 1], axis=0)], axis=-1)
            return ops.transpose(y, (1, 0, 2))

        def compute_output_shape(self, input_shape):
            return (*input_shape[:2], 2 * units)

    one = keras.Model(inputs, OneLoop()(inputs))
    return two, one


def measure(rounds, steps):
    import numpy as np

    rows = []
    for batch, time_steps, features, units in SHAPES:
        x = np.random.default_rng(0).normal(size=(batch, time_steps, features))
        x = x.astype("float32")
        two, one = _models(batch, time_steps, features, units)
        diff = float(np.max(np.abs(np.asarray(two.predict_on_batch(x))
                                   - np.asarray(one.predict_on_batch(x)))))
        best = {"two": float("inf"), "one": float("inf")}
        for _ in range(rounds):
            for name, model in (("two", two), ("one", one)):
                start = time.perf_counter()
                for _ in range(steps):
                    np.asarray(model.predict_on_batch(x))
                best[name] = min(best[name], (time.perf_counter() - start) / steps)
        rows.append({"shape": [batch, time_steps, features, units], "diff": diff,
                     "two_ms": 1000 * best["two"], "one_ms": 1000 * best["one"]})
    return rows


def main():
    parser = backend_parser(__doc__)
    parser.add_argument("--steps", type=int, default=10, help="predictions per round")
    args = parser.parse_args()
    if args.child:
        import json

        print(json.dumps(measure(args.rounds, args.steps)))
        return
    results = per_backend(__file__, ["--rounds", args.rounds, "--steps", args.steps],
                          args.backends, args.default_malloc)
    print("| backend | batch, steps, features, units | two loops, ms | one loop, ms | "
          "two / one | max difference |")
    print("|---|---|---:|---:|---:|---:|")
    for backend, rows in results.items():
        for r in rows:
            print(f"| {backend} | {', '.join(map(str, r['shape']))} | {r['two_ms']:.2f} | "
                  f"{r['one_ms']:.2f} | {r['two_ms'] / r['one_ms']:.2f}× | {r['diff']:.1e} |")


if __name__ == "__main__":
    main()
