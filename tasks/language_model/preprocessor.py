"""`LanguageModelPreprocessor`: raw text -> id streams and training batches, TF ops."""

import keras
import numpy as np
import tensorflow as tf

from tasks.batching import bptt_batches, bucketed_dataset
from tasks.tokenizers import EOS_ID, PAD_ID, TextTokenizer, build_vocabulary

BATCHINGS = ("bptt", "sentences")


@keras.saving.register_keras_serializable(package="kerasrnn")
class LanguageModelPreprocessor:
    """Raw text -> token ids for a language model (word or character level).

    A text starts where the previous one ended, as in the training stream: after `[EOS]`.
    So `encode` puts `[EOS]` first, and `stream` puts `[EOS]` after every line (PTB's
    `<eos>`).

    Args:
        tokenizer: a `tasks.tokenizers.TextTokenizer` (or its config); its vocabulary is the
            model's.
    """

    def __init__(self, tokenizer):
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        self.tokenizer = tokenizer

    @classmethod
    def learn(cls, lines, level="word", max_vocabulary=0, reverse=False):
        """The vocabulary of the training lines (words or characters), specials first;
        `reverse`: a backward model's, reading each line right to left."""
        split = str.split if level == "word" else list
        vocabulary = build_vocabulary((split(line) for line in lines),
                                      max_size=max_vocabulary or None)
        return cls(TextTokenizer(vocabulary, level=level, reverse=reverse))

    @property
    def vocabulary_size(self):
        return self.tokenizer.vocabulary_size

    @property
    def resources(self):
        return self.tokenizer.resources

    def encode(self, texts):
        """Raw strings -> lists of ids, each starting with [EOS]."""
        ragged = self.tokenizer(tf.constant(list(texts)))
        return [[EOS_ID] + row for row in ragged.to_list()]

    def stream(self, lines, max_tokens=0):
        """All lines as one id stream, [EOS] after each non-empty line (PTB's `<eos>`)."""
        lines = [line for line in lines if line.strip()]
        if not lines:
            raise ValueError("no text: every line is empty")
        ragged = self.tokenizer(tf.constant(lines))
        ragged = tf.concat([ragged, tf.fill([ragged.nrows(), 1], EOS_ID)], axis=1)
        ids = ragged.flat_values.numpy().astype("int32")
        return ids[:max_tokens] if max_tokens else ids

    @staticmethod
    def dataset(ids, batching="bptt", batch_size=20, num_steps=20, shuffle=False, seed=0):
        """BPTT: contiguous (batch, num_steps) windows in order, rows continuing across
        batches. Sentences: [EOS]-started lines split at [EOS], length-bucketed and padded,
        the padding mask as `sample_weight`."""
        if batching == "bptt":
            x, y = bptt_batches(ids, batch_size, num_steps)
            return tf.data.Dataset.from_tensor_slices(({"token_ids": x}, y))
        if batching != "sentences":
            raise ValueError(f"`batching` must be one of {BATCHINGS}. Received: "
                             f"batching={batching!r}")
        ends = np.flatnonzero(ids == EOS_ID)
        sentences = np.split(ids, ends + 1)[:-1] if len(ends) else [ids]
        inputs = [[EOS_ID] + list(s[:-1]) for s in sentences]
        targets = [list(s) for s in sentences]
        return bucketed_dataset(inputs, targets, batch_size=batch_size, shuffle=shuffle,
                                seed=seed)

    def get_config(self):
        return {"tokenizer": keras.saving.serialize_keras_object(self.tokenizer)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def pad(rows, length=None):
    """Id lists -> (ids, mask) NumPy arrays padded to `length` (default: the longest)."""
    length = length or max(len(r) for r in rows)
    ids = np.full((len(rows), length), PAD_ID, "int32")
    mask = np.zeros((len(rows), length), bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, True
    return ids, mask
