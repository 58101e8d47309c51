"""The tagger's character BiLSTM run group by group, each group of words only as far as its
longest word (`tasks.tagger.characters`), against one loop over every word slot for all
`max_word_length` steps: the change behind the tagger's JAX speed in issue 19.

    python benchmarks/character_groups.py                                 # made-up corpus
    python benchmarks/character_groups.py --conllu en_ewt-ud-train.conllu  # real sentences

The `pos` preset's batches, from the task's own pipeline: the peers benchmark's made-up corpus
(words of 1-12 letters) or a CoNLL-U file's sentences. "letters / steps" is the share of the
one loop's steps that hold a letter. Measured is the training step of the character encoder
alone (embedding, character BiLSTM, a dense layer, mean squared error, Adam, XLA): the fastest
of `--rounds` rounds of `--steps` batches, after a first round that compiles (printed too).
The two encoders' outputs are compared first. JAX only by default: TensorFlow's XLA aborts
compiling the `Case` op around the loops (see the module).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from budget import backend_parser, per_backend  # noqa: E402


def _encoder(chars, groups):
    import keras
    from keras import ops

    from tasks.cells import stack_class
    from tasks.tagger import PRESETS
    from tasks.tagger.characters import grouped
    from tasks.tokenizers import PAD_ID

    class Encoder(keras.Model):
        def __init__(self):
            super().__init__()
            config = PRESETS["pos"]
            self.embedding = keras.layers.Embedding(chars, config.char_dim)
            self.rnn = stack_class(config.cell)(config.char_units, bidirectional=True)
            self.dense = keras.layers.Dense(1)
            # Built here, before a branch of `ops.switch` would build them.
            self.embedding.build((None, None))
            self.rnn.build((None, None, config.char_dim))
            self.dense.build((None, 2 * config.char_units))

        def call(self, ids):
            x, mask = self.embedding(ids), ops.not_equal(ids, PAD_ID)
            return self.dense(grouped(self.rnn, x, mask) if groups else self.rnn(x, mask=mask))

    model = Encoder()
    model.compile("adam", "mse", jit_compile=True)
    return model


def _batches(conllu, steps):
    import numpy as np

    from tasks import tagger as tg

    if conllu:
        from tasks.data import read_conllu

        records = read_conllu(conllu)
        sentences, tags = [r["words"] for r in records], [r["upos"] for r in records]
    else:
        import peers

        rng = np.random.default_rng(0)
        sentences = peers._sentences(rng, peers._words(rng, 20_000, capitals=True),
                                     steps * 32, 4, 40)
        tags = [["X"] * len(s) for s in sentences]
    config = tg.PRESETS["pos"]
    preprocessor = tg.make_preprocessor(sentences, config)
    model = tg.build_model(config, preprocessor, sorted({t for ts in tags for t in ts}))
    data = model.raw_dataset(sentences, tags, config.batch_size, shuffle=True).take(steps)
    ids = [np.reshape(b[0]["char_ids"], (-1, config.max_word_length)) for b in data]
    return ids, len(preprocessor.chars)


def measure(conllu, steps, rounds):
    import keras
    import numpy as np

    batches, chars = _batches(conllu, steps)
    real = sum(int((b != 0).sum()) for b in batches) / sum(b.size for b in batches)
    keras.utils.set_random_seed(0)
    one, groups = _encoder(chars, False), _encoder(chars, True)
    groups.set_weights(one.get_weights())
    diff = max(float(np.abs(one.predict_on_batch(b) - groups.predict_on_batch(b)).max())
               for b in batches)
    targets = [np.zeros((len(b), 1), "float32") for b in batches]
    best, first = {}, {}
    for r in range(rounds + 1):
        for name, model in (("one", one), ("groups", groups)):
            start = time.perf_counter()
            for b, t in zip(batches, targets):
                model.train_on_batch(b, t)
            seconds = time.perf_counter() - start
            if r:
                best[name] = min(best.get(name, seconds), seconds)
            else:
                first[name] = seconds
    return {"real": real, "diff": diff, "best": best, "first": first}


def main():
    parser = backend_parser(__doc__)
    parser.set_defaults(backends=["jax"])
    parser.add_argument("--steps", type=int, default=20, help="batches per round")
    parser.add_argument("--conllu", default="", help="a CoNLL-U file (default: made-up words)")
    args = parser.parse_args()
    if args.child:
        import json

        print(json.dumps(measure(args.conllu, args.steps, args.rounds)))
        return
    results = per_backend(__file__, ["--rounds", args.rounds, "--steps", args.steps,
                                     "--conllu", args.conllu], args.backends,
                          args.default_malloc)
    print("| backend | letters / steps | one loop, s | groups, s | one / groups | first round, "
          "one / groups | max difference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for backend, r in results.items():
        print(f"| {backend} | {r['real']:.0%} | {r['best']['one']:.2f} | "
              f"{r['best']['groups']:.2f} | {r['best']['one'] / r['best']['groups']:.2f}× | "
              f"{r['first']['one']:.0f} / {r['first']['groups']:.0f} s | {r['diff']:.1e} |")


if __name__ == "__main__":
    main()
