"""`SentimentPreprocessor`: raw strings -> word ids, PTB-style splitting, TF ops."""

import keras
import tensorflow as tf

from tasks.classification.preprocessor import TokenPreprocessor
from tasks.tokenizers import TextTokenizer, build_vocabulary, split_punctuation


@keras.saving.register_keras_serializable(package="kerasrnn")
class SentimentPreprocessor(TokenPreprocessor):
    """Raw strings -> `{"token_ids": (batch, T), "padding_mask": (batch, T)}` with TF ops.

    Text is split as the Penn Treebank (and so SST) does: punctuation and the clitics "n't",
    "'s", "'re", "'ve", "'ll", "'d", "'m" become tokens of their own, so "It's great!" and the
    treebank's "it 's great !" give the same ids. Unknown words map to `[UNK]`; texts longer
    than `max_length` tokens lose their end (`truncate="tail"`) or their start ("head").

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

    def get_config(self):
        return {"vocabulary": self.vocabulary, "lowercase": self.tokenizer.lowercase,
                "max_length": self.max_length, "truncate": self.truncate}
