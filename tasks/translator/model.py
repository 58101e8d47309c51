"""`Translator`: a bidirectional kerasrnn encoder and an attentive input-feeding decoder."""

import keras
import numpy as np
from keras import ops

import kerasrnn
from tasks import decoding
from tasks.batching import padded_width
from tasks.cells import cell_class, cell_options, check_cell, stack_class
from tasks.task import Task, flat_dense, masked_cross_entropy, text_list, with_layer_losses
from tasks.tokenizers import BOS_ID, EOS_ID, PAD_ID

ATTENTIONS = ("bahdanau", "dot", "general", "none")


@keras.saving.register_keras_serializable(package="kerasrnn")
class Translator(Task):
    """Encoder-decoder with attention and input feeding, on kerasrnn layers.

    With decoder state s_t (top layer h_t) and encoder outputs m_1..m_S (real source steps
    only):
        e_ts = v · tanh(W_k m_s + W_q h_t)   bahdanau      a_t = softmax_s(e_t) (0 on padding)
        e_ts = h_t · m_s                     dot           c_t = sum_s a_ts m_s
        e_ts = h_t · W_k m_s                 general       h~_t = tanh(W_c [c_t; h_t])
        p(y_t | ...) = softmax(W_o h~_t)     and h~_t joins y_t's embedding at step t + 1.
    With attention "none", h~_t = h_t and nothing but the start state links the two sides.

    Args:
        preprocessor: a `TranslationPreprocessor` (both tokenizers and `max_source_length`).
        cell: a name in `tasks.cells.CELLS` ("lstm", "gru", "mingru", ...).
        embed_dim, units (encoder, per direction; the decoder has
            2 x units), num_layers (each side).
        attention: one of "bahdanau", "dot", "general", "none".
        dropout: on embeddings, between encoder layers and before the output layer.
        label_smoothing: spread over the vocabulary in the training loss.
        max_length_factor, max_length_offset, beam_size, length_penalty: translation
            settings (see `Config`).

    Call arguments:
        inputs: dict of `encoder_token_ids`, `encoder_padding_mask`, `decoder_token_ids`
            ([BOS] + target), `decoder_padding_mask`. Returns logits `(batch, T, vocabulary)`.

    Example:
        >>> translator.translate(["Ein Hund rennt."], beam_size=5)  # doctest: +SKIP
        ['a dog runs.']
    """

    serving = "translator"
    learning_rate = 2e-3
    # On TensorFlow, XLA cannot differentiate the decoder's while loop: Keras' "auto" runs it
    # as a graph there (and compiles on JAX).
    jit_compile_default = "auto"

    def __init__(self, preprocessor, cell="lstm", embed_dim=256, units=256, num_layers=1,
                 attention="general", dropout=0.3, label_smoothing=0.1, max_length_factor=2,
                 max_length_offset=10, beam_size=5, length_penalty=0.6, seed=None, **kwargs):
        super().__init__(preprocessor, **kwargs)
        if attention not in ATTENTIONS:
            raise ValueError(f"`attention` must be one of {ATTENTIONS}. Received: "
                             f"attention={attention!r}")
        check_cell(cell)
        self.cell, self.embed_dim, self.units, self.num_layers = cell, embed_dim, units, num_layers
        self.attention, self.dropout, self.label_smoothing = attention, dropout, label_smoothing
        self.max_length_factor, self.max_length_offset = max_length_factor, max_length_offset
        self.beam_size, self.length_penalty, self.seed = beam_size, length_penalty, seed
        self.source_tokenizer = self.preprocessor.source_tokenizer
        self.target_tokenizer = self.preprocessor.target_tokenizer
        width = 2 * units  # decoder size = the bidirectional encoder's output size
        self.source_embedding = keras.layers.Embedding(
            self.source_tokenizer.vocabulary_size, embed_dim, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(
            self.target_tokenizer.vocabulary_size, embed_dim, name="target_embedding")
        self.encoder = stack_class(cell)(units, num_layers=num_layers, bidirectional=True,
                                         inter_layer_dropout=dropout, return_sequences=True,
                                         return_state=True, seed=seed, name="encoder",
                                         **cell_options(cell))
        # The decoder steps in the translator's own loop, where no per-sequence random masks
        # are drawn: a cell variant's zoneout and weight-drop act in the encoder only.
        decoder_options = {k: v for k, v in cell_options(cell).items()
                           if k not in ("zoneout_h", "zoneout_c", "weight_drop")}
        self.decoder_cells = [cell_class(cell)(width, name=f"decoder_{i}", **decoder_options)
                              for i in range(num_layers)]
        # The decoder's states per layer: (h, c) for an LSTM, (c, window) for a QRNN, (h,)
        # for the others. The states of the decoder's width start from the encoder's final
        # ones through a bridge each (the first with tanh); any other (a QRNN's window of
        # earlier inputs) starts at zeros.
        probe = cell_class(cell)(2)
        probe.build((None, 3))
        sizes = probe.state_size if isinstance(probe.state_size, list) else [probe.state_size]
        self.state_kinds = len(sizes)
        self.bridged = [k for k, size in enumerate(sizes) if size == 2]
        self.bridges = [keras.layers.Dense(num_layers * width, activation="tanh" if k == 0
                                           else None, name=f"bridge_{'hc'[k]}")
                        for k in self.bridged]
        if attention in ("bahdanau", "general"):
            self.attention_keys = keras.layers.Dense(width, use_bias=False, name="attention_keys")
        if attention == "bahdanau":
            self.attention_query = keras.layers.Dense(width, name="attention_query")
            self.attention_score = keras.layers.Dense(1, use_bias=False, name="attention_score")
        if attention != "none":
            self.combine = keras.layers.Dense(width, activation="tanh", use_bias=False,
                                              name="combine")
        self.dropout_layer = kerasrnn.Dropout(dropout, seed=seed)
        self.output_layer = keras.layers.Dense(self.target_tokenizer.vocabulary_size,
                                               name="output_layer")

    def build(self, input_shape=None):
        width = 2 * self.units
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.encoder.build((None, None, self.embed_dim))
        step_input = self.embed_dim + (width if self.attention != "none" else 0)
        for cell in self.decoder_cells:
            cell.build((None, step_input))
            step_input = width
        for bridge in self.bridges:
            bridge.build((None, width))
        if self.attention in ("bahdanau", "general"):
            self.attention_keys.build((None, None, width))
        if self.attention == "bahdanau":
            self.attention_query.build((None, width))
            self.attention_score.build((None, None, width))
        if self.attention != "none":
            self.combine.build((None, 2 * width))
        self.output_layer.build((None, None, width))
        self.built = True

    # -- the network -------------------------------------------------------------------------
    def encode(self, source_ids, source_mask, training=False):
        """-> (memory (batch, S, 2u), keys for the attention, the decoder's start state)."""
        source_mask = ops.cast(source_mask, "bool")
        x = self.dropout_layer(self.source_embedding(source_ids), training=training)
        memory, *states = self.encoder(x, mask=source_mask, training=training)
        k, width = self.state_kinds, 2 * self.units
        last = states[-2 * k:]  # the top layer's forward then backward states
        start = {}
        for kind, bridge in zip(self.bridged, self.bridges):
            both = bridge(ops.concatenate([last[kind], last[k + kind]], axis=-1))
            start[kind] = [both[:, i * width : (i + 1) * width] for i in range(self.num_layers)]
        state = []
        for i, cell in enumerate(self.decoder_cells):  # per layer: h (, c) or (c, window)
            sizes = cell.state_size if isinstance(cell.state_size, list) else [cell.state_size]
            state += [start[kind][i] if kind in start else
                      ops.zeros((ops.shape(memory)[0], size), memory.dtype)
                      for kind, size in enumerate(sizes)]
        if self.attention != "none":
            state.append(ops.zeros_like(state[0]))  # h~_0, the first input feed
        keys = memory
        if self.attention in ("bahdanau", "general"):
            keys = self.attention_keys(memory)
        return memory, keys, tuple(state)

    def attend(self, h, memory, keys, source_mask):
        """-> context (batch, 2u) and weights (batch, S): zero on padding, summing to 1."""
        if self.attention == "bahdanau":
            hidden = ops.tanh(keys + self.attention_query(h)[:, None, :])
            scores = self.attention_score(hidden)[..., 0]
        else:
            scores = ops.einsum("bd,bsd->bs", h, keys)
        mask = ops.cast(source_mask, "bool")
        scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1) * ops.cast(mask, scores.dtype)
        return ops.einsum("bs,bsd->bd", weights, memory), weights

    def step(self, embedded, state, memory, keys, source_mask):
        """One decoder step: (batch, embed) target embeddings and the state -> the output h~
        (batch, 2u), the new state and the attention weights (batch, S)."""
        feed = self.attention != "none"
        x = ops.concatenate([embedded, state[-1]], axis=-1) if feed else embedded
        new, i = [], 0
        for cell in self.decoder_cells:
            x, states = cell(x, list(state[i : i + self.state_kinds]))
            new += list(states)
            i += self.state_kinds
        if not feed:
            return x, tuple(new), ops.zeros_like(memory[..., 0])
        context, weights = self.attend(x, memory, keys, source_mask)
        out = self.combine(ops.concatenate([context, x], axis=-1))
        return out, tuple(new) + (out,), weights

    def call_with_attention(self, inputs, training=False):
        """Teacher-forced logits (batch, T, V) and attention weights (batch, T, S)."""
        source_mask = inputs["encoder_padding_mask"]
        memory, keys, state = self.encode(inputs["encoder_token_ids"], source_mask, training)
        y = self.target_embedding(inputs["decoder_token_ids"])
        y = self.dropout_layer(y, training=training)

        def fn(carry, xs):
            out, carry, weights = self.step(xs[0], carry, memory, keys, source_mask)
            return carry, (out, weights)

        _, (outs, weights) = kerasrnn.ops.scan(fn, state, (ops.transpose(y, (1, 0, 2)),), n_ys=2)
        outs = ops.transpose(outs, (1, 0, 2))
        logits = flat_dense(self.output_layer, self.dropout_layer(outs, training=training))
        return logits, ops.transpose(weights, (1, 0, 2))

    def call(self, inputs, training=False):
        return self.call_with_attention(inputs, training)[0]

    # -- the Task contract -------------------------------------------------------------------
    # compile() defaults: Adam(2e-3, clipnorm=5), the label-smoothed cross-entropy over real
    # target tokens (`compute_loss`), token accuracy.
    def default_weighted_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = masked_cross_entropy(y, y_pred, x["decoder_padding_mask"], self.label_smoothing)
        return with_layer_losses(self, loss)

    def is_raw(self, x):
        """(source, target) string pairs."""
        return (isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (list, tuple))
                and len(x[0]) == 2 and isinstance(x[0][0], str))

    def raw_dataset(self, x, y=None, batch_size=None, shuffle=False):
        if y is not None:
            raise ValueError("Raw translation data are (source, target) pairs in `x`; "
                             "pass no `y`.")
        return self.preprocessor.dataset(list(x), batch_size or 64, shuffle=shuffle,
                                         seed=self.seed or 0)

    def predict_raw(self, x, batch_size=None, **kwargs):
        return self.translate([source for source, _ in x], batch_size=batch_size or 64)

    # -- translation -------------------------------------------------------------------------
    def source_ids(self, texts):
        """Raw strings -> (batch, S) padded source ids, truncated, at least one column."""
        return self.preprocessor.padded_source_ids(texts)

    def _decoding_inputs(self, source_ids):
        """The decoder's start state, its context and each row's length limit."""
        source_mask = ops.not_equal(source_ids, PAD_ID)
        memory, keys, state = self.encode(source_ids, source_mask)
        n = ops.sum(ops.cast(source_mask, "int32"), axis=1)
        limits = self.max_length_factor * n + self.max_length_offset
        total = self.max_length_factor * ops.shape(source_ids)[1] + self.max_length_offset
        return state, (memory, keys, source_mask), limits, total

    def _step(self, token, state, context):
        out, state, _ = self.step(self.target_embedding(token), state, *context)
        return self.output_layer(out), state

    def greedy(self, source_ids):
        """(batch, S) ids -> (batch, L) target ids ([EOS] then padding after each end) with
        keras-hub's GreedySampler, the decoder state (and the input feed) as its cache: an
        independent implementation of `beam_search(source_ids, beam_size=1)`, which
        `translate` and the SavedModel run."""
        state, context, limits, total = self._decoding_inputs(source_ids)
        return decoding.greedy(self._step, state, context, BOS_ID, EOS_ID, total, limits,
                               self.target_tokenizer.vocabulary_size, model=self)

    def beam_search(self, source_ids, beam_size=None, length_penalty=None):
        """(batch, S) ids -> (batch, L) best target ids by beam search: each beam's summed
        log-probability over (5 + length)^alpha / 6^alpha (GNMT), with beam_size 1 greedy."""
        state, context, limits, total = self._decoding_inputs(source_ids)
        return decoding.beam_search(
            self._step, state, context, BOS_ID, EOS_ID, total, limits,
            self.target_tokenizer.vocabulary_size, beam_size or self.beam_size,
            self.length_penalty if length_penalty is None else length_penalty)

    def translate(self, texts, beam_size=1, batch_size=64):
        """Raw source strings -> translations by beam search (greedy with `beam_size` 1)."""
        texts = text_list("texts", texts)
        if isinstance(beam_size, bool) or not isinstance(beam_size, (int, np.integer)) or not (
                1 <= beam_size <= self.target_tokenizer.vocabulary_size):
            raise ValueError(f"`beam_size` must be a positive integer at most the target "
                             f"vocabulary's size. Received: beam_size={beam_size!r}")
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together
        out = [None] * len(texts)
        for start in range(0, len(texts), batch_size):
            chunk = order[start : start + batch_size]
            ids = np.asarray(self.source_ids([texts[i] for i in chunk]))
            width = padded_width(ids.shape[1])  # a few shapes compile (padding is masked)
            ids = np.pad(ids, [(0, 0), (0, width - ids.shape[1])], constant_values=PAD_ID)
            # As the SavedModel: one beam is greedy.
            search = self.compiled_function(
                ("beam", beam_size), lambda ids: self.beam_search(ids, beam_size))
            ids = search(ids)
            # Each row: its words, [EOS], then padding; decode drops the special tokens.
            for i, text in zip(chunk, self.target_tokenizer.decode(np.asarray(ids))):
                out[i] = text
        return out

    def attention_map(self, source, target):
        """(source tokens, target tokens, weights (T, S)) of teacher-forcing `target`."""
        features = self.preprocessor.features([source], [target])
        _, weights = self.call_with_attention({k: np.asarray(v) for k, v in features.items()})
        src = [self.source_tokenizer.vocabulary[i] for i in features["encoder_token_ids"][0]]
        tgt = [self.target_tokenizer.vocabulary[i] for i in features["decoder_token_ids"][0]]
        return src, tgt[1:] + ["[EOS]"], np.asarray(weights)[0]
