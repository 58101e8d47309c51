"""Tagging on the benchmark data: dev scores and training minutes per task.

    python benchmarks/tagging.py --data-dir ../shared/data                 # POS and NER
    python benchmarks/tagging.py --data-dir ../shared/data --tasks ner --minutes 30

POS: UD English EWT, UPOS, dev token accuracy (target >= 95 %). NER: CoNLL-2003, dev (eng.testa)
entity F1 with the CRF head, no pretrained word vectors (target >= 88). Training stops before an
epoch that would end past `--minutes` (and early-stops on the dev score); the best dev epoch's
weights are kept and scored.
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

from tasks import tagger as tg  # noqa: E402
from tasks.cli import with_overrides  # noqa: E402


def describe(logs):
    return f"dev {100 * logs.get('val_f1', logs.get('val_accuracy')):.3f}"

TASKS = {
    "pos": ("pos", "ud_english_ewt/en_ewt-ud-train.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu"),
    "ner": ("ner", "conll2003/eng.train", "conll2003/eng.testa"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASRNN_DATA"))
    parser.add_argument("--tasks", nargs="+", default=["pos", "ner"], choices=sorted(TASKS))
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--epochs", type=int, help="override the presets' epochs")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override any Config field, e.g. --set patience=6")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("give --data-dir (the folder holding the datasets) or set KERASRNN_DATA")
    rows = []
    for name in args.tasks:
        preset, train_file, dev_file = TASKS[name]
        config = tg.PRESETS[preset]
        if args.epochs:
            config = dataclasses.replace(config, epochs=args.epochs)
        config = with_overrides(config, args.set)
        print(f"{name}: {config}", flush=True)
        train_data = tg.load(train_file, config, args.data_dir)
        dev_data = tg.load(dev_file, config, args.data_dir)
        start, cpu = time.perf_counter(), time.process_time()
        model, history, results = tg.train(config, train_data, dev_data,
                                           callbacks=[Budget(args.minutes, describe)], verbose=0)
        wall, cpu = (time.perf_counter() - start) / 60, (time.process_time() - cpu) / 60
        score = results.get("f1", results["accuracy"])
        rows.append((name, config.head, model.count_params(), len(history.epoch), score, wall,
                     cpu))
        if "entities" in results:
            print(tg.score_table(results["entities"]))
        del model, history
        free_compiled_programs()
    print(f"\nTagging, {keras.backend.backend()} backend, {os.cpu_count()} CPUs\n")
    print("| task | head | parameters | epochs | dev score | wall min | CPU min |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, head, params, epochs, score, wall, cpu in rows:
        metric = "F1" if name == "ner" else "accuracy"
        print(f"| {name} | {head} | {params:,} | {epochs} | {metric} {100 * score:.3f} | "
              f"{wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
