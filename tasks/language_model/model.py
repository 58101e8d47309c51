"""`RNNLanguageModel`: a causal recurrent language model (word or character level)."""

import math

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

import kerasrnn
from tasks import decoding
from tasks.batching import padded_width
from tasks.cells import cell_class, cell_options, check_cell
from tasks.language_model.preprocessor import LanguageModelPreprocessor, pad
from tasks.task import Task, activation_penalty, as_list, flat_dense, replica_context, text_list
from tasks.tokenizers import BOS_ID, EOS_ID, PAD_ID, TextTokenizer


@keras.saving.register_keras_serializable(package="kerasrnn")
class BitsPerCharacter(keras_hub.metrics.Perplexity):
    """Mean cross-entropy in bits per predicted token: log2 of the perplexity."""

    def __init__(self, from_logits=True, name="bits_per_character", **kwargs):
        super().__init__(from_logits=from_logits, name=name, **kwargs)

    def result(self):
        return ops.log(super().result()) / math.log(2.0)


@keras.saving.register_keras_serializable(package="kerasrnn")
class RNNLanguageModel(Task):
    """Embedding -> recurrent layers -> logits over the vocabulary, on raw strings.

    At a padded position (`padding_mask` False) every layer keeps its state and the logits are
    not used: padding never counts in loss or metrics (it becomes `sample_weight`).

    Args:
        preprocessor: a `LanguageModelPreprocessor` (or its config, or just the
            `TextTokenizer` it wraps); its vocabulary is the model's.
        cell: a name in `tasks.cells.CELLS` ("lstm", "gru", "simple_rnn", "mingru", ...).
        embed_dim, units, num_layers: sizes.
        tie_embeddings: the output layer reuses the embedding matrix (Press & Wolf 2017); when
            `units != embed_dim` a linear projection maps the last layer to `embed_dim` first.
        embedding_dropout, dropout, output_dropout: dropout rates on the embeddings, between
            layers and before the output layer; `recurrent_dropout` on h_{t-1} in the cells.
        variational: the first three use one mask per sequence (shared over time).
        activation_regularization, temporal_activation_regularization: AR and TAR (Merity et
            al. 2017): at training, α · mean(h²) of the last layer's output after its dropout
            and β · mean((h_t - h_{t-1})²) of that output before it, over real tokens, are
            added to the loss. 0 (the default): off.
        init_scale: if > 0, every weight matrix and bias starts uniform in [-init_scale,
            init_scale] (Zaremba et al. 2014). IndRNN's recurrent weight is not a matrix but
            one gain per unit, and keeps its cell's own initializer (uniform in [0, 1]).
        carry_batch_size: if set, `call` starts from the state the previous call ended in
            (truncated BPTT over contiguous batches of exactly this many rows); `fit` resets it
            at each epoch, `evaluate` at its start. None: every call starts from zeros.
        num_steps: the BPTT window of such a model: `fit` and `evaluate` on raw text cut it
            into windows of this many tokens, as training did.

    Call arguments:
        inputs: `{"token_ids": (batch, time) int, "padding_mask": (batch, time) bool}` (the mask
            is optional) or just the token ids.

    Example:
        >>> tokenizer = TextTokenizer(build_vocabulary([["a", "cat", "sat"]]))
        >>> lm = RNNLanguageModel(tokenizer, embed_dim=8, units=8, num_layers=1)
        >>> lm.compile()
        >>> lm.generate(["a"], max_length=3)  # doctest: +SKIP
    """

    serving = "language_model"

    def __init__(self, preprocessor, cell="lstm", embed_dim=200, units=200, num_layers=2,
                 tie_embeddings=False, embedding_dropout=0.0, dropout=0.0, output_dropout=0.0,
                 recurrent_dropout=0.0, variational=False, init_scale=0.0, carry_batch_size=None,
                 num_steps=20, activation_regularization=0.0,
                 temporal_activation_regularization=0.0, seed=None, **kwargs):
        if isinstance(preprocessor, TextTokenizer):
            preprocessor = LanguageModelPreprocessor(preprocessor)
        super().__init__(preprocessor, **kwargs)
        check_cell(cell)
        for name, value in (("embed_dim", embed_dim), ("units", units),
                            ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if carry_batch_size is not None and carry_batch_size < 1:
            raise ValueError(
                f"`carry_batch_size` must be None or positive. Received: {carry_batch_size!r}"
            )
        self.cell, self.embed_dim, self.units, self.num_layers = cell, embed_dim, units, num_layers
        self.tie_embeddings, self.init_scale, self.seed = tie_embeddings, init_scale, seed
        self.embedding_dropout, self.dropout = embedding_dropout, dropout
        self.output_dropout, self.recurrent_dropout = output_dropout, recurrent_dropout
        self.variational, self.carry_batch_size = variational, carry_batch_size
        self.num_steps = num_steps
        self.activation_regularization = activation_regularization
        self.temporal_activation_regularization = temporal_activation_regularization
        vocab_size = self.preprocessor.vocabulary_size

        init = (lambda: keras.initializers.RandomUniform(-init_scale, init_scale, seed)) \
            if init_scale > 0 else (lambda: None)
        self.embedding = keras.layers.Embedding(
            vocab_size, embed_dim, embeddings_initializer=init() or "uniform", name="embedding"
        )
        cell_init = {}
        if init_scale > 0:
            cell_init = {"kernel_initializer": init(), "bias_initializer": init()}
            if not issubclass(cell_class(cell), kerasrnn.IndRNNCell):  # u: the cell's [0, 1]
                cell_init["recurrent_initializer"] = init()
        self.rnns = [
            kerasrnn.RNN(
                cell_class(cell)(units, recurrent_dropout=recurrent_dropout,
                                 seed=None if seed is None else seed + i,
                                 **cell_options(cell, **cell_init)),
                return_sequences=True, return_state=True, name=f"rnn_{i}",
            )
            for i in range(num_layers)
        ]
        noise = (None, 1, None) if variational else None
        # dropouts[0] on the embeddings, dropouts[i] after layer i (the last before the output)
        self.dropouts = [
            kerasrnn.Dropout(rate, noise_shape=noise, seed=seed, name=f"dropout_{i}")
            for i, rate in enumerate(
                [embedding_dropout] + [dropout] * (num_layers - 1) + [output_dropout])
        ]
        self.projection = None
        if tie_embeddings and units != embed_dim:
            self.projection = keras.layers.Dense(embed_dim, use_bias=False,
                                                 kernel_initializer=init() or "glorot_uniform",
                                                 name="projection")
        self.head = None if tie_embeddings else keras.layers.Dense(
            vocab_size, kernel_initializer=init() or "glorot_uniform", name="head")
        # Tokens a generator must never emit.
        never = np.zeros(vocab_size, "float32")
        never[[PAD_ID, BOS_ID]] = -1e9
        self._never = never

    # -- building and state ------------------------------------------------------------------
    @property
    def state_sizes(self):
        return [s for rnn in self.rnns for s in rnn.state_sizes]

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        shape = (None, None, self.embed_dim)
        for rnn in self.rnns:
            rnn.build(shape)
            shape = (None, None, self.units)
        if self.projection is not None:
            self.projection.build(shape)
        if self.head is not None:
            self.head.build(shape)
        else:
            self.output_bias = self.add_weight(shape=(self.tokenizer.vocabulary_size,),
                                               initializer="zeros", name="output_bias")
        if self.carry_batch_size:
            # Under tf.distribute every replica writes the same gathered state (`call`):
            # the first one's write is kept.
            self.carried = self.add_weight(
                shape=(self.carry_batch_size, sum(self.state_sizes)), initializer="zeros",
                trainable=False, aggregation="only_first_replica", name="carried_state")
        self.built = True

    def reset_state(self):
        """Zeros the carried BPTT state (a no-op without `carry_batch_size`)."""
        if self.carry_batch_size and self.built:
            self.carried.assign(ops.zeros(self.carried.shape))

    def initial_state(self, batch_size):
        return ops.zeros((batch_size, sum(self.state_sizes)), self.compute_dtype)

    def _split(self, state):
        """(batch, sum of sizes) -> one list of (batch, size) tensors per layer."""
        out, k = [], 0
        for rnn in self.rnns:
            layer = []
            for size in rnn.state_sizes:
                layer.append(state[:, k : k + size])
                k += size
            out.append(layer)
        return out

    # -- running -----------------------------------------------------------------------------
    def _logits(self, h):
        if self.head is not None:
            return flat_dense(self.head, h)
        if self.projection is not None:
            h = self.projection(h)
        return ops.matmul(h, ops.transpose(self.embedding.embeddings)) + self.output_bias

    def call_with_state(self, token_ids, state=None, padding_mask=None, training=False):
        """(batch, time) ids and a (batch, state) start state -> logits (batch, time, vocab) and
        the state after the last real token of each row."""
        x, h, state = self._run(token_ids, state, padding_mask, training)
        alpha, beta = self.activation_regularization, self.temporal_activation_regularization
        if training and (alpha or beta):
            self.add_loss(activation_penalty(x, h, padding_mask, alpha, beta))
        return self._logits(x), state

    def hidden_states(self, token_ids, padding_mask=None, training=False):
        """(batch, time) ids -> the last recurrent layer's output (batch, time, units) from a
        zero state: the text up to each token, as `CharLMEmbedding` reads it (Akbik et al.)."""
        return self._run(token_ids, None, padding_mask, training)[1]

    def _run(self, token_ids, state, padding_mask, training):
        """-> the last layer's output after its dropout and before it, and the states."""
        if state is None:
            state = self.initial_state(ops.shape(token_ids)[0])
        x = self.dropouts[0](self.embedding(token_ids), training=training)
        new_states = []
        for i, (rnn, init) in enumerate(zip(self.rnns, self._split(state))):
            x, *states = rnn(x, initial_state=init, mask=padding_mask, training=training)
            new_states += states
            h, x = x, self.dropouts[i + 1](x, training=training)
        return x, h, ops.concatenate(new_states, axis=-1)

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            token_ids, padding_mask = inputs["token_ids"], inputs.get("padding_mask")
        else:
            token_ids, padding_mask = inputs, None
        state, context = None, replica_context()
        if self.carry_batch_size:
            # Several tf.distribute replicas: each holds a slice of the batch's rows, in order,
            # so it reads its slice of the carried state and all write the gathered whole.
            # (JAX's DataParallel runs one program over the whole batch: nothing to do.)
            replicas = context.num_replicas_in_sync if context is not None else 1
            rows = self.carry_batch_size // replicas
            batch = token_ids.shape[0]
            if self.carry_batch_size % replicas or (batch is not None and batch != rows):
                raise ValueError(
                    f"This model carries its state over batches of {self.carry_batch_size} "
                    f"rows ({rows} on each of {replicas} replicas). Received: a batch of "
                    f"{batch} rows (use `score`, `generate` or `call_with_state` for other "
                    "batches)"
                )
            state = ops.convert_to_tensor(self.carried)
            if context is not None:
                state = ops.slice(state, (context.replica_id_in_sync_group * rows, 0),
                                  (rows, state.shape[1]))
        logits, state = self.call_with_state(token_ids, state, padding_mask, training)
        if self.carry_batch_size:
            state = ops.cast(state, self.carried.dtype)  # float32 under mixed precision too
            self.carried.assign(state if context is None else context.all_gather(state, 0))
        return logits

    def step(self, token, state):
        """One generation step: (batch,) ids and states -> (batch, vocab) logits and states."""
        x = self.embedding(token)
        new_states = []
        for rnn, states in zip(self.rnns, self._split(state)):
            x, states = rnn.cell(x, states, training=False)
            new_states += list(states)
        logits = self._logits(x) + self._never
        return logits, ops.concatenate(new_states, axis=-1)

    # -- the Task contract -------------------------------------------------------------------
    # compile() defaults: Adam(1e-3, clipnorm=5), the per-token mean cross-entropy over real
    # tokens (padding is `sample_weight` 0), perplexity (and bits per character for character
    # models), and an XLA-compiled train step on every backend.
    @property
    def tokenizer(self):
        return self.preprocessor.tokenizer

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight")

    def default_weighted_metrics(self):
        metrics = [keras_hub.metrics.Perplexity(from_logits=True)]
        if self.tokenizer.level == "char":
            metrics.append(BitsPerCharacter())
        return metrics

    def raw_dataset(self, x, y=None, batch_size=None, shuffle=False):
        """Lines of text -> BPTT windows of `num_steps` for a model that carries its state
        over `carry_batch_size` rows (as it trained), else padded sentence batches."""
        if y is not None:
            raise ValueError("A language model's targets are its text: pass no `y`.")
        ids = self.preprocessor.stream(as_list(x))
        if self.carry_batch_size:
            return self.preprocessor.dataset(ids, "bptt", self.carry_batch_size, self.num_steps)
        return self.preprocessor.dataset(ids, "sentences", batch_size or 32, shuffle=shuffle,
                                         seed=self.seed or 0)

    def predict_raw(self, x, batch_size=None, **kwargs):
        """Texts -> `{"perplexity", "token_log_probs"}` (see `score`)."""
        perplexity, token_log_probs = self.score(as_list(x), batch_size or 64)
        return {"perplexity": perplexity, "token_log_probs": token_log_probs}

    def fit(self, *args, callbacks=None, **kwargs):
        callbacks = list(callbacks or [])
        if not self.built:
            self.build()
        if self.carry_batch_size:
            callbacks.append(_ResetCarry())
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def evaluate(self, *args, **kwargs):
        self.reset_state()
        return super().evaluate(*args, **kwargs)

    # -- strings in, strings out -------------------------------------------------------------
    def encode(self, texts):
        """Raw strings -> lists of ids, each starting with [EOS] (a text starts where the
        previous one ended, as in the training stream)."""
        return self.preprocessor.encode(texts)

    def score(self, texts, batch_size=64):
        """Per-text perplexity (each text scored with its end token, from a fresh state) and
        per-token log-probabilities (a list of arrays)."""
        texts = text_list("texts", texts)
        perplexities, token_log_probs = [], []
        for start in range(0, len(texts), batch_size):
            ids = self.preprocessor.encode(texts[start : start + batch_size])
            width = padded_width(max(len(row) for row in ids))  # a few shapes compile
            x, mask = pad(ids, width)
            targets, _ = pad([row[1:] + [EOS_ID] for row in ids], width)
            logp = np.asarray(self.compiled_function("log_probs", self._log_probs)(
                x, mask, targets))
            for row, length in zip(logp, mask.sum(1)):
                token_log_probs.append(row[:length])
                perplexities.append(float(np.exp(-row[:length].mean())))
        return np.array(perplexities), token_log_probs

    def _log_probs(self, x, mask, targets):
        logits, _ = self.call_with_state(x, None, mask)
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)  # under any policy
        return ops.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]

    def generate(self, prompts, max_length=30, sampler="greedy", seed=0, temperature=1.0,
                 top_k=10, top_p=0.9, num_beams=5, batch_size=64):
        """Continues each prompt by up to `max_length` tokens (stopping at the end token).

        `sampler`: "greedy", "random", "top_k", "top_p" (seeded: the same `seed` gives the
        same text here and in the SavedModel's `sample`; see `tasks.decoding.sample`) or
        "beam" (`num_beams` beams ranked by summed log-probability). Returns the prompts with
        their continuations, detokenized."""
        prompts = text_list("prompts", prompts)
        decoding.check_sampling(sampler, self.preprocessor.vocabulary_size, temperature, top_k,
                                top_p, num_beams, max_length)
        options = dict(seed=seed, temperature=temperature, top_k=top_k, top_p=top_p)
        results = []
        for start in range(0, len(prompts), batch_size):
            ids = self.preprocessor.encode(prompts[start : start + batch_size])
            if sampler == "beam":
                # Beam search over a batch: rows whose prompts end at the same place.
                groups = {}
                for i, row in enumerate(ids):
                    groups.setdefault(len(row), []).append(i)
                out = [None] * len(ids)
                for members in groups.values():
                    rows = decoding.beam_continue(self, [ids[i] for i in members], max_length,
                                                  num_beams, EOS_ID)
                    for i, row in zip(members, rows):
                        out[i] = row
            else:
                out = decoding.sample_continue(self, ids, max_length, sampler, EOS_ID,
                                               **options)
            results += self._detokenize(out)
        return results

    def _detokenize(self, rows):
        """Id lists -> strings, all in one call."""
        ids = tf.RaggedTensor.from_row_lengths(
            np.concatenate([np.asarray(row, "int32") for row in rows]), [len(r) for r in rows])
        return [text.decode() for text in self.tokenizer.detokenize(ids).numpy()]


class _ResetCarry(keras.callbacks.Callback):
    """Truncated BPTT: the carried state restarts with every pass over the data."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_state()

    def on_test_begin(self, logs=None):
        self.model.reset_state()

