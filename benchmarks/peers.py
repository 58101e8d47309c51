"""Each task's training step against the same model written in PyTorch
(`benchmarks/peers_torch.py`): tokens/s and the ratio, on each backend.

    pip install torch==2.13.0                # the CPU build; never a dependency of kerasrnn
    python benchmarks/peers.py               # both backends, all tasks
    python benchmarks/peers.py --backends jax --tasks language_model tagger_ner --rounds 5

Both sides train on the same batches: the Keras task builds them with its own pipeline
(`raw_dataset`, or the language model's BPTT batches) from a made-up corpus, and torch gets
the same arrays. The Keras side is the task model of the preset below with its `compile()`
defaults (an XLA-compiled step where the task compiles one) and `train_on_batch`; the torch
side is the same architecture, loss, optimizer and clipping in eager PyTorch, packing padded
batches. Tokens/s counts real (unpadded) tokens: the language model's batch x steps; a
sentence's words for the tagger and the classifier; source plus target tokens for the
translator.

Rows (the tasks' presets; the corpus's sizes follow the datasets they are trained on):
- language_model: `default` (2 x 200 LSTM, tied, 10,000 words, 20 x 20 BPTT batches, SGD);
- tagger_pos / tagger_ner: `pos` (softmax) / `ner` (CRF): word, casing and character-BiLSTM
  vectors, 2 x 200 BiLSTM; 20,000 words of 1-12 letters, sentences of 4-40 words, batch 32;
- sentiment: `binary` (300-dim embeddings, one 150-unit BiLSTM, max pooling, weight
  averaging); 16,000 words, texts of 2-50 words, batch 64;
- translator: `default` with word tokenization (256-unit BiLSTM encoder, 512-unit decoder,
  general attention, input feeding, 8,000 words per language); sentences of 6-24 words,
  batch 64.

Each side runs `--steps` batches once (which compiles every batch shape on the Keras side)
and then `--rounds` times, and keeps its fastest round (the machine is shared and has slow
phases). Torch runs in a process of its own after the Keras ones, on the batches the first
backend's process wrote: in one process with TensorFlow, torch's steps ran up to 2x slower.
With `--ptb-epoch`, one epoch of the `small` preset on the packaged PTB (Zaremba et al.'s
small shape, pytorch/examples' `word_language_model`) and its dev perplexity, on each side.
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from budget import backend_parser, child_env, per_backend  # noqa: E402

TASKS = ("language_model", "tagger_pos", "tagger_ner", "sentiment", "translator")


def _words(rng, n, prefix="", capitals=False):
    """n distinct made-up words of 1-12 letters (some capitalized), or `prefix` + a number."""
    import numpy as np

    if prefix:
        return [f"{prefix}{i}" for i in range(n)]
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = set()
    while len(words) < n:
        word = "".join(rng.choice(letters, rng.integers(1, 13)))
        words.add(word.title() if capitals and rng.random() < 0.2 else word)
    return sorted(words)


def _sentences(rng, words, count, shortest, longest):
    """`count` sentences of Zipf-distributed words, uniform lengths in [shortest, longest]."""
    import numpy as np

    ranks = np.minimum(rng.zipf(1.2, size=count * longest), len(words)) - 1
    out, k = [], 0
    for n in rng.integers(shortest, longest + 1, size=count):
        out.append([words[i] for i in ranks[k : k + n]])
        k += n
    return out


def _spec(config, task, **sizes):
    """What the torch side needs: the preset's fields, the task's name and its sizes."""
    return {**dataclasses.asdict(config), "task": task, **sizes}


def _real(batches, mask):
    return sum(int(b[0][mask].sum()) for b in batches)


def _numpy(batch):
    import numpy as np
    import tensorflow as tf

    return tf.nest.map_structure(np.asarray, tuple(batch))


def language_model(rng, steps):
    from tasks import language_model as lm
    from tasks.tokenizers import TextTokenizer, build_vocabulary

    config = lm.PRESETS["default"]
    words = _words(rng, 10_000 - 4, prefix="w")
    model = lm.build_model(config, TextTokenizer(build_vocabulary([words])), total_steps=1000)
    lines = [" ".join(s) for s in _sentences(rng, words, 2000, 5, 40)]
    ids = lm.token_stream(model.tokenizer, lines)
    batches = [_numpy(b) for b in lm.make_dataset(ids, config).take(steps)]
    tokens = sum(b[0]["token_ids"].size for b in batches)
    return model, _spec(config, "language_model", vocab=model.tokenizer.vocabulary_size), \
        batches, tokens


def _tagger(rng, steps, preset):
    from tasks import tagger as tg
    from tasks.tagger.preprocessor import CASES

    config = tg.PRESETS[preset]
    sentences = _sentences(rng, _words(rng, 20_000, capitals=True), steps * 32, 4, 40)
    if preset == "ner":  # IOBES over CoNLL's four types: 17 tags
        names = ["O"] + [f"{p}-{t}" for t in ("PER", "LOC", "ORG", "MISC") for p in "BIES"]
    else:  # the 17 universal POS tags
        names = [f"T{i}" for i in range(17)]
    tags = [[names[i] for i in rng.integers(0, len(names), len(s))] for s in sentences]
    preprocessor = tg.make_preprocessor(sentences, config)
    model = tg.build_model(config, preprocessor, names)
    data = model.raw_dataset(sentences, tags, config.batch_size, shuffle=True)
    batches = [_numpy(b) for b in data.take(steps)]
    spec = _spec(config, "tagger", words=len(preprocessor.words), chars=len(preprocessor.chars),
                 cases=len(CASES), tags=len(names))
    return model, spec, batches, _real(batches, "padding_mask")


def tagger_pos(rng, steps):
    return _tagger(rng, steps, "pos")


def tagger_ner(rng, steps):
    return _tagger(rng, steps, "ner")


def sentiment(rng, steps):
    from tasks import sentiment as st
    from tasks.classification import training

    config = st.PRESETS["binary"]
    texts = [" ".join(s) for s in _sentences(rng, _words(rng, 16_000), steps * 64, 2, 50)]
    labels = list(st.SST_LABELS[2])
    y = [labels[i] for i in rng.integers(0, 2, len(texts))]
    preprocessor = st.make_preprocessor(texts, config)
    model = training.build_model(config, preprocessor, labels)
    data = model.raw_dataset(texts, y, config.batch_size, shuffle=True)
    batches = [_numpy(b) for b in data.take(steps)]
    spec = _spec(config, "sentiment", vocab=len(preprocessor.vocabulary), labels=len(labels))
    return model, spec, batches, _real(batches, "padding_mask")


def translator(rng, steps):
    from tasks import translator as tr

    config = dataclasses.replace(tr.PRESETS["default"], tokenization="word",
                                 vocabulary_size=8000)
    source, target = _words(rng, 8000, prefix="s"), _words(rng, 8000, prefix="t")
    pairs = [(" ".join(s), " ".join(t)) for s, t in zip(
        _sentences(rng, source, steps * 64, 6, 24), _sentences(rng, target, steps * 64, 6, 24))]
    model = tr.build_model(config, pairs)
    batches = [_numpy(b) for b in model.raw_dataset(pairs, shuffle=True).take(steps)]
    spec = _spec(config, "translator", source_vocab=model.source_tokenizer.vocabulary_size,
                 target_vocab=model.target_tokenizer.vocabulary_size)
    tokens = _real(batches, "encoder_padding_mask") + _real(batches, "decoder_padding_mask")
    return model, spec, batches, tokens


def measure(task, steps, rounds, dump):
    """Keras tokens/s of the fastest of `rounds` passes over the task's batches (after one
    that compiles); `dump[task]` gets what the torch side needs."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model, spec, batches, tokens = globals()[task](np.random.default_rng(0), steps)
    best = float("inf")
    for r in range(rounds + 1):
        start = time.perf_counter()
        for batch in batches:
            model.train_on_batch(*batch)
        if r:
            best = min(best, time.perf_counter() - start)
    dump[task] = (spec, batches, tokens)
    return tokens / best


