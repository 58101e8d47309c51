"""Transfer from our own character language models: tagging learning curves without and with
contextual string embeddings (`tasks.language_model.embedding.CharLMEmbedding`).

    python benchmarks/transfer.py --data-dir ../shared/data                     # everything
    python benchmarks/transfer.py --data-dir ../shared/data --tasks ner --sizes 1000 \\
        --lm-minutes 15 --minutes 20

1. Pretraining: a forward and a backward character LM (`--lm-preset`, default `char`) trained
   with the language-model recipe for `--lm-minutes` each on unlabelled text: `--text FILE`,
   or by default the training splits' text of the data folder (CoNLL-2003, UD EWT, SST,
   Multi30k English: sentences as lines, words joined by spaces; never a dev split). Skipped
   when `--lms FORWARD.keras,BACKWARD.keras` are given.
2. For each task and training size (the first N training sentences, or "all"): the task's
   preset trained without and with the LMs' states (`char_lms`, frozen), `--minutes` each,
   early-stopped on dev (CoNLL-2003 eng.testa entity F1, EWT dev UPOS accuracy).

Prints the pretraining (text, characters, minutes, dev bits per character) and one table row
per task and size.
"""

import argparse
import dataclasses
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
from budget import Budget  # noqa: E402

from tasks import data as data_lib  # noqa: E402
from tasks import language_model as lm  # noqa: E402
from tasks import tagger as tg  # noqa: E402
from tasks.cli import with_overrides  # noqa: E402

TASKS = {  # preset, train file, dev file
    "ner": ("ner", "conll2003/eng.train", "conll2003/eng.testa"),
    "pos": ("pos", "ud_english_ewt/en_ewt-ud-train.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu"),
}


def training_text(data_dir):
    """The training splits' sentences (words joined by spaces), shuffled with a fixed seed."""
    lines = []
    for path, read in (("conll2003/eng.train", data_lib.read_conll),
                       ("ud_english_ewt/en_ewt-ud-train.conllu", data_lib.read_conllu)):
        lines += [" ".join(s["words"]) for s in read(data_lib.resolve(path, data_dir))]
    lines += data_lib.read_sst(data_lib.resolve("sst/train.txt", data_dir), 5, phrases=False)[0]
    lines += data_lib.read_raw(data_lib.resolve("multi30k/train.en", data_dir)).splitlines()
    random.Random(0).shuffle(lines)
    return lines


def pretrain(lines, preset, minutes, folder, overrides):
    """Trains the forward and backward LMs; returns their paths and a description of each."""
    cut = len(lines) - max(1, len(lines) // 50)  # 2 % of the lines for dev bits per character
    paths, notes = [], []
    for reverse in (False, True):
        config = dataclasses.replace(with_overrides(lm.PRESETS[preset], overrides),
                                     reverse=reverse)
        budget = Budget(minutes, lambda logs: f"dev bpc {logs['val_bits_per_character']:.3f}")
        start = time.perf_counter()
        model, _, results = lm.train(config, lines[:cut], lines[cut:], callbacks=[budget],
                                     verbose=0)
        path = os.path.join(folder, f"char_lm_{'backward' if reverse else 'forward'}.keras")
        model.save(path)
        paths.append(path)
        notes.append(f"{'backward' if reverse else 'forward'}: {results['train_tokens']:,} "
                     f"characters a pass, {len(budget.rows)} epochs, "
                     f"{(time.perf_counter() - start) / 60:.1f} min, dev bits per character "
                     f"{results['bits_per_character']:.3f}")
        print(notes[-1], flush=True)
    return paths, notes


def describe(logs):
    return f"dev {100 * logs.get('val_f1', logs.get('val_accuracy')):.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASRNN_DATA"))
    parser.add_argument("--tasks", nargs="+", default=["ner", "pos"], choices=sorted(TASKS))
    parser.add_argument("--sizes", nargs="+", default=["1000", "3000", "all"],
                        help="training sentences: numbers (the first N) or 'all'")
    parser.add_argument("--text", help="pretraining text (default: the training splits')")
    parser.add_argument("--lms", help="FORWARD.keras,BACKWARD.keras: skip pretraining")
    parser.add_argument("--lm-preset", default="char")
    parser.add_argument("--lm-set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--lm-minutes", type=float, default=30)
    parser.add_argument("--minutes", type=float, default=30, help="per tagger")
    parser.add_argument("--out", default="saved_models/transfer", help="where the LMs go")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("give --data-dir (the folder holding the datasets) or set KERASRNN_DATA")
    if args.lms:
        paths, notes = args.lms.split(","), [f"given: {args.lms}"]
    else:
        lines = (data_lib.read_raw(args.text).splitlines() if args.text
                 else training_text(args.data_dir))
        print(f"pretraining text: {len(lines):,} lines, {sum(map(len, lines)):,} characters "
              f"({args.text or 'the training splits of ' + args.data_dir})", flush=True)
        os.makedirs(args.out, exist_ok=True)
        paths, notes = pretrain(lines, args.lm_preset, args.lm_minutes, args.out, args.lm_set)
    rows = []
    for name in args.tasks:
        preset, train_file, dev_file = TASKS[name]
        base = tg.PRESETS[preset]
        train = tg.load(train_file, base, args.data_dir)
        dev = tg.load(dev_file, base, args.data_dir)
        for size in args.sizes:
            n = len(train[0]) if size == "all" else int(size)
            for char_lms in ("", ",".join(paths)):
                config = dataclasses.replace(base, char_lms=char_lms)
                print(f"{name}, {n} sentences, {'with' if char_lms else 'without'} the LMs",
                      flush=True)
                budget = Budget(args.minutes, describe)
                start = time.perf_counter()
                _, _, results = tg.train(config, (train[0][:n], train[1][:n]), dev,
                                         callbacks=[budget], verbose=0)
                rows.append((name, n, bool(char_lms), results.get("f1", results["accuracy"]),
                             len(budget.rows), (time.perf_counter() - start) / 60))
                keras.backend.clear_session()
    print(f"\nTransfer, {keras.backend.backend()} backend, {os.cpu_count()} CPUs")
    print("character LMs: " + "; ".join(notes) + "\n")
    print("| task | training sentences | char LMs | dev score | epochs | wall min |")
    print("|---|---:|---|---:|---:|---:|")
    for name, n, with_lms, score, epochs, wall in rows:
        metric = "F1" if name == "ner" else "UPOS accuracy"
        print(f"| {name} | {n:,} | {'yes' if with_lms else 'no'} | {metric} {100 * score:.2f} "
              f"| {epochs} | {wall:.1f} |")


if __name__ == "__main__":
    main()
