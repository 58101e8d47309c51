"""Sentiment on the Stanford Sentiment Treebank: dev accuracy and training minutes.

    python benchmarks/sentiment.py --data-dir ../shared/data                  # binary and 5-class
    python benchmarks/sentiment.py --data-dir ../shared/data --tasks binary --minutes 20

No pretrained word vectors. Training uses every labelled phrase of the training trees (as the
literature does); dev scores are on dev sentences. Training stops before an epoch that would
end past `--minutes` (and early-stops on dev accuracy); the best dev epoch's weights are scored.
Targets: binary dev accuracy >= 85 %, 5-class >= 45 %, each within 20 minutes.
"""

import argparse
import dataclasses
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tasks.cli import keep_freed_memory  # noqa: E402

keep_freed_memory()  # malloc as `python -m tasks.<task>` sets it, before keras loads
import keras  # noqa: E402
from budget import Budget, free_compiled_programs  # noqa: E402

from tasks import sentiment as st  # noqa: E402
from tasks.cli import with_overrides  # noqa: E402


def describe(logs):
    return f"loss {logs['loss']:.4f}, dev accuracy {100 * logs['val_accuracy']:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASRNN_DATA"))
    parser.add_argument("--tasks", nargs="+", default=["binary", "fine"],
                        choices=["binary", "fine"])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--pooling", choices=st.POOLINGS, help="override the presets'")
    parser.add_argument("--epochs", type=int, help="override the presets' epochs")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override any Config field, e.g. --set word_dropout=0.2")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("give --data-dir (the folder holding sst/) or set KERASRNN_DATA")
    rows = []
    for name in args.tasks:
        config = st.PRESETS[name]
        overrides = {k: v for k, v in (("pooling", args.pooling), ("epochs", args.epochs)) if v}
        config = with_overrides(dataclasses.replace(config, **overrides), args.set)
        print(f"{name}: {config}", flush=True)
        train_data = st.load("sst", config, args.data_dir, "train")
        dev_data = st.load("sst", config, args.data_dir, "dev")
        print(f"  {len(train_data[0]):,} training phrases, {len(dev_data[0]):,} dev sentences")
        start, cpu = time.perf_counter(), time.process_time()
        model, history, results = st.train(config, train_data, dev_data,
                                           callbacks=[Budget(args.minutes, describe)], verbose=0)
        wall, cpu = (time.perf_counter() - start) / 60, (time.process_time() - cpu) / 60
        rows.append((name, config.pooling, model.count_params(), len(history.epoch),
                     results["accuracy"], results["macro_f1"], wall, cpu))
        print(st.report(results))
        del model, history
        free_compiled_programs()
    print(f"\nSST, {keras.backend.backend()} backend, {os.cpu_count()} CPUs\n")
    print("| task | pooling | parameters | epochs | dev accuracy | macro F1 | wall min | CPU min |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, pooling, params, epochs, accuracy, f1, wall, cpu in rows:
        print(f"| {name} | {pooling} | {params:,} | {epochs} | {100 * accuracy:.2f} | "
              f"{100 * f1:.2f} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
