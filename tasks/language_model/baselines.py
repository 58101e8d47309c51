"""The seeds' baselines for language modelling, on the same data and vocabulary as the RNNs.

    KneserNeyLM(order)    count-based n-gram LM, interpolated Kneser-Ney smoothing
    window_model(...)     fixed-window neural LM (Bengio et al. 2003): the previous n-1 tokens'
                          embeddings, concatenated -> tanh layer -> softmax
    compare(config, train_lines, dev_lines)   the table: n-gram vs window vs SimpleRNN vs GRU
                          vs LSTM (dev perplexity, parameters, training seconds; an
                          n-gram model's "parameters" are its stored counts)
"""

import collections
import dataclasses
import math
import time

import keras
import numpy as np

from tasks.tokenizers import EOS_ID


class KneserNeyLM:
    """Interpolated Kneser-Ney (Chen & Goodman 1999), one discount per order, D = n1/(n1+2 n2).

        P_k(w | h) = max(c_k(h w) - D_k, 0) / c_k(h)  +  D_k · N1+(h •) / c_k(h) · P_{k-1}(w | h')
        P_0(w)     = 1 / V

    where h' drops the oldest token of h, c_n are raw counts, c_k (k < n) continuation counts
    (the number of distinct tokens seen before h w), and a context never seen backs off fully
    to P_{k-1}. Probabilities sum to 1 over the vocabulary for every context.

    Args:
        order: n (3 = trigram).
        vocabulary_size: V.
    """

    def __init__(self, order=3, vocabulary_size=None):
        if order < 1:
            raise ValueError(f"`order` must be at least 1. Received: order={order}")
        self.order, self.vocabulary_size = order, vocabulary_size

    def fit(self, ids):
        ids = [EOS_ID] * (self.order - 1) + [int(i) for i in ids]
        self.vocabulary_size = self.vocabulary_size or max(ids) + 1
        n = self.order
        counts = [collections.Counter() for _ in range(n + 1)]  # counts[k]: k-grams
        counts[n].update(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
        for k in range(n - 1, 0, -1):  # continuation counts: distinct left extensions
            counts[k].update(gram[1:] for gram in counts[k + 1])
        self.counts = counts
        self.context_total = [collections.Counter() for _ in range(n + 1)]
        self.context_types = [collections.Counter() for _ in range(n + 1)]
        self.discount = [0.0] * (n + 1)
        for k in range(1, n + 1):
            for gram, c in counts[k].items():
                self.context_total[k][gram[:-1]] += c
                self.context_types[k][gram[:-1]] += 1
            n1 = sum(1 for c in counts[k].values() if c == 1)
            n2 = sum(1 for c in counts[k].values() if c == 2)
            self.discount[k] = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        return self

    def probability(self, word, context):
        """P(word | the last order-1 tokens of context)."""
        context = tuple(context)[-(self.order - 1):] if self.order > 1 else ()
        p = 1.0 / self.vocabulary_size
        for k in range(1, self.order + 1):  # from unigrams up, each interpolating the last
            h = context[len(context) - (k - 1):] if k > 1 else ()
            total = self.context_total[k].get(h, 0)
            if total:
                d = self.discount[k]
                c = self.counts[k].get(h + (word,), 0)
                p = max(c - d, 0.0) / total + d * self.context_types[k][h] / total * p
        return p

    def distribution(self, context):
        return np.array([self.probability(w, context) for w in range(self.vocabulary_size)])

    def perplexity(self, ids):
        ids = [EOS_ID] * (self.order - 1) + [int(i) for i in ids]
        k = self.order - 1
        logp = [math.log(self.probability(ids[i], ids[i - k : i])) for i in range(k, len(ids))]
        return math.exp(-sum(logp) / len(logp))

    def num_parameters(self):
        return sum(len(c) for c in self.counts[1:])


def windows(ids, n):
    """(contexts (N, n-1), next tokens (N,)) for every position; the start sees [EOS]s."""
    ids = np.concatenate([np.full(n - 1, EOS_ID, "int32"), np.asarray(ids, "int32")])
    contexts = np.lib.stride_tricks.sliding_window_view(ids[:-1], n - 1)
    return contexts.astype("int32"), ids[n - 1 :]


def window_model(vocabulary_size, n=5, embed_dim=128, units=256, dropout=0.0):
    """Bengio et al.'s fixed-window LM: Embedding -> flatten -> tanh Dense -> softmax logits."""
    context = keras.Input((n - 1,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocabulary_size, embed_dim)(context)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(units, activation="tanh")(x)
    x = keras.layers.Dropout(dropout)(x)
    return keras.Model(context, keras.layers.Dense(vocabulary_size)(x), name="window_lm")


def compare(config, train_lines, dev_lines, order=3, window=5, verbose=0):
    """Trains every model of the table on the same token streams; returns a list of rows."""
    import keras_hub

    from tasks.language_model import recipe as lm

    tokenizer = lm.make_tokenizer(train_lines, config.level, config.max_vocabulary)
    train_ids = lm.token_stream(tokenizer, train_lines, config.max_train_tokens)
    dev_ids = lm.token_stream(tokenizer, dev_lines)
    V = tokenizer.vocabulary_size
    rows = []

    start = time.perf_counter()
    kn = KneserNeyLM(order, V).fit(train_ids)
    rows.append({"model": f"{order}-gram, Kneser-Ney", "perplexity": kn.perplexity(dev_ids),
                 "parameters": kn.num_parameters(), "seconds": time.perf_counter() - start})

    keras.utils.set_random_seed(config.seed)
    model = window_model(V, window, config.embed_dim, config.units, config.output_dropout)
    model.compile(lm.make_optimizer(config),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras_hub.metrics.Perplexity(from_logits=True)])
    x, y = windows(train_ids, window)
    start = time.perf_counter()
    model.fit(x, y, batch_size=config.batch_size * config.num_steps, epochs=config.epochs,
              verbose=verbose)
    seconds = time.perf_counter() - start
    dx, dy = windows(dev_ids, window)
    ppl = model.evaluate(dx, dy, batch_size=1024, verbose=0, return_dict=True)["perplexity"]
    rows.append({"model": f"fixed window (n={window})", "perplexity": ppl,
                 "parameters": model.count_params(), "seconds": seconds})

    for cell, name in (("simple_rnn", "SimpleRNN"), ("gru", "GRU"), ("lstm", "LSTM")):
        cell_config = dataclasses.replace(config, cell=cell)
        _, _, results = lm.train(cell_config, train_lines, dev_lines, verbose=verbose,
                                 tokenizer=tokenizer)
        rows.append({"model": f"{name} ({config.num_layers} x {config.units})",
                     "perplexity": results["perplexity"], "parameters": results["parameters"],
                     "seconds": results["train_seconds"]})
    return rows


def table(rows):
    lines = ["| model | dev perplexity | parameters | training s |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['perplexity']:.1f} | {r['parameters']:,} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines)
