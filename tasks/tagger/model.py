"""`Tagger`: a bidirectional kerasrnn LSTM tagger with character features and a softmax or
CRF head."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import kerasrnn
from tasks.batching import padded_width
from tasks.cells import cell_options, stack_class
from tasks.tagger.characters import word_characters
from tasks.tagger.crf import CRF
from tasks.tagger.preprocessor import CASES
from tasks.task import Task, as_list, global_mean, is_text, masked_cross_entropy, with_layer_losses
from tasks.tokenizers import SPECIALS, UNK_ID


@keras.saving.register_keras_serializable(package="kerasrnn")
class Tagger(Task):
    """Bidirectional kerasrnn LSTM (or any cell's) tagger with character features and a
    softmax or CRF head.

    At a padded position (`padding_mask` False) the recurrent layers keep their states, the
    potentials are unused, the loss and metrics give it no weight and the decoded tag is 0.

    Args:
        preprocessor: a `TaggerPreprocessor` (or its config).
        tags: the tag names; tag i is output i.
        head: "softmax" (independent per-token decisions) or "crf" (a transition-aware
            sequence decision, trained by the CRF negative log-likelihood).
        cell: the recurrent cell of the word and character layers, a name in
            `tasks.cells.CELLS` ("lstm", "gru", "mingru", ...).
        embed_dim, char_dim, char_units, units, num_layers: sizes (char_dim 0: no characters).
        dropout: on the word representation and between and after the recurrent layers.
        word_dropout: training words replaced by [UNK] with this probability.
        char_lm: None, or a `CharLMEmbedding` (or its config): each word's representation
            also holds two character language models' states at its boundaries (contextual
            string embeddings, Akbik et al. 2018). The preprocessor must have those models'
            tokenizers (`TaggerPreprocessor(lm_tokenizers=...)`). When they are frozen,
            `fit` and `evaluate` on raw sentences compute each sentence's LM vectors once
            (`CharLMEmbedding.states`) and feed them as the `lm_states` feature.

    Call arguments:
        inputs: the preprocessor's dict. Returns the potentials `(batch, T, len(tags))`.
        `predict` / `predict_on_batch` return the decoded tag ids `(batch, T)` instead
        (Viterbi's for a CRF), decoded inside the compiled predict function.

    Example:
        >>> tagger.predict_tags([["John", "lives", "in", "Paris"]])  # doctest: +SKIP
        [['B-PER', 'O', 'O', 'B-LOC']]
    """

    def __init__(self, preprocessor, tags, head="softmax", cell="lstm", embed_dim=100,
                 char_dim=30, char_units=50, units=200, num_layers=2, dropout=0.5,
                 word_dropout=0.0, char_lm=None, seed=None, **kwargs):
        super().__init__(preprocessor, **kwargs)
        if head not in ("softmax", "crf"):
            raise ValueError(f"`head` must be 'softmax' or 'crf'. Received: head={head!r}")
        stack = stack_class(cell)
        preprocessor = self.preprocessor
        self.tags, self.head, self.cell = list(tags), head, cell
        self.embed_dim, self.char_dim, self.char_units = embed_dim, char_dim, char_units
        self.units, self.num_layers = units, num_layers
        self.dropout, self.word_dropout, self.seed = dropout, word_dropout, seed
        self.word_embedding = keras.layers.Embedding(len(preprocessor.words), embed_dim,
                                                     name="word_embedding")
        self.case_embedding = keras.layers.Embedding(len(CASES), 8, name="case_embedding")
        if char_dim:
            self.char_embedding = keras.layers.Embedding(len(preprocessor.chars), char_dim,
                                                         name="char_embedding")
            self.char_rnn = stack(char_units, bidirectional=True, name="char_rnn",
                                  **cell_options(cell))
        self.rnn = stack(units, num_layers=num_layers, bidirectional=True, **cell_options(cell),
                         inter_layer_dropout=dropout, return_sequences=True, seed=seed,
                         name="rnn")
        self.dropout_layer = kerasrnn.Dropout(dropout, seed=seed)
        self.potentials = keras.layers.Dense(len(self.tags), name="potentials")
        self.crf = CRF(len(self.tags), name="crf") if head == "crf" else None
        self.seed_generator = keras.random.SeedGenerator(seed)
        if isinstance(char_lm, dict):
            char_lm = keras.saving.deserialize_keras_object(char_lm)
        self.char_lm = char_lm
        if char_lm is not None and [t.get_config() for t in preprocessor.lm_tokenizers or ()] \
                != [t.get_config() for t in char_lm.tokenizers]:
            raise ValueError("`char_lm` needs a preprocessor with its language models' "
                             "tokenizers: TaggerPreprocessor(..., lm_tokenizers="
                             "char_lm.tokenizers). Received: a preprocessor with "
                             f"lm_tokenizers={preprocessor.lm_tokenizers}")

    def build(self, input_shape=None):
        self.word_embedding.build((None, None))
        self.case_embedding.build((None, None))
        width = self.embed_dim + 8
        if self.char_dim:
            self.char_embedding.build((None, None))
            self.char_rnn.build((None, None, self.char_dim))
            width += 2 * self.char_units
        if self.char_lm is not None:
            self.char_lm.build()
            width += self.char_lm.output_dim
        self.rnn.build((None, None, width))
        self.potentials.build((None, None, 2 * self.units))
        if self.crf is not None:
            self.crf.build()
        self.built = True

    def word_vectors(self, inputs, training=False):
        """Each word's representation, the recurrent stack's input `(batch, T, width)`:
        [word embedding ; casing ; characters (if char_dim) ; character LMs (if char_lm)]."""
        token_ids, mask = inputs["token_ids"], ops.cast(inputs["padding_mask"], "bool")
        if training and self.word_dropout > 0:
            drop = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
            token_ids = ops.where((drop < self.word_dropout) & mask, UNK_ID, token_ids)
        parts = [self.word_embedding(token_ids), self.case_embedding(inputs["case_ids"])]
        if self.char_dim:
            chars = inputs["char_ids"]  # (batch, T, C)
            batch, steps, width = ops.shape(chars)[0], ops.shape(chars)[1], ops.shape(chars)[2]
            # Every word's characters, both directions; padding words are all-padding rows.
            words = word_characters(self.char_rnn, self.char_embedding,
                                    ops.reshape(chars, (-1, width)), training)
            parts.append(ops.reshape(words, (batch, steps, 2 * self.char_units)))
        if self.char_lm is not None:
            parts.append(ops.cast(self.char_lm(inputs, training=training), parts[0].dtype))
        return ops.concatenate(parts, axis=-1)

    def call(self, inputs, training=False):
        mask = ops.cast(inputs["padding_mask"], "bool")
        x = self.dropout_layer(self.word_vectors(inputs, training), training=training)
        x = self.rnn(x, mask=mask, training=training)
        return self.potentials(self.dropout_layer(x, training=training))

    def start_from(self, lm):
        """Starts the word-level stack from a trained forward word LM (ULMFiT, Howard & Ruder
        2018): its embedding becomes the first rows of the word embedding, its layer i the
        forward direction of layer i (`tasks.language_model.encoder.copy_encoder`). In the
        first layer that direction reads the word embedding part of its input with the LM's
        kernel and the casing, character and character-LM parts through zeros, so at the start
        it computes the LM's hidden states. The preprocessor's word vocabulary must start with
        the LM's (`TaggerPreprocessor.learn(..., vocabulary=lm.tokenizer.vocabulary)`), and
        the tagger must have the LM's cell, `embed_dim` and `units`, and at least its layers."""
        from tasks.language_model.encoder import check_encoder_lm, copy_encoder

        check_encoder_lm(lm)
        vocabulary = list(lm.tokenizer.vocabulary)
        if self.preprocessor.words[: len(vocabulary)] != vocabulary:
            raise ValueError("The tagger's word vocabulary does not start with the LM's: build "
                             "its preprocessor with TaggerPreprocessor.learn(..., vocabulary="
                             f"lm.tokenizer.vocabulary). Received: an LM of {len(vocabulary)} "
                             f"words and a tagger of {len(self.preprocessor.words)}")
        cased = [w for w in vocabulary[len(SPECIALS):] if w != w.lower()]
        if self.preprocessor.lowercase and cased:
            raise ValueError(f"The tagger looks words up lowercased (lowercase=True), so the "
                             f"LM's {len(cased)} words with capitals could never be read: "
                             f"train the LM on lowercased text, or set lowercase=False. "
                             f"Received: an LM with words such as {cased[:3]}")
        if not self.built:
            self.build()
        copy_encoder(lm, self.word_embedding, self.rnn)

    # -- the Task contract -------------------------------------------------------------------
    # compile() defaults: Adam(2e-3, clipnorm=5); the loss is the masked token cross-entropy
    # (softmax) or the CRF negative log-likelihood per sentence (crf); token accuracy of the
    # potentials' argmax as the fit-time metric (`DevScore` measures the decoded tags, which
    # for a CRF are Viterbi's).
    learning_rate = 2e-3
    serving = "tagger"

    def default_weighted_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = ops.cast(x["padding_mask"], "float32")
        if self.crf is None:
            loss = masked_cross_entropy(y, y_pred, mask)
        else:
            # Per sentence, normalized by tokens so the scale matches the softmax head's.
            loss = global_mean(-ops.sum(self.crf.log_likelihood(y_pred, y, mask)),
                               ops.sum(mask))
        return with_layer_losses(self, loss)

    def decode(self, potentials, padding_mask):
        if self.crf is None:
            return ops.cast(ops.argmax(potentials, axis=-1), "int32") * ops.cast(
                padding_mask, "int32")
        return self.crf.decode(potentials, padding_mask)

    def predict_step(self, *args):
        # The decoder runs inside the compiled predict function: run eagerly (on JAX) its loop
        # would be compiled anew at every call, and each compiled program keeps memory maps
        # (a long training run with a dev evaluation per epoch died of it).
        if keras.backend.backend() != "jax":
            x = keras.utils.unpack_x_y_sample_weight(args[0])[0]
            return self.decode(self(x, training=False), x["padding_mask"])
        # JAX's trainer passes the weights in (Keras' stateless custom-step protocol).
        (trainable, non_trainable), data = args
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        values = zip(self.trainable_variables + self.non_trainable_variables,
                     list(trainable) + list(non_trainable))
        with keras.StatelessScope(state_mapping=values):
            tags = self.decode(self(x, training=False), x["padding_mask"])
        return tags, non_trainable

    # -- strings in, strings out -------------------------------------------------------------
    def predict_tags(self, sentences, batch_size=64, lm_states=None):
        """Token lists (or whitespace-tokenized strings) -> one tag list per sentence.
        `lm_states`: the sentences' `char_lm.states(sentences)`, when they are known."""
        if isinstance(sentences, str):
            raise ValueError(f"`sentences` must be a list of sentences, not one string. "
                             f"Received: sentences={sentences[:40]!r}")
        sentences = [s.split() if isinstance(s, str) else list(s) for s in sentences]
        # Sentences of like length batch together and widths round up to `padded_width`, so
        # that only a few shapes are ever compiled.
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out = [None] * len(sentences)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = padded_width(max(len(sentences[i]) for i in chunk))
            tokens = tf.constant([sentences[i] + [""] * (width - len(sentences[i]))
                                  for i in chunk])
            features = self.preprocessor(tokens, lm_features=lm_states is None)
            features = {k: v.numpy() for k, v in features.items()}
            if lm_states is not None:
                features["lm_states"] = np.stack([np.pad(
                    lm_states[i], [(0, width - len(lm_states[i])), (0, 0)]) for i in chunk])
            ids = np.asarray(self.predict_on_batch(features))
            for i, row in zip(chunk, ids):
                out[i] = [self.tags[t] for t in row[: len(sentences[i])]]
        return out

    def is_raw(self, x):
        """Token lists or whitespace-tokenized strings."""
        return is_text(x) or (isinstance(x, (list, tuple)) and len(x) > 0
                              and isinstance(x[0], (list, tuple)))

    def tag_ids(self, tags):
        index = {t: i for i, t in enumerate(self.tags)}
        for number, s in enumerate(tags, start=1):
            unseen = [t for t in s if t not in index]
            if unseen:
                raise ValueError(f"sentence {number} has tags the model does not know: {unseen}")
        return [[index[t] for t in s] for s in tags]

    def raw_dataset(self, x, y=None, batch_size=None, shuffle=False):
        sentences = [s.split() if isinstance(s, str) else list(s) for s in as_list(x)]
        tags = self.tag_ids(y) if y is not None else [[0] * len(s) for s in sentences]
        states = None
        if self.char_lm is not None and not self.char_lm.fine_tune:
            # Frozen character LMs: their word vectors are computed once, not at every epoch.
            states = self.char_lm.states(sentences)
        return self.preprocessor.dataset(sentences, tags, batch_size or 32, shuffle=shuffle,
                                         seed=self.seed or 0, lm_states=states)

    def predict_raw(self, x, batch_size=None, **kwargs):
        return self.predict_tags(as_list(x), batch_size or 64)
