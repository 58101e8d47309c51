"""Generation speed: the language model's tokens/s and the translator's sentences/s, from the
Keras model and from its SavedModel, on each backend.

    python benchmarks/generation.py                       # both backends, one table
    python benchmarks/generation.py --backends jax --rounds 5

The models have the tasks' `default` shapes and random weights (speed does not depend on what
they learnt): the language model 2 x 200 LSTM with tied embeddings over 10,000 words, the
translator a 256-unit bidirectional encoder, a 512-unit decoder with general attention and
8,000 words per language (word tokenization, over a made-up corpus). Prompts are 5 words, source
sentences 12. Each row times `--rounds` calls after one warm-up call (which compiles), keeps the
fastest, and counts what was really generated (a row may end early at [EOS]):

- language model, greedy, batch 1 and 64, up to `--max-length` new tokens: `model.generate`
  and the SavedModel's `generate` (exported with that `max_length`);
- translator, greedy and beam 5, 64 sentences: `model.translate` and the SavedModel's
  `translate` / `translate_beam`.
"""

import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from budget import backend_parser, per_backend  # noqa: E402

WORDS = 10_000


def fastest(fn, rounds):
    fn()  # compiles
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def language_model_rows(rounds, max_length, folder):
    import numpy as np
    import tensorflow as tf

    from tasks import export
    from tasks import language_model as lm
    from tasks.tokenizers import TextTokenizer, build_vocabulary

    words = [f"w{i}" for i in range(WORDS - 4)]
    model = lm.build_model(lm.PRESETS["default"],
                           TextTokenizer(build_vocabulary([words])), total_steps=1)
    model.build()
    rng = np.random.default_rng(0)
    path = export.export(model, os.path.join(folder, "lm"), max_length=max_length)
    served = export.load(path)
    rows = []
    for batch in (1, 64):
        prompts = [" ".join(rng.choice(words, 5)) for _ in range(batch)]

        def generated(texts):
            return sum(len(t.split()) - 5 for t in texts)

        seconds, out = fastest(lambda p=prompts: model.generate(p, max_length=max_length),
                               rounds)
        rows.append(("language model", f"greedy, batch {batch}", "Keras",
                     generated(out) / seconds, "tokens/s"))
        seconds, out = fastest(lambda p=prompts: served.generate(tf.constant(p)), rounds)
        texts = [t.decode() for t in out.numpy()]
        rows.append(("language model", f"greedy, batch {batch}", "SavedModel",
                     generated(texts) / seconds, "tokens/s"))
    return rows


def translator_rows(rounds, folder):
    import dataclasses

    import numpy as np
    import tensorflow as tf

    from tasks import export
    from tasks import translator as tr

    rng = np.random.default_rng(0)
    vocabulary = 8000

    def sentence(language, n=12):
        return " ".join(f"{language}{i}" for i in rng.integers(0, vocabulary, n))

    pairs = [(sentence("s"), sentence("t")) for _ in range(20_000)]
    config = dataclasses.replace(tr.PRESETS["default"], tokenization="word",
                                 vocabulary_size=vocabulary)
    model = tr.build_model(config, pairs)
    path = export.export(model, os.path.join(folder, "translator"))
    served = export.load(path)
    texts = [source for source, _ in pairs[:64]]
    rows = []
    for beam, endpoint in ((1, served.translate), (5, served.translate_beam)):
        search = "greedy" if beam == 1 else f"beam {beam}"
        seconds, _ = fastest(lambda b=beam: model.translate(texts, beam_size=b), rounds)
        rows.append(("translator", f"{search}, 64 sentences", "Keras", 64 / seconds,
                     "sentences/s"))
        seconds, _ = fastest(lambda e=endpoint: e(tf.constant(texts)), rounds)
        rows.append(("translator", f"{search}, 64 sentences", "SavedModel", 64 / seconds,
                     "sentences/s"))
    return rows


def child(args):
    with tempfile.TemporaryDirectory() as folder:
        rows = (language_model_rows(args.rounds, args.max_length, folder)
                + translator_rows(args.rounds, folder))
    print(json.dumps(rows))


def main():
    parser = backend_parser(__doc__)
    parser.add_argument("--max-length", type=int, default=50, help="LM tokens per prompt")
    args = parser.parse_args()
    if args.child:
        return child(args)
    results = per_backend(__file__, ["--rounds", args.rounds, "--max-length", args.max_length],
                          args.backends, args.default_malloc)
    backends = list(results)
    print("| model | decoding | from | " + " | ".join(backends) + " |")
    print("|---|---|---|" + "---:|" * len(backends))
    for i, (model, decoding, source, _, unit) in enumerate(results[backends[0]]):
        speeds = [f"{results[b][i][3]:,.0f} {unit}" for b in backends]
        print(f"| {model} | {decoding} | {source} | " + " | ".join(speeds) + " |")


if __name__ == "__main__":
    main()
