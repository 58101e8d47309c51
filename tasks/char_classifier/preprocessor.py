"""`CharPreprocessor`: raw strings -> character ids, TF ops."""

import keras
import tensorflow as tf

from tasks.classification.preprocessor import TokenPreprocessor
from tasks.tokenizers import TextTokenizer, build_vocabulary


@keras.saving.register_keras_serializable(package="kerasrnn")
class CharPreprocessor(TokenPreprocessor):
    """Every character (Unicode code point) is a token; the first `max_length` are kept.

    Args:
        vocabulary: characters starting with the specials (`learn` builds it).
        lowercase: lowercase the text first.
        max_length: characters kept per text.
    """

    def __init__(self, vocabulary, lowercase=False, max_length=256):
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"`max_length` must be a positive integer. Received: "
                             f"max_length={max_length!r}")
        self.tokenizer = TextTokenizer(vocabulary, level="char", lowercase=lowercase)
        self.max_length = max_length

    @classmethod
    def learn(cls, texts, lowercase=False, max_length=256, min_count=1):
        """The characters of the training texts seen at least `min_count` times."""
        text = [t.lower() if lowercase else t for t in texts]
        return cls(build_vocabulary(text, min_count=min_count), lowercase, max_length)

    def tokens(self, texts):
        """(batch,) strings -> ragged (batch, None) characters."""
        return self.tokenizer.split(tf.convert_to_tensor(texts, tf.string))[..., : self.max_length]

    def get_config(self):
        return {"vocabulary": self.vocabulary, "lowercase": self.tokenizer.lowercase,
                "max_length": self.max_length}
