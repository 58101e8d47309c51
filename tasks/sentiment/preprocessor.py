"""`SentimentPreprocessor`: raw strings -> word ids, PTB-style splitting, TF ops."""

import keras
import tensorflow as tf

from tasks.batching import bucket_by_length
from tasks.task import as_list
from tasks.tokenizers import PAD_ID, TextTokenizer, build_vocabulary, split_punctuation


@keras.saving.register_keras_serializable(package="kerasrnn")
class SentimentPreprocessor:
    """Raw strings -> `{"token_ids": (batch, T), "padding_mask": (batch, T)}` with TF ops.

    Text is split as the Penn Treebank (and so SST) does: punctuation and the clitics "n't",
    "'s", "'re", "'ve", "'ll", "'d", "'m" become tokens of their own, so "It's great!" and the
    treebank's "it 's great !" give the same ids. Unknown words map to `[UNK]`; texts longer
    than `max_length` tokens lose their end (`truncate="tail"`) or their start ("head"). An
    empty text gives one padding step (the model then predicts from no evidence: its bias).

    Args:
        vocabulary: word list starting with the specials (`tasks.tokenizers.build_vocabulary`).
        lowercase, max_length, truncate: as above.
    """

    def __init__(self, vocabulary, lowercase=True, max_length=256, truncate="tail"):
        if truncate not in ("tail", "head"):
            raise ValueError(f"`truncate` must be 'tail' or 'head'. Received: "
                             f"truncate={truncate!r}")
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"`max_length` must be a positive integer. Received: "
                             f"max_length={max_length!r}")
        self.tokenizer = TextTokenizer(vocabulary, lowercase=lowercase)
        self.max_length, self.truncate = max_length, truncate

    @classmethod
    def learn(cls, texts, lowercase=True, max_length=256, truncate="tail", min_count=1):
        """The vocabulary of the training texts' words (seen `min_count` times or more)."""
        splitter = cls(build_vocabulary([]), lowercase, max_length, truncate)
        tokens = splitter.tokens(tf.constant(list(texts))).to_list()
        words = build_vocabulary(([w.decode().lower() if lowercase else w.decode()
                                   for w in row] for row in tokens), min_count=min_count)
        return cls(words, lowercase, max_length, truncate)

    def tokens(self, texts):
        """(batch,) strings -> ragged (batch, None) normalized, truncated tokens."""
        tokens = self.tokenizer.split(split_punctuation(texts))
        if self.truncate == "tail":
            return tokens[..., : self.max_length]
        return tokens[..., -self.max_length:]

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
        batch padded to its longest text."""
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
        return ds.map(lambda t, *y: (self.features(t), *y)).prefetch(tf.data.AUTOTUNE)

    @property
    def vocabulary(self):
        return self.tokenizer.vocabulary

    @property
    def resources(self):
        return self.tokenizer.resources

    def get_config(self):
        return {"vocabulary": self.vocabulary, "lowercase": self.tokenizer.lowercase,
                "max_length": self.max_length, "truncate": self.truncate}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
