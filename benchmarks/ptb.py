"""PTB language models (word or character level): valid perplexity and training time per preset.

    python benchmarks/ptb.py --data-dir ../shared/data                  # small and best
    python benchmarks/ptb.py --data-dir ../shared/data --presets small --minutes 30
    python benchmarks/ptb.py --data-dir ../shared/data --presets awd --set ema_momentum=0.999
    python benchmarks/ptb.py --data-dir ../shared/data --presets best --minutes 30 --set cell=mingru
    python benchmarks/ptb.py --data-dir ../shared/data --presets char --minutes 20 \
        --set num_steps=256 cell=mingru          # a character LM over 256-character windows

Trains each preset of `tasks.language_model` on `<data-dir>/ptb` (train split), measures
perplexity on the valid split after every epoch, and prints one table row per preset: the
best valid perplexity, the epoch it came in, wall and process-CPU minutes of training. With
`--minutes` training stops before an epoch that would end past that budget. Targets (issue 4): small
<= 125 (the paper's small model reaches about 120), best <= 105 within 30 minutes.
"""

import argparse
import dataclasses
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tasks.cli import keep_freed_memory  # noqa: E402

keep_freed_memory()  # malloc as `python -m tasks.<task>` sets it, before keras loads
import keras  # noqa: E402
from budget import Budget, free_compiled_programs  # noqa: E402

from tasks import language_model as lm  # noqa: E402
from tasks.cli import with_overrides  # noqa: E402


def describe(logs):
    """An epoch's line: valid perplexity per token, and bits per token (= per character for
    the character-level presets: log2 of the perplexity)."""
    perplexity = logs["val_perplexity"]
    return f"valid perplexity {perplexity:.2f}, {math.log2(perplexity):.3f} bits per token"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASRNN_DATA"))
    parser.add_argument("--presets", nargs="+", default=["small", "best"])
    parser.add_argument("--minutes", type=float, default=0, help="training budget per preset")
    parser.add_argument("--epochs", type=int, help="override the presets' epochs")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="override config fields of every preset (as the task's --set)")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("give --data-dir (the folder holding ptb/) or set KERASRNN_DATA")
    train_lines, dev_lines = lm.load_corpus("ptb", args.data_dir)
    table = []
    for name in args.presets:
        config = lm.PRESETS[name]
        if args.epochs:
            config = dataclasses.replace(config, epochs=args.epochs)
        config = with_overrides(config, args.set)
        print(f"{name}: {config}", flush=True)
        budget = Budget(args.minutes, describe)
        results = lm.train(config, train_lines, dev_lines, callbacks=[budget], verbose=0)[2]
        epoch, logs, wall, cpu = min(budget.rows, key=lambda r: r[1]["val_perplexity"])
        best = logs["val_perplexity"]
        label = " ".join([name, *args.set])  # the overrides too: `best cell=mingru`
        table.append((label, results["parameters"], len(budget.rows), best, epoch,
                      budget.rows[-1][2], budget.rows[-1][3]))
        del budget  # the callback refers to the model
        free_compiled_programs()
    print(f"\nPTB, {keras.backend.backend()} backend, {os.cpu_count()} CPUs\n")
    print("| preset | parameters | epochs | best valid perplexity | bits per token | at epoch "
          "| wall min | CPU min |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, params, epochs, best, epoch, wall, cpu in table:
        print(f"| {name} | {params:,} | {epochs} | {best:.2f} | {math.log2(best):.3f} | "
              f"{epoch} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
