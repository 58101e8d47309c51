"""`TokenPreprocessor`: raw strings -> token ids and padding mask with TF ops, the same in
tf.data and in a SavedModel; a subclass says what a token is (`tokens`)."""

import tensorflow as tf

from tasks.batching import bucket_by_length, pad_width
from tasks.task import as_list
from tasks.tokenizers import PAD_ID, TextTokenizer


class TokenPreprocessor:
    """Strings -> `{"token_ids": (batch, T), "padding_mask": (batch, T)}`.

    A subclass implements `tokens(texts) -> ragged (batch, None) strings` (normalized and
    truncated) and `get_config`; ids come from `tokenizer` (a `TextTokenizer`), `[UNK]` for
    unknown tokens. An empty text gives one padding step (the model then predicts from no
    evidence: its bias).
    """

    tokenizer: TextTokenizer

    def tokens(self, texts):
        raise NotImplementedError

    def features(self, tokens):
        """(batch, T) tokens, "" as padding -> the model's inputs (at least one step)."""
        if isinstance(tokens, tf.RaggedTensor):
            tokens = tokens.to_tensor("")
        tokens = tf.pad(tokens, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(tokens)[1])]])
        mask = tf.not_equal(tokens, "")
        ids = tf.where(mask, self.tokenizer.lookup(tokens), PAD_ID)
        return {"token_ids": ids, "padding_mask": mask}

    def __call__(self, texts):
        return self.features(self.tokens(texts))

    def dataset(self, texts, label_ids=None, batch_size=32, shuffle=False, seed=0,
                bucket=True, boundaries=(8, 16, 24, 32, 48, 64, 128)):
        """Raw strings (and label ids) -> batches of `(features[, label ids])`,
        length-bucketed (which reorders the texts) or, with `bucket=False`, in order, each
        batch padded to its longest text rounded up to `tasks.batching.WIDTHS` (so that few
        batch shapes compile)."""
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in as_list(texts)]
        if not texts:
            raise ValueError("`texts` is empty: nothing to batch.")
        tokens = self.tokens(tf.constant(texts))
        parts = [tokens] if label_ids is None else [tokens, label_ids]
        if label_ids is not None and len(label_ids) != len(texts):
            raise ValueError(f"{len(label_ids)} labels for {len(texts)} texts.")
        ds = tf.data.Dataset.from_tensor_slices(tuple(parts))
        ds = ds.map(lambda t, *y: (t.to_tensor("") if isinstance(t, tf.RaggedTensor) else t, *y))
        if shuffle:
            ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        padding = ("", 0)[: len(parts)]
        if bucket:
            ds = bucket_by_length(ds, list(tokens.row_lengths().numpy()), batch_size,
                                  boundaries, padding_values=padding)
        else:
            ds = ds.padded_batch(batch_size, padding_values=padding)
        return ds.map(lambda t, *y: (self.features(pad_width(t, "")), *y)).prefetch(
            tf.data.AUTOTUNE)

    @property
    def vocabulary(self):
        return self.tokenizer.vocabulary

    @property
    def resources(self):
        return self.tokenizer.resources

    @classmethod
    def from_config(cls, config):
        return cls(**config)
