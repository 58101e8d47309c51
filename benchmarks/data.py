"""Reads the full train/dev splits of the benchmark data and prints counts and read times.

    python benchmarks/data.py --data-dir ../shared/data     (or set KERASRNN_DATA)

The expected counts are the ones published with the data (its README); a row that differs is
marked with a cross.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tasks import data  # noqa: E402

# (name, files, reader, what is counted, expected count)
CHECKS = [
    ("ptb train", ["ptb/ptb.train.txt"], lambda p: data.read_text(p), "tokens", 929_589),
    ("ptb valid", ["ptb/ptb.valid.txt"], lambda p: data.read_text(p), "tokens", 73_760),
    ("ewt train", ["ud_english_ewt/en_ewt-ud-train.conllu"], data.read_conllu, "words", 204_577),
    ("ewt dev", ["ud_english_ewt/en_ewt-ud-dev.conllu"], data.read_conllu, "words", 25_147),
    ("ewt train", ["ud_english_ewt/en_ewt-ud-train.conllu"], data.read_conllu, "sentences",
     12_544),
    ("conll2003 train", ["conll2003/eng.train"], data.read_conll, "sentences", 14_041),
    ("conll2003 dev", ["conll2003/eng.testa"], data.read_conll, "sentences", 3_250),
    ("sst train 5-class", ["sst/train.txt"], lambda p: data.read_sst(p, classes=5)[0],
     "sentences", 8_544),
    ("sst train binary", ["sst/train.txt"], lambda p: data.read_sst(p, classes=2)[0],
     "sentences", 6_920),
    ("sst dev 5-class", ["sst/dev.txt"], lambda p: data.read_sst(p, classes=5)[0],
     "sentences", 1_101),
    ("sst dev binary", ["sst/dev.txt"], lambda p: data.read_sst(p, classes=2)[0],
     "sentences", 872),
    ("multi30k train de-en", ["multi30k/train.de", "multi30k/train.en"], data.read_parallel,
     "pairs", 29_000),
    ("multi30k val de-en", ["multi30k/val.de", "multi30k/val.en"], data.read_parallel,
     "pairs", 1_014),
]


def count(result, what):
    if what == "tokens":
        return sum(len(s) for s in result)
    if what == "words":
        return sum(len(s["words"]) for s in result)
    return len(result)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get(data.DATA_ENV))
    args = parser.parse_args()
    if not args.data_dir:
        raise SystemExit(f"give --data-dir or set ${data.DATA_ENV}")
    print("| data | counted | read | expected | time |")
    print("|---|---|---|---|---|")
    for name, files, reader, what, expected in CHECKS:
        paths = [data.resolve(f, args.data_dir) for f in files]
        start = time.perf_counter()
        n = count(reader(*paths), what)
        seconds = time.perf_counter() - start
        mark = "✓" if n == expected else "✗"
        print(f"| {name} | {what} | {n:,} | {expected:,} {mark} | {seconds:.2f} s |")


if __name__ == "__main__":
    main()
