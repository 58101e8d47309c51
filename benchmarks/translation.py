"""Translation on Multi30k (de -> en): val BLEU and training minutes, with and without attention.

    python benchmarks/translation.py --data-dir ../shared/data
    python benchmarks/translation.py --data-dir ../shared/data --presets default --minutes 60

Each preset trains until its epochs are done, dev loss stops improving, or the next epoch would
end past `--minutes`; the best dev-loss epoch's weights are kept. BLEU is sacrebleu's corpus BLEU on
the val split (lowercased, as the model is), greedy and with beam search.
Target: the attention model's val BLEU >= 30 within 60 minutes.
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

from tasks import translator as tr  # noqa: E402


def describe(logs):
    return (f"loss {logs['loss']:.3f}, dev loss {logs['val_loss']:.3f}, dev token accuracy "
            f"{100 * logs['val_accuracy']:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("KERASRNN_DATA"))
    parser.add_argument("--presets", nargs="+", default=["default", "no_attention"],
                        choices=sorted(tr.PRESETS))
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--epochs", type=int, help="override the presets' epochs")
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("give --data-dir (the folder holding multi30k/) or set KERASRNN_DATA")
    train_pairs = tr.load("multi30k", args.src, args.tgt, args.data_dir, "train")
    dev_pairs = tr.load("multi30k", args.src, args.tgt, args.data_dir, "val")
    rows = []
    for name in args.presets:
        config = tr.PRESETS[name]
        if args.epochs:
            config = dataclasses.replace(config, epochs=args.epochs)
        print(f"{name}: {config}", flush=True)
        start, cpu = time.perf_counter(), time.process_time()
        model, history = tr.train(config, train_pairs, dev_pairs,
                                  callbacks=[Budget(args.minutes, describe)], verbose=0)
        wall, cpu = (time.perf_counter() - start) / 60, (time.process_time() - cpu) / 60
        greedy, hypotheses = tr.bleu(model, dev_pairs)
        beam, _ = tr.bleu(model, dev_pairs, beam_size=config.beam_size)
        for (source, reference), hypothesis in list(zip(dev_pairs, hypotheses))[:3]:
            print(f"  {source}\n    reference: {reference}\n    greedy:    {hypothesis}")
        print(f"  greedy {greedy}\n  beam {config.beam_size}: {beam}", flush=True)
        rows.append((name, config.attention, model.count_params(), len(history.epoch),
                     greedy.score, beam.score, config.beam_size, wall, cpu))
        del model, history
        free_compiled_programs()
    print(f"\nMulti30k {args.src}->{args.tgt}, {keras.backend.backend()} backend, "
          f"{os.cpu_count()} CPUs\n")
    print("| preset | attention | parameters | epochs | val BLEU greedy | val BLEU beam | "
          "wall min | CPU min |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, attention, params, epochs, greedy, beam, k, wall, cpu in rows:
        print(f"| {name} | {attention} | {params:,} | {epochs} | {greedy:.2f} | {beam:.2f} "
              f"(k={k}) | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
