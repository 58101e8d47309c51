"""Each word's characters through the tagger's character BiLSTM, on JAX group by group: each
group of words runs only as far as its longest word.

A batch holds `max_word_length` (20) character slots for every word slot, and its sentences
are padded to their bucket's length with all-padding words. On UD English EWT's training
batches 39% of the word slots are padding and a real word has 4 characters, so one loop over
every slot for 20 steps runs 8x the steps the letters need (PyTorch's packed sequences skip
them: `benchmarks/peers_torch.py`).

So the words are sorted by length, longest first, and cut into groups of fixed sizes
(`GROUPS`: the longest eighth, the next eighth, the next quarter, the shorter half). Each group
runs at the narrowest width of `WIDTHS` (or the full one) that holds its longest word, chosen
at run time with `ops.switch`, so every shape stays static for XLA; a group of padding words
only gives zeros. On EWT the groups mostly take widths 20, 8, 8 and 4 or 0.

Every word still reads all its characters in both directions, and the masked loop keeps its
state over padding steps, so the result equals one loop over the full width (to rounding): a
faster schedule of the same computation. `benchmarks/character_groups.py` measures it: the
character encoder's training step 2.1-2.2x faster, compiling 7-9x longer.

The one loop runs instead
- on TensorFlow, whose XLA aborts compiling the `Case` op around these loops (TF 2.21,
  `Check failed: has_layout()`; nested `tf.cond`s took over 10 minutes to compile);
- for fewer than `MIN_WORDS` word slots, or a number unknown when tracing (a SavedModel's
  batch), where compiling 16 loops instead of one would not pay;
- in training with a cell variant that draws random masks (dropout, weight drop, zoneout), so
  that each batch draws its masks once.
"""

import keras
from keras import ops

from tasks.tokenizers import PAD_ID

GROUPS = (8, 4, 2)  # the groups end at n // 8, n // 4, n // 2 of the n sorted words, and n
WIDTHS = (0, 4, 8, 12)  # the narrower widths a group may take, besides the full one
MIN_WORDS = 256  # word slots (batch x sentence length) from which the groups run
RANDOM_OPTIONS = ("dropout", "recurrent_dropout", "weight_drop", "zoneout_h", "zoneout_c")


def word_characters(rnn, embedding, char_ids, training=False):
    """`(words, width)` character ids -> `(words, rnn output)`: `rnn(embedding(char_ids),
    mask=char_ids != PAD_ID)`, where it pays group by group (module docstring). `rnn` is a
    bidirectional kerasrnn stack that returns its last outputs."""
    x, mask = embedding(char_ids), ops.not_equal(char_ids, PAD_ID)
    n = char_ids.shape[0]
    if keras.backend.backend() == "tensorflow" or not isinstance(n, int) or n < MIN_WORDS \
            or (training and any(rnn.cell_kwargs.get(k, 0) for k in RANDOM_OPTIONS)):
        return rnn(x, mask=mask, training=training)
    return grouped(rnn, x, mask, training)


def grouped(rnn, x, mask, training=False):
    """`rnn(x, mask=mask)` for `x` (words, width, features), group by group: each group of the
    length-sorted words at the narrowest width that holds its longest word."""
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
    order = ops.argsort(-lengths)  # longest first
    x, mask, lengths = (ops.take(a, order, axis=0) for a in (x, mask, lengths))
    full, n = x.shape[1], x.shape[0]
    widths = [w for w in WIDTHS if w < full] + [full]
    size = rnn.compute_output_shape(x.shape)[-1]

    def branch(width):
        if width == 0:  # only padding words: the masked loop's output for them is zeros
            return lambda x, m: ops.zeros((x.shape[0], size), x.dtype)
        return lambda x, m: rnn(x[:, :width], mask=m[:, :width], training=training)

    bounds, outputs = [0] + [n // k for k in GROUPS] + [n], []
    for start, end in zip(bounds[:-1], bounds[1:]):
        longest = lengths[start] if end > start else 0  # sorted: the group's first word
        narrower = ops.sum(ops.cast(ops.less(ops.convert_to_tensor(widths[:-1]), longest),
                                    "int32"))  # the index of the narrowest width that holds it
        outputs.append(ops.switch(narrower, [branch(w) for w in widths], x[start:end],
                                  mask[start:end]))
    return ops.take(ops.concatenate(outputs, axis=0), ops.argsort(order), axis=0)
