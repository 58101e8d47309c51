"""Speed of kerasrnn's recurrent layers against Keras' own (and torch's, when installed).

    python benchmarks/layers.py                       # both backends, one table each
    python benchmarks/layers.py --backends jax --rounds 5
    python benchmarks/layers.py --variants          # adds the cell variants' columns
    python benchmarks/layers.py --precision         # adds kerasrnn under mixed precision
    python benchmarks/layers.py --kinds bilstm       # one kind of row (lstm gru bilstm bigru)

Training = `model.fit` steps (Adam, MSE on the last output, default `compile()` settings);
inference = `model.predict_on_batch`. Batch 64, 100 steps, 128 features, 256 units, and a
variant whose batch is right-padded (lengths 50..100, `Masking` layer). The BiLSTM / BiGRU rows
run both directions: `kerasrnn.LSTM(units, bidirectional=True)` (the two directions' loops),
`keras.layers.Bidirectional(keras.layers.LSTM(units))` and torch's `bidirectional=True` (a
packed batch where masked), the two final states concatenated. The machine is shared
and has slow phases, so variants run interleaved (A B C A B C ...) and each keeps its fastest
round; ratios are to `keras.layers.<LSTM|GRU>` in the same run. With `--variants`, columns for
kerasrnn's cell variants (`VARIANTS`: peepholes, a projection to 128 units, layer norm,
zoneout, weight-drop; each a `kerasrnn.LSTM`/`GRU` with that option, ratio to plain kerasrnn in
the table's last line). With `--precision`, columns for the same kerasrnn layer under the dtype
policies mixed_bfloat16 and mixed_float16 (`dtype=` of the layer: float32 variables, 16-bit
compute), also as a ratio to plain (float32) kerasrnn. glibc's malloc is set in the measuring
processes as the task scripts set it (`tasks.cli.keep_freed_memory`) unless `--default-malloc`.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from budget import child_env  # noqa: E402

BATCH, STEPS, FEATURES, UNITS = 64, 100, 128, 256
VARIANTS = {  # column: (kinds, options of kerasrnn.LSTM / GRU)
    "+peephole": (("lstm",), {"peephole": True}),
    "+projection": (("lstm",), {"projection_units": UNITS // 2}),
    "+weight_drop": (("lstm", "gru"), {"weight_drop": 0.5}),
    "+layer_norm": (("lstm", "gru"), {"layer_norm": True}),
    "+zoneout": (("lstm", "gru"), {"zoneout_h": 0.1}),
}
PRECISIONS = {  # column: (kinds, options), as VARIANTS
    "mixed_bfloat16": (("lstm", "gru"), {"dtype": "mixed_bfloat16"}),
    "mixed_float16": (("lstm", "gru"), {"dtype": "mixed_float16"}),
}


def _data(masked, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    if masked:
        lengths = rng.integers(STEPS // 2, STEPS + 1, size=BATCH)
        x[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0.0
    y = rng.normal(size=(BATCH, 2 * UNITS)).astype("float32")  # a bidirectional layer's width
    return x, y


def _keras_model(kind, impl, masked):
    import keras

    import kerasrnn

    lstm = kind.endswith("lstm")
    both = kind.startswith("bi")
    ours = kerasrnn.LSTM if lstm else kerasrnn.GRU
    theirs = keras.layers.LSTM if lstm else keras.layers.GRU
    cell = keras.layers.LSTMCell if lstm else keras.layers.GRUCell

    def wrap(layer):
        return keras.layers.Bidirectional(layer) if both else layer

    layers = {
        "kerasrnn": lambda: ours(UNITS, bidirectional=both),
        "keras": lambda: wrap(theirs(UNITS)),
        "keras_rnn_cell": lambda: wrap(keras.layers.RNN(cell(UNITS))),
    }
    layers.update({name: lambda options=options: ours(UNITS, bidirectional=both, **options)
                   for name, (_, options) in {**VARIANTS, **PRECISIONS}.items()})
    inputs = keras.Input((STEPS, FEATURES), batch_size=BATCH)
    x = keras.layers.Masking(0.0)(inputs) if masked else inputs
    model = keras.Model(inputs, layers[impl]()(x))
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def _time_keras(model, x, y, train, steps):
    import numpy as np

    if train:
        xs, ys = np.concatenate([x] * steps), np.concatenate([y] * steps)
        start = time.perf_counter()
        model.fit(xs, ys, batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    else:
        start = time.perf_counter()
        for _ in range(steps):
            np.asarray(model.predict_on_batch(x))
    return time.perf_counter() - start


def _torch_runner(kind, masked):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    both = kind.startswith("bi")
    rnn = (torch.nn.LSTM if kind.endswith("lstm") else torch.nn.GRU)(
        FEATURES, UNITS, batch_first=True, bidirectional=both)
    opt = torch.optim.Adam(rnn.parameters(), 1e-3)
    x_np, y_np = _data(masked)
    y_np = y_np[:, : UNITS * (1 + both)]
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    lengths = torch.from_numpy((x_np != 0).any(-1).sum(1))

    def forward():
        if masked:
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            _, state = rnn(packed)
        else:
            _, state = rnn(x)
        h = state[0] if kind.endswith("lstm") else state
        return torch.cat([h[-2], h[-1]], -1) if both else h[-1]

    def run(train, steps):
        start = time.perf_counter()
        for _ in range(steps):
            if train:
                opt.zero_grad()
                torch.nn.functional.mse_loss(forward(), y).backward()
                opt.step()
            else:
                with torch.no_grad():
                    forward()
        return time.perf_counter() - start

    return run


def run_backend(rounds, steps, kinds, variants=False, precision=False):
    """Runs in a process whose KERAS_BACKEND is set; returns rows of results."""
    import keras

    impls = ["kerasrnn", "keras", "keras_rnn_cell"]
    if variants:
        impls += list(VARIANTS)
    if precision:
        impls += list(PRECISIONS)
    extra = {**VARIANTS, **PRECISIONS}
    try:
        import torch  # noqa: F401

        impls.append("torch")
    except ImportError:
        pass
    rows = []
    for kind in kinds:
        for masked in (False, True):
            x, y = _data(masked)
            runners = {}
            for impl in impls:
                if impl in extra and kind.removeprefix("bi") not in extra[impl][0]:
                    continue
                if impl == "torch":
                    runners[impl] = _torch_runner(kind, masked)
                else:
                    model = _keras_model(kind, impl, masked)
                    y_out = y[:, : model.output_shape[-1]]  # a projection's output is narrower
                    runners[impl] = (lambda train, n, model=model, x=x, y=y_out:
                                     _time_keras(model, x, y, train, n))
            for train in (True, False):
                best = {impl: float("inf") for impl in runners}
                for impl in runners:  # warm-up: compilation and first-call costs
                    runners[impl](train, 2)
                for _ in range(rounds):
                    for impl in runners:
                        best[impl] = min(best[impl], runners[impl](train, steps))
                for impl in runners:
                    rows.append({
                        "backend": keras.backend.backend(), "kind": kind, "masked": masked,
                        "mode": "train" if train else "infer", "impl": impl,
                        "tokens_per_s": BATCH * STEPS * steps / best[impl],
                    })
    return rows


def _label(kind, masked):
    name = "Bi" + kind[2:].upper() if kind.startswith("bi") else kind.upper()
    return name + (" masked" if masked else "")


def print_table(rows):
    backend = rows[0]["backend"]
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    print(f"\n### {backend} backend — tokens/s (ratio to keras.layers.LSTM/GRU, or to "
          f"keras.layers.Bidirectional of it)\n")
    print("| layer | mode | " + " | ".join(impls) + " |")
    print("|---|---|" + "---|" * len(impls))
    groups = dict.fromkeys((r["kind"], r["masked"], r["mode"]) for r in rows)
    for kind, masked, mode in groups:
        sel = {r["impl"]: r["tokens_per_s"] for r in rows
               if (r["kind"], r["masked"], r["mode"]) == (kind, masked, mode)}
        base = sel["keras"]
        cells = [f"{sel[i] / 1000:.0f}k ({sel[i] / base:.2f}×)" if i in sel else "—"
                 for i in impls]
        print(f"| {_label(kind, masked)} | {mode} | " + " | ".join(cells) + " |")
    variants = [i for i in impls if i in VARIANTS or i in PRECISIONS]
    if variants:
        print("\nThe variants' speed as a ratio to plain (float32) kerasrnn in the same run:\n")
        print("| layer | mode | " + " | ".join(variants) + " |")
        print("|---|---|" + "---|" * len(variants))
        for kind, masked, mode in groups:
            sel = {r["impl"]: r["tokens_per_s"] for r in rows
                   if (r["kind"], r["masked"], r["mode"]) == (kind, masked, mode)}
            cells = [f"{sel[i] / sel['kerasrnn']:.2f}×" if i in sel else "—" for i in variants]
            print(f"| {_label(kind, masked)} | {mode} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--kinds", default="lstm,gru,bilstm,bigru",
                        help="the rows' layers: lstm, gru, bilstm, bigru (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="train/predict steps per round")
    parser.add_argument("--variants", action="store_true",
                        help="also the cell variants (peephole, projection, ...)")
    parser.add_argument("--precision", action="store_true",
                        help="also kerasrnn under mixed_bfloat16 and mixed_float16")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc at its defaults, which the task scripts change")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        rows = run_backend(args.rounds, args.steps, args.kinds.split(","), args.variants,
                           args.precision)
        print("ROWS " + json.dumps(rows))
        return
    for backend in args.backends.split(","):
        env = child_env(args.default_malloc, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--rounds", str(args.rounds),
             "--steps", str(args.steps), "--kinds", args.kinds]
            + (["--variants"] if args.variants else [])
            + (["--precision"] if args.precision else []),
            env=env, capture_output=True, text=True,
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("ROWS ")]
        if out.returncode != 0 or not lines:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"benchmark on {backend} failed (exit {out.returncode})")
        print_table(json.loads(lines[-1][5:]))


if __name__ == "__main__":
    main()