def ptb_epoch(dump):
    """One epoch of the `small` preset (Zaremba et al.'s small shape: 2 x 200 LSTM, 20 steps,
    batch 20, SGD) on the packaged PTB, then the dev perplexity: (seconds, perplexity). The
    seconds include compiling and the dev pass. `dump` gets the same batches for torch."""
    from tasks import language_model as lm

    config = dataclasses.replace(lm.PRESETS["small"], epochs=1)
    train_lines, dev_lines = lm.load_corpus()
    model, _, results = lm.train(config, train_lines, dev_lines, verbose=0)
    dump["ptb_epoch"] = (_spec(config, "language_model", vocab=model.tokenizer.vocabulary_size),
                         *([_numpy(b) for b in lm.make_dataset(
                             lm.token_stream(model.tokenizer, lines), config)]
                           for lines in (train_lines, dev_lines)))
    return results["train_seconds"], results["perplexity"]


def child(args):
    dump = {}
    results = {task: measure(task, args.steps, args.rounds, dump) for task in args.tasks}
    if args.ptb_epoch:
        results["ptb_epoch"] = ptb_epoch(dump)
    with open(os.path.join(args.dump, f"{os.environ['KERAS_BACKEND']}.pkl"), "wb") as f:
        pickle.dump(dump, f)
    print(json.dumps(results))


def torch_results(path, rounds, default_malloc=False):
    """peers_torch.py's results on the batches in `path`, in a process of its own (malloc
    set as for the Keras side); None without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    script = os.path.join(os.path.dirname(__file__), "peers_torch.py")
    out = subprocess.run([sys.executable, script, path, "--rounds", str(rounds)],
                         env=child_env(default_malloc), capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"torch failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = backend_parser(__doc__)
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--steps", type=int, default=20, help="batches per round")
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    parser.add_argument("--ptb-epoch", action="store_true",
                        help="also one PTB epoch of the small preset, and torch's (~10 min)")
    args = parser.parse_args()
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory() as folder:
        results = per_backend(__file__, ["--rounds", args.rounds, "--steps", args.steps,
                                         "--dump", folder, "--tasks", *args.tasks]
                              + ["--ptb-epoch"] * args.ptb_epoch, args.backends,
                              args.default_malloc)
        # The batches are the same on every backend (the tasks' pipelines are tf.data).
        theirs = torch_results(os.path.join(folder, f"{args.backends[0]}.pkl"), args.rounds,
                               args.default_malloc)
    print("| task | backend | kerasrnn tokens/s | torch tokens/s | kerasrnn / torch |")
    print("|---|---|---:|---:|---:|")
    for task in args.tasks:
        speed = theirs[task] if theirs else None
        for backend, result in results.items():
            ours = result[task]
            ratio = f"{ours / speed:.2f}×" if speed else "—"
            print(f"| {task} | {backend} | {ours:,.0f} | "
                  f"{f'{speed:,.0f}' if speed else '—'} | {ratio} |")
    if args.ptb_epoch:
        print("\n| PTB epoch, small preset | seconds | dev perplexity |")
        print("|---|---:|---:|")
        rows = [(f"kerasrnn, {b}", r["ptb_epoch"]) for b, r in results.items()]
        rows += [("torch", theirs["ptb_epoch"])] if theirs else []
        for name, (seconds, perplexity) in rows:
            print(f"| {name} | {seconds:.0f} | {perplexity:.1f} |")


if __name__ == "__main__":
    main()
