"""Data-parallel scaling: training tokens/s of the language model and the tagger on 1, 2 and 4
devices of one process, and on 2 processes of 1 device each (tasks/distribution.py).

    python benchmarks/scaling.py                        # both backends, one table each
    python benchmarks/scaling.py --backends jax --tokens 100000

Each run is fresh processes (devices are fixed when a backend starts) that train the task's
real model and input pipeline on a synthetic corpus (Zipf-distributed words, sentences of 5 to
40 words): the language model's `default` preset (2 x 200 LSTM, BPTT 20) and the tagger's `pos`
preset (word and character BiLSTMs), both with a global batch of 32 split across the devices.
One epoch compiles, the next is timed; a 2-process run reports its chief's time. Efficiency per
device = (tokens/s on N devices) / (N x tokens/s on 1 device).

On a CPU-only host the devices are virtual: they split the same cores, so they add no compute
and the table measures the engines' overhead; on a host with N GPUs `--devices N` puts one
replica on each.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

SETTINGS = [("1 device", 1, 1), ("2 devices", 2, 1), ("4 devices", 4, 1),
            ("2 processes", 1, 2)]  # (label, devices per process, processes)
BATCH = 32


def corpus(tokens, seed=0):
    """Sentences of 5..40 words drawn from a Zipf law over 5000 words, `tokens` in all."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sentences, total = [], 0
    while total < tokens:
        length = int(rng.integers(5, 41))
        sentences.append([f"w{min(int(r), 5000)}" for r in rng.zipf(1.3, length)])
        total += length
    return sentences


def measure(task, tokens):
    """Trains one epoch (compiling), then times one more; returns tokens per second."""
    import keras

    keras.utils.set_random_seed(0)
    sentences = corpus(tokens)
    if task == "language_model":
        from tasks.language_model import recipe

        config = dataclasses.replace(recipe.PRESETS["default"], batch_size=BATCH)
        tokenizer = recipe.make_tokenizer([" ".join(s) for s in sentences])
        ids = recipe.token_stream(tokenizer, [" ".join(s) for s in sentences])
        data = recipe.make_dataset(ids, config, shuffle=True)
        model = recipe.build_model(config, tokenizer, 2 * int(data.cardinality()))
        counted = int(data.cardinality()) * BATCH * config.num_steps
    else:
        from tasks.tagger import recipe

        config = dataclasses.replace(recipe.PRESETS["pos"], batch_size=BATCH)
        preprocessor = recipe.make_preprocessor(sentences, config)
        tags = [[len(w) % 17 for w in s] for s in sentences]  # 17 tags, as UPOS
        data = preprocessor.dataset(sentences, tags, BATCH, shuffle=True, seed=0)
        model = recipe.build_model(config, preprocessor, [str(t) for t in range(17)])
        counted = sum(len(s) for s in sentences)
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    return counted / (time.perf_counter() - start)


def child(args):
    from tasks import distribution

    workers = args.workers.split(",") if args.workers else None
    distribution.configure(args.devices, workers, args.worker_index)
    print("RESULT " + json.dumps(measure(args.task, args.tokens)), flush=True)


def run_setting(backend, task, devices, processes, tokens):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, __file__, "--child", "--task", task, "--devices", str(devices),
               "--tokens", str(tokens)]
    if processes > 1:
        from tasks import distribution

        workers = ",".join(distribution.local_workers(processes))
        commands = [command + ["--workers", workers, "--worker-index", str(i)]
                    for i in range(processes)]
    else:
        commands = [command]
    runs = [subprocess.Popen(c, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for c in commands]
    outputs = [run.communicate() for run in runs]
    out, err = outputs[0]  # the chief's
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if any(run.returncode for run in runs) or not lines:
        print(err[-3000:], file=sys.stderr)
        raise SystemExit(f"{task} on {backend}, {devices} device(s) x {processes} process(es) "
                         "failed")
    return json.loads(lines[-1][7:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--tasks", default="language_model,tagger")
    parser.add_argument("--tokens", type=int, default=60_000, help="synthetic corpus size")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--workers", help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    from tasks import cli

    cli.quiet_tensorflow()  # this process imports TF too (for free ports): no start-up lines
    for backend in args.backends.split(","):
        print(f"\n### {backend} backend: training tokens/s (efficiency per device)\n")
        print("| task | " + " | ".join(label for label, _, _ in SETTINGS) + " |")
        print("|---|" + "---:|" * len(SETTINGS))
        for task in args.tasks.split(","):
            cells, base = [], None
            for _, devices, processes in SETTINGS:
                rate = run_setting(backend, task, devices, processes, args.tokens)
                base = base or rate
                replicas = devices * processes
                cells.append(f"{rate / 1000:.1f}k ({rate / (replicas * base):.2f})")
            print(f"| {task} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
