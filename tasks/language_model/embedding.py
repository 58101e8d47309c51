"""`CharLMEmbedding`: words embedded by the states of a forward and a backward character
language model at the words' boundaries (Akbik et al. 2018, "Contextual String Embeddings
for Sequence Labeling").

A sentence's words, joined by single spaces, are one text that both models read from a fresh
state, after `[EOS]` as every line of their training stream starts:

    forward model:   [EOS] J o h n _ l i v e s [EOS]   word i: its state after the word's
                                                        last character
    backward model:  [EOS] s e v i l _ n h o J [EOS]   word i: its state after the word's
                                                        first character (it reads right to left)

so a word's vector holds the text left of it and the word itself (forward) and the text right
of it and the word itself (backward), in context: "Washington" in "Washington said" and in
"in Washington" get different vectors. `boundary_features` turns token strings into the
models' ids and the words' positions with TF ops (in the task's preprocessor: in tf.data and in
SavedModels); the layer runs the models and gathers their states there.

Train the two models with the language-model task on any text (one sentence a line), the
backward one with `--set reverse=true`, and give them to the tagger:

    python -m tasks.language_model train --preset char --data text.txt --model fw.keras
    python -m tasks.language_model train --preset char --data text.txt --set reverse=true \\
        --model bw.keras
    python -m tasks.tagger train --scheme ner --train ... --dev ... \\
        --set char_lms=fw.keras,bw.keras
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tasks.batching import pad_to_multiple
from tasks.task import compiled_function
from tasks.tokenizers import EOS_ID, PAD_ID

FEATURES = ("lm_forward_ids", "lm_forward_ends", "lm_backward_ids", "lm_backward_starts")


def boundary_features(tokens, forward_tokenizer, backward_tokenizer):
    """`(batch, T)` token strings ("" pads the end of a row) -> the features of
    `CharLMEmbedding`:

        lm_forward_ids, lm_backward_ids   (batch, L) int32: [EOS], the words joined by spaces,
                                          [EOS], as each model's tokenizer reads it (the
                                          backward one reversed), [PAD] after; L rounded up
                                          to a multiple of 32 (few compiled shapes)
        lm_forward_ends                   (batch, T): where each word's last character is in
                                          lm_forward_ids (0 at padding)
        lm_backward_starts                (batch, T): where its first character is in
                                          lm_backward_ids (0 at padding)
    """
    mask = tf.not_equal(tokens, "")
    text = tf.strings.reduce_join(tf.ragged.boolean_mask(tokens, mask), axis=-1, separator=" ")
    lengths = tf.strings.length(tokens, unit="UTF8_CHAR")  # 0 at padding
    offsets = tf.cumsum(lengths + 1, axis=1, exclusive=True)  # a word's first character
    size = tf.strings.length(text, unit="UTF8_CHAR")[:, None]
    # [EOS] is position 0: character k of the text is at k + 1 forward, at size - k backward.
    features = {"lm_forward_ends": tf.where(mask, offsets + lengths, 0),
                "lm_backward_starts": tf.where(mask, size - offsets, 0)}
    for name, tokenizer in (("lm_forward_ids", forward_tokenizer),
                            ("lm_backward_ids", backward_tokenizer)):
        pieces = tokenizer(text)
        ends = tf.fill([pieces.nrows(), 1], EOS_ID)
        ids = tf.concat([ends, pieces, ends], axis=1).to_tensor(PAD_ID)
        features[name] = pad_to_multiple(ids, 32, PAD_ID)
    return features


@keras.saving.register_keras_serializable(package="kerasrnn")
class CharLMEmbedding(keras.layers.Layer):
    """A vector per word from two character language models: the forward model's state after
    the word's last character and the backward model's after its first (see the module
    docstring), concatenated: `forward_lm.units + backward_lm.units` features.

    Args:
        forward_lm: a character-level `RNNLanguageModel` (or its config) reading left to right.
        backward_lm: one reading right to left (its tokenizer has `reverse=True`: trained with
            `--set level=char reverse=true`).
        fine_tune: train the models' weights with the task (with their own dropout); False
            (the default): they stay as trained, and no gradient flows into them.

    Call arguments:
        features: a dict with the `boundary_features` of the words (other keys are ignored).
        Returns `(batch, T, output_dim)`; padding positions hold the state at the first
        `[EOS]` (the task's mask leaves them out).
    """

    def __init__(self, forward_lm, backward_lm, fine_tune=False, **kwargs):
        super().__init__(**kwargs)
        models = []
        for name, lm, reverse in (("forward_lm", forward_lm, False),
                                  ("backward_lm", backward_lm, True)):
            if isinstance(lm, dict):
                lm = keras.saving.deserialize_keras_object(lm)
            tokenizer = getattr(getattr(lm, "preprocessor", None), "tokenizer", None)
            if getattr(tokenizer, "level", None) != "char":
                raise ValueError(f"`{name}` must be a character-level RNNLanguageModel. "
                                 f"Received: {name}={type(lm).__name__}"
                                 + (f" of level {tokenizer.level!r}" if tokenizer else ""))
            if tokenizer.reverse != reverse:
                way = "right to left" if reverse else "left to right"
                raise ValueError(f"`{name}` must read text {way} (its tokenizer's reverse="
                                 f"{reverse}). Received: a model with reverse="
                                 f"{tokenizer.reverse}")
            models.append(lm)
        self.forward_lm, self.backward_lm = models
        self.fine_tune = fine_tune
        self._set_trainable()

    def _set_trainable(self):
        # Keras' `trainable` setter flags the variables and sublayers that exist, so it runs
        # again after `build`. It is called directly: on TensorFlow, `lm.trainable = False`
        # does nothing when `lm.trainable` is False already (the backend's `__setattr__`
        # skips an assignment of the same object), as for a model loaded from a file whose
        # config says trainable=False while its layers, made afterwards, are trainable.
        for lm in (self.forward_lm, self.backward_lm):
            keras.layers.Layer.trainable.fset(lm, self.fine_tune)

    @property
    def output_dim(self):
        return self.forward_lm.units + self.backward_lm.units

    @property
    def tokenizers(self):
        return self.forward_lm.tokenizer, self.backward_lm.tokenizer

    def build(self, input_shape=None):
        for lm in (self.forward_lm, self.backward_lm):
            if not lm.built:
                lm.build()
        self._set_trainable()
        self.built = True

    def call(self, features, training=False):
        if "lm_states" in features and not self.fine_tune:
            return features["lm_states"]  # computed once by `states` (frozen models)
        parts = []
        for lm, ids, at in ((self.forward_lm, features["lm_forward_ids"],
                             features["lm_forward_ends"]),
                            (self.backward_lm, features["lm_backward_ids"],
                             features["lm_backward_starts"])):
            h = lm.hidden_states(ids, ops.not_equal(ids, PAD_ID),
                                 training=training and self.fine_tune)
            if not self.fine_tune:
                h = ops.stop_gradient(h)
            parts.append(ops.take_along_axis(h, ops.cast(at, "int32")[..., None], axis=1))
        return ops.concatenate(parts, axis=-1)

    def states(self, sentences, batch_size=64):
        """Token lists -> each sentence's `(length, output_dim)` float32 word vectors, as
        `call` computes them at inference (a batch's padding never changes them).

        Frozen models give every sentence the same vectors at every epoch, so a training
        dataset computes them once (`TaggerPreprocessor.dataset(lm_states=...)`) and `call`
        reads them from the `lm_states` feature instead of running the models again."""
        run = compiled_function(self, "states", lambda f: self(f, training=False))
        # Batches of like character lengths, padded to powers of two: few shapes compile.
        order = sorted(range(len(sentences)), key=lambda i: sum(map(len, sentences[i])))
        out = [None] * len(sentences)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = _power_of_two(max(len(sentences[i]) for i in chunk), 8)
            tokens = tf.constant([list(sentences[i]) + [""] * (width - len(sentences[i]))
                                  for i in chunk])
            features = {k: v.numpy() for k, v in
                        boundary_features(tokens, *self.tokenizers).items()}
            for name in ("lm_forward_ids", "lm_backward_ids"):
                ids = features[name]
                extra = _power_of_two(ids.shape[1], 32) - ids.shape[1]
                features[name] = np.pad(ids, [(0, 0), (0, extra)], constant_values=PAD_ID)
            vectors = np.asarray(run(features), "float32")
            for i, row in zip(chunk, vectors):
                out[i] = row[: len(sentences[i])]
        return out

    def compute_output_shape(self, input_shape):
        return (*input_shape["lm_forward_ends"], self.output_dim)

    def get_config(self):
        return {**super().get_config(),
                "forward_lm": keras.saving.serialize_keras_object(self.forward_lm),
                "backward_lm": keras.saving.serialize_keras_object(self.backward_lm),
                "fine_tune": self.fine_tune}


def _power_of_two(n, smallest):
    return max(smallest, 1 << (max(n, 1) - 1).bit_length())
