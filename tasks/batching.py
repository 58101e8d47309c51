"""Batches for `model.fit`: length-bucketed padded batches (few distinct shapes, so XLA and
JAX compile few programs) and truncated-BPTT streams.

    bucketed_dataset(ids, targets, batch_size, ...)     length-bucketed, padded, shuffled
    bucket_by_length(ds, lengths, batch_size, ...)      the bucketing step for any tf.data
    padded_width(n)                                     the width a batch of longest n gets
    pad_width(x, value)                                 pad a batch's width to it
    pad_rows(x, rows, value)                            pad a last, short batch to full size
    pad_to_multiple(x, multiple)                        round a width up to a multiple
    round_up(n, multiple)                               the width it rounds to
    bptt_batches(ids, batch_size, num_steps)            Zaremba-style truncated-BPTT stream
"""

import bisect

import numpy as np
import tensorflow as tf

from tasks.tokenizers import PAD_ID


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


# Widths batches are padded to: multiples of 8 up to 64 (most sentences), then each power of
# two and the midpoint 1.5x below it (96, 128, 192, 256, ...). Each distinct batch shape
# compiles the train step anew, and on XLA:CPU every compiled program holds memory maps for
# its code (a tagger's train step ~2,800 of the 65,530 a Linux process may have): a grid that
# grows geometrically keeps long sentences to a few widths, at most a third of each padding.
WIDTHS = tuple(range(8, 65, 8)) + tuple(w for k in range(6, 24)
                                        for w in (3 << (k - 1), 1 << (k + 1)))


def padded_width(n):
    """The width (from `WIDTHS`) a batch whose longest sequence has `n` steps is padded to:
    at least 8, and a multiple of 8 beyond the grid."""
    i = bisect.bisect_left(WIDTHS, n)
    return WIDTHS[i] if i < len(WIDTHS) else round_up(n, 8)


def pad_width(x, value=0):
    """Pads axis 1 of a (batch, T, ...) tensor with `value` up to `padded_width(T)`, in a
    tf.data pipeline (so that few batch shapes compile)."""
    width = tf.shape(x)[1]
    grid = tf.constant(WIDTHS, tf.int32)
    index = tf.minimum(tf.searchsorted(grid, width[None], side="left")[0], len(WIDTHS) - 1)
    target = tf.maximum(grid[index], tf.maximum(1, (width + 7) // 8) * 8)
    paddings = [[0, 0], [0, target - width]] + [[0, 0]] * (len(x.shape) - 2)
    return tf.pad(x, paddings, constant_values=value)


def pad_rows(x, rows, value=0):
    """Pads axis 0 of a batch with `value` up to `rows`: a bucket's last, short batch then has
    the full batch's shape and compiles nothing new. Only for per-token targets weighted by
    the padding mask (rows of padding weigh nothing)."""
    paddings = [[0, rows - tf.shape(x)[0]]] + [[0, 0]] * (len(x.shape) - 1)
    return tf.pad(x, paddings, constant_values=value)


def pad_to_multiple(x, multiple=8, value=0):
    """Pads axis 1 of a (batch, T, ...) tensor with `value` up to a multiple of `multiple`
    (at least one step). In tf.data pipelines: each distinct batch width compiles the train
    step again, so rounding widths keeps the number of compiled programs small."""
    width = tf.shape(x)[1]
    target = tf.maximum(1, (width + multiple - 1) // multiple) * multiple
    paddings = [[0, 0], [0, target - width]] + [[0, 0]] * (len(x.shape) - 2)
    return tf.pad(x, paddings, constant_values=value)


def round_up(n, multiple=8):
    """The smallest multiple of `multiple` that holds `n` steps (at least one multiple): the
    width batches are padded to, so that few shapes compile."""
    return max(1, -(-n // multiple)) * multiple


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
