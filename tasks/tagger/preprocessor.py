"""`TaggerPreprocessor`: token strings -> word, character and casing ids, TF ops."""

import keras
import numpy as np
import tensorflow as tf

from tasks.batching import bucket_by_length, pad_rows, pad_width
from tasks.language_model.embedding import boundary_features
from tasks.tokenizers import PAD_ID, UNK_ID, build_vocabulary

CASES = ("[PAD]", "lower", "Title", "UPPER", "digits", "other")


def _table(vocabulary):
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int32)), UNK_ID)


@keras.saving.register_keras_serializable(package="kerasrnn")
class TaggerPreprocessor:
    """Token strings -> `{"token_ids", "char_ids", "case_ids", "padding_mask"}` with TF ops
    (and the features of `CharLMEmbedding` when given the character LMs' tokenizers).

    Args:
        words: word vocabulary (`tasks.tokenizers.build_vocabulary`, lowercased if `lowercase`).
        chars: character vocabulary (same form).
        lowercase: look words up lowercased (their casing is the `case_ids` feature).
        max_word_length: characters kept per word.
        lm_tokenizers: None, or the forward and backward character LMs' `TextTokenizer`s (or
            their configs): the text is also read as those models read it
            (`tasks.language_model.embedding.boundary_features`).

    Call arguments:
        tokens: `(batch, T)` strings, "" for padding (or a RaggedTensor of strings).
    """

    def __init__(self, words, chars, lowercase=True, max_word_length=20, lm_tokenizers=None):
        self.words, self.chars = list(words), list(chars)
        self.lowercase, self.max_word_length = lowercase, max_word_length
        self.lm_tokenizers = None if lm_tokenizers is None else [
            keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
            for t in lm_tokenizers]
        self._word_table = _table(self.words)
        self._char_table = _table(self.chars)

    @classmethod
    def learn(cls, sentences, lowercase=True, max_word_length=20, min_count=1,
              lm_tokenizers=None, vocabulary=None):
        """The word and character vocabularies of the training sentences. `vocabulary`: a
        word vocabulary to start from (a word LM's, for `Tagger.start_from`): the training
        words it lacks come after it, most frequent first."""
        words = build_vocabulary(([w.lower() if lowercase else w for w in s]
                                  for s in sentences), min_count=min_count)
        if vocabulary is not None:
            known = set(vocabulary)
            words = list(vocabulary) + [w for w in words if w not in known]
        chars = build_vocabulary(list(w) for s in sentences for w in s)
        return cls(words, chars, lowercase, max_word_length, lm_tokenizers)

    @property
    def resources(self):
        lms = [r for t in self.lm_tokenizers or () for r in t.resources]
        return [self._word_table, self._char_table, *lms]

    def __call__(self, tokens, lm_features=True):
        """`lm_features=False` leaves out the character LMs' features (for a dataset that
        carries their states already)."""
        if isinstance(tokens, tf.RaggedTensor):
            tokens = tokens.to_tensor("")
        tokens = tf.convert_to_tensor(tokens, tf.string)
        mask = tf.not_equal(tokens, "")
        keys = tf.strings.lower(tokens, encoding="utf-8") if self.lowercase else tokens
        token_ids = tf.where(mask, self._word_table.lookup(keys), PAD_ID)
        chars = tf.strings.unicode_split(tokens, "UTF-8")[..., : self.max_word_length]
        char_ids = tf.ragged.map_flat_values(self._char_table.lookup, chars)
        shape = tf.concat([tf.shape(tokens), [self.max_word_length]], 0)
        char_ids = char_ids.to_tensor(PAD_ID, shape=shape)
        case = tf.where(tf.strings.regex_full_match(tokens, r"\p{Ll}+"), 1,
                        tf.where(tf.strings.regex_full_match(tokens, r"\p{Lu}\p{Ll}*"), 2,
                        tf.where(tf.strings.regex_full_match(tokens, r"\p{Lu}+"), 3,
                        tf.where(tf.strings.regex_full_match(tokens, r".*\d.*"), 4, 5))))
        case_ids = tf.where(mask, case, PAD_ID)
        features = {"token_ids": token_ids, "char_ids": char_ids, "case_ids": case_ids,
                    "padding_mask": mask}
        if self.lm_tokenizers and lm_features:
            features.update(boundary_features(tokens, *self.lm_tokenizers))
        return features

    def dataset(self, sentences, tag_ids, batch_size, shuffle=False, seed=0,
                boundaries=(10, 20, 30, 40, 60), lm_states=None):
        """Length-bucketed batches `(features, tag ids, padding mask as sample_weight)`, all
        `batch_size` rows (a bucket's last batch filled with empty sentences, which weigh
        nothing) and widths from `tasks.batching.WIDTHS`, so that few batch shapes compile.

        `lm_states`: None, or each sentence's `(length, dim)` character-LM word vectors
        (`CharLMEmbedding.states`), which the batches then carry as the `lm_states` feature
        in place of the text the models would read."""
        def generate():
            for i, (s, t) in enumerate(zip(sentences, tag_ids)):
                row = (np.array(s, dtype=object), np.asarray(t, "int32"))
                yield row if lm_states is None else row + (lm_states[i],)

        signature = (tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int32))
        padding = ("", 0)
        if lm_states is not None:
            dim = lm_states[0].shape[-1] if len(lm_states) else 0
            signature += (tf.TensorSpec([None, dim], tf.float32),)
            padding += (0.0,)
        ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
        if shuffle:
            ds = ds.shuffle(len(sentences), seed=seed, reshuffle_each_iteration=True)
        ds = bucket_by_length(ds, [len(s) for s in sentences], batch_size, boundaries,
                              padding_values=padding)

        def full(x, value):  # batch_size rows, a width from the grid
            return pad_rows(pad_width(x, value), batch_size, value)

        def to_features(t, y, *states):
            t, y = full(t, ""), full(y, 0)
            features = self(t, lm_features=not states)
            if states:
                features["lm_states"] = full(states[0], 0.0)
            return features, y, tf.cast(features["padding_mask"], tf.float32)

        return ds.map(to_features).prefetch(tf.data.AUTOTUNE)

    def get_config(self):
        lms = self.lm_tokenizers and [keras.saving.serialize_keras_object(t)
                                      for t in self.lm_tokenizers]
        return {"words": self.words, "chars": self.chars, "lowercase": self.lowercase,
                "max_word_length": self.max_word_length, "lm_tokenizers": lms}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
