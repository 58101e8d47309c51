"""`TranslationPreprocessor`: (source, target) strings -> teacher-forcing features, TF ops."""

import keras
import numpy as np
import tensorflow as tf

from tasks.batching import bucket_by_length, pad_width
from tasks.tokenizers import BOS_ID, EOS_ID, PAD_ID, TranslationTokenizer


@keras.saving.register_keras_serializable(package="kerasrnn")
class TranslationPreprocessor:
    """Source and target strings -> the `Translator`'s features.

    The encoder reads the source ids (at most `max_source_length`); the decoder reads
    `[BOS]` + target and learns to predict target + `[EOS]` (teacher forcing), with the padding
    mask as `sample_weight`.

    Args:
        source_tokenizer, target_tokenizer: `TranslationTokenizer`s (or their configs).
        max_source_length: source tokens kept per text.
    """

    def __init__(self, source_tokenizer, target_tokenizer, max_source_length=100):
        self.source_tokenizer, self.target_tokenizer = [
            keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
            for t in (source_tokenizer, target_tokenizer)]
        if not isinstance(max_source_length, int) or max_source_length < 1:
            raise ValueError(f"`max_source_length` must be a positive integer. Received: "
                             f"max_source_length={max_source_length!r}")
        self.max_source_length = max_source_length

    @classmethod
    def learn(cls, pairs, kind="wordpiece", size=8000, lowercase=True, max_source_length=100):
        """A vocabulary of about `size` entries per language, learned from training pairs."""
        sources, targets = zip(*pairs)
        return cls(*[TranslationTokenizer.learn(texts, kind, size, lowercase)
                     for texts in (sources, targets)], max_source_length)

    def source_ids(self, texts):
        """Raw strings -> ragged source ids, truncated (graph mode)."""
        return self.source_tokenizer.tokenize(texts)[:, : self.max_source_length]

    def padded_source_ids(self, texts):
        """Raw strings -> (batch, S) padded source ids, at least one column (NumPy)."""
        ids = self.source_tokenizer(texts)[:, : self.max_source_length].to_tensor(PAD_ID)
        return np.asarray(tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]]))

    def features(self, sources, targets):
        """Padded features of one batch (and nothing else): for teacher forcing and tests."""
        src = self.source_tokenizer(sources)[:, : self.max_source_length]
        tgt = self.target_tokenizer(targets)
        bos = tf.fill([tgt.nrows(), 1], BOS_ID)
        decoder = tf.concat([bos, tgt], axis=1).to_tensor(PAD_ID)
        encoder = src.to_tensor(PAD_ID)
        return {"encoder_token_ids": encoder, "encoder_padding_mask": encoder != PAD_ID,
                "decoder_token_ids": decoder, "decoder_padding_mask": decoder != PAD_ID}

    def dataset(self, pairs, batch_size, shuffle=False, seed=0,
                boundaries=(8, 12, 16, 20, 24, 32, 48)):
        """Batches bucketed by target length: (features, labels = target + [EOS], padding mask
        as sample_weight). Source and target widths round up to `tasks.batching.WIDTHS`, so
        few batch shapes compile."""
        sources, targets = zip(*pairs)
        src = self.source_tokenizer(sources)[:, : self.max_source_length]
        tgt = self.target_tokenizer(targets)
        ends = tf.fill([tgt.nrows(), 1], EOS_ID)
        decoder_in = tf.concat([tf.fill([tgt.nrows(), 1], BOS_ID), tgt], axis=1)
        labels = tf.concat([tgt, ends], axis=1)
        ds = tf.data.Dataset.from_tensor_slices((decoder_in, labels, src))
        ds = ds.map(lambda *x: tuple(t.to_tensor(PAD_ID) if isinstance(t, tf.RaggedTensor)
                                     else t for t in x))
        if shuffle:
            ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
        ds = bucket_by_length(ds, list(decoder_in.row_lengths().numpy()), batch_size, boundaries)

        def to_features(decoder, labels, encoder):
            decoder, labels = pad_width(decoder, PAD_ID), pad_width(labels, PAD_ID)
            encoder = pad_width(encoder, PAD_ID)
            features = {"encoder_token_ids": encoder, "encoder_padding_mask": encoder != PAD_ID,
                        "decoder_token_ids": decoder, "decoder_padding_mask": decoder != PAD_ID}
            return features, labels, tf.cast(decoder != PAD_ID, tf.float32)

        return ds.map(to_features).prefetch(tf.data.AUTOTUNE)

    @property
    def resources(self):
        return self.source_tokenizer.resources + self.target_tokenizer.resources

    def get_config(self):
        return {"source_tokenizer": keras.saving.serialize_keras_object(self.source_tokenizer),
                "target_tokenizer": keras.saving.serialize_keras_object(self.target_tokenizer),
                "max_source_length": self.max_source_length}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
