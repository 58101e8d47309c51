"""A sequence-to-sequence translator: bidirectional kerasrnn encoder, attentive decoder.

    python -m tasks.translator train --data multi30k --src de --tgt en --data-dir ../shared/data
    python -m tasks.translator train --train pairs.tsv --dev dev.tsv     # source<TAB>target
    python -m tasks.translator evaluate --model saved_models/translator.keras --data multi30k
    python -m tasks.translator translate --model ... "Ein Mann fährt Fahrrad." --beam-size 5
    python -m tasks.translator export --model ... --out saved_models/translator

Encoder: embedding -> stacked bidirectional kerasrnn LSTM/GRU. Its last layer's final states,
projected, start the decoder: stacked kerasrnn cells fed, at every step, the previous target
word and the previous attentional vector (Luong's input feeding). Attention over the encoder
outputs, source padding masked out: "bahdanau" (additive), "dot" or "general" (Luong), or
"none" (the final state is the only link). Training is teacher forcing with `model.fit`;
translation is greedy (keras-hub's sampler) or beam search with length normalization, both with
the decoder state as the cache.
"""

import argparse
import dataclasses
import os
import sys

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

import kerasrnn
from tasks import data as data_lib
from tasks.text import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    bucket_by_length,
    pad_to_multiple,
)

ATTENTIONS = ("bahdanau", "dot", "general", "none")


@dataclasses.dataclass
class Config:
    tokenization: str = "wordpiece"  # "wordpiece" (learned per language) or "word"
    vocabulary_size: int = 8000  # per language
    lowercase: bool = True
    cell: str = "lstm"  # "lstm" or "gru"
    embed_dim: int = 256
    units: int = 256  # encoder units per direction; the decoder has 2 x units
    num_layers: int = 1  # encoder layers and decoder layers
    attention: str = "general"  # "bahdanau", "dot", "general" or "none"
    dropout: float = 0.3
    label_smoothing: float = 0.1
    max_source_length: int = 100  # tokens kept per source text
    max_length_factor: int = 2  # a translation has at most factor x source length + offset
    max_length_offset: int = 10
    beam_size: int = 5
    length_penalty: float = 0.6  # GNMT's alpha: scores / ((5 + length) / 6) ** alpha
    batch_size: int = 64
    epochs: int = 20
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    patience: int = 3  # early stopping on dev loss
    plateau_factor: float = 0.5  # learning rate x this after an epoch without a lower dev loss
    seed: int = 0


PRESETS = {
    "default": Config(),
    "no_attention": Config(attention="none"),
    "tiny": Config(tokenization="word", vocabulary_size=100, embed_dim=16, units=16,
                   dropout=0.0, label_smoothing=0.0, batch_size=16, epochs=8,
                   learning_rate=5e-3, patience=0, plateau_factor=0.0, beam_size=3),
}


@keras.saving.register_keras_serializable(package="kerasrnn")
class Translator(keras.Model):
    """Encoder-decoder with attention and input feeding, on kerasrnn layers.

    With decoder state s_t (top layer h_t) and encoder outputs m_1..m_S (real source steps
    only):
        e_ts = v · tanh(W_k m_s + W_q h_t)   bahdanau      a_t = softmax_s(e_t) (0 on padding)
        e_ts = h_t · m_s                     dot           c_t = sum_s a_ts m_s
        e_ts = h_t · W_k m_s                 general       h~_t = tanh(W_c [c_t; h_t])
        p(y_t | ...) = softmax(W_o h~_t)     and h~_t joins y_t's embedding at step t + 1.
    With attention "none", h~_t = h_t and nothing but the start state links the two sides.

    Args:
        source_tokenizer, target_tokenizer: `TranslationTokenizer`s (or their configs).
        cell: "lstm" or "gru". embed_dim, units (encoder, per direction; the decoder has
            2 x units), num_layers (each side).
        attention: one of "bahdanau", "dot", "general", "none".
        dropout: on embeddings, between encoder layers and before the output layer.
        label_smoothing: spread over the vocabulary in the training loss.
        max_source_length, max_length_factor, max_length_offset, beam_size, length_penalty:
            translation settings (see `Config`).

    Call arguments:
        inputs: dict of `encoder_token_ids`, `encoder_padding_mask`, `decoder_token_ids`
            ([BOS] + target), `decoder_padding_mask`. Returns logits `(batch, T, vocabulary)`.

    Example:
        >>> translator.translate(["Ein Hund rennt."], beam_size=5)  # doctest: +SKIP
        ['a dog runs.']
    """

    def __init__(self, source_tokenizer, target_tokenizer, cell="lstm", embed_dim=256,
                 units=256, num_layers=1, attention="general", dropout=0.3,
                 label_smoothing=0.1, max_source_length=100, max_length_factor=2,
                 max_length_offset=10, beam_size=5, length_penalty=0.6, seed=None, **kwargs):
        super().__init__(**kwargs)
        tokenizers = [keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
                      for t in (source_tokenizer, target_tokenizer)]
        self.source_tokenizer, self.target_tokenizer = tokenizers
        if attention not in ATTENTIONS:
            raise ValueError(f"`attention` must be one of {ATTENTIONS}. Received: "
                             f"attention={attention!r}")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"`cell` must be 'lstm' or 'gru'. Received: cell={cell!r}")
        self.settings = dict(cell=cell, embed_dim=embed_dim, units=units,
                             num_layers=num_layers, attention=attention, dropout=dropout,
                             label_smoothing=label_smoothing, max_source_length=max_source_length,
                             max_length_factor=max_length_factor,
                             max_length_offset=max_length_offset, beam_size=beam_size,
                             length_penalty=length_penalty, seed=seed)
        self.attention_kind, self.seed = attention, seed
        width = 2 * units  # decoder size = the bidirectional encoder's output size
        self.source_embedding = keras.layers.Embedding(
            self.source_tokenizer.vocabulary_size, embed_dim, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(
            self.target_tokenizer.vocabulary_size, embed_dim, name="target_embedding")
        stack = kerasrnn.LSTM if cell == "lstm" else kerasrnn.GRU
        self.encoder = stack(units, num_layers=num_layers, bidirectional=True,
                             inter_layer_dropout=dropout, return_sequences=True,
                             return_state=True, seed=seed, name="encoder")
        cell_class = kerasrnn.LSTMCell if cell == "lstm" else kerasrnn.GRUCell
        self.decoder_cells = [cell_class(width, name=f"decoder_{i}") for i in range(num_layers)]
        self.state_kinds = 2 if cell == "lstm" else 1  # (h, c) or (h,)
        self.bridges = [keras.layers.Dense(num_layers * width, activation="tanh" if k == 0
                                           else None, name=f"bridge_{'hc'[k]}")
                        for k in range(self.state_kinds)]
        if attention in ("bahdanau", "general"):
            self.attention_keys = keras.layers.Dense(width, use_bias=False, name="attention_keys")
        if attention == "bahdanau":
            self.attention_query = keras.layers.Dense(width, name="attention_query")
            self.attention_score = keras.layers.Dense(1, use_bias=False, name="attention_score")
        if attention != "none":
            self.combine = keras.layers.Dense(width, activation="tanh", use_bias=False,
                                              name="combine")
        self.dropout = keras.layers.Dropout(dropout, seed=seed)
        self.output_layer = keras.layers.Dense(self.target_tokenizer.vocabulary_size,
                                               name="output_layer")

    def build(self, input_shape=None):
        s = self.settings
        width = 2 * s["units"]
        self.source_embedding.build((None, None))
        self.target_embedding.build((None, None))
        self.encoder.build((None, None, s["embed_dim"]))
        step_input = s["embed_dim"] + (width if self.attention_kind != "none" else 0)
        for cell in self.decoder_cells:
            cell.build((None, step_input))
            step_input = width
        for bridge in self.bridges:
            bridge.build((None, width))
        if self.attention_kind in ("bahdanau", "general"):
            self.attention_keys.build((None, None, width))
        if self.attention_kind == "bahdanau":
            self.attention_query.build((None, width))
            self.attention_score.build((None, None, width))
        if self.attention_kind != "none":
            self.combine.build((None, 2 * width))
        self.output_layer.build((None, None, width))
        self.built = True

    # -- the network -------------------------------------------------------------------------
    def encode(self, source_ids, source_mask, training=False):
        """-> (memory (batch, S, 2u), keys for the attention, the decoder's start state)."""
        source_mask = ops.cast(source_mask, "bool")
        x = self.dropout(self.source_embedding(source_ids), training=training)
        memory, *states = self.encoder(x, mask=source_mask, training=training)
        k, width = self.state_kinds, 2 * self.settings["units"]
        last = states[-2 * k:]  # the top layer's forward then backward states
        start = []
        for kind, bridge in enumerate(self.bridges):
            both = bridge(ops.concatenate([last[kind], last[k + kind]], axis=-1))
            start.append([both[:, i * width : (i + 1) * width]
                          for i in range(self.settings["num_layers"])])
        state = [s for layer in zip(*start) for s in layer]  # per layer: h (, c)
        if self.attention_kind != "none":
            state.append(ops.zeros_like(state[0]))  # h~_0, the first input feed
        keys = memory
        if self.attention_kind in ("bahdanau", "general"):
            keys = self.attention_keys(memory)
        return memory, keys, tuple(state)

    def attend(self, h, memory, keys, source_mask):
        """-> context (batch, 2u) and weights (batch, S): zero on padding, summing to 1."""
        if self.attention_kind == "bahdanau":
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
        feed = self.attention_kind != "none"
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
        y = self.dropout(self.target_embedding(inputs["decoder_token_ids"]), training=training)

        def fn(carry, xs):
            out, carry, weights = self.step(xs[0], carry, memory, keys, source_mask)
            return carry, (out, weights)

        _, (outs, weights) = kerasrnn.ops.scan(fn, state, (ops.transpose(y, (1, 0, 2)),), n_ys=2)
        outs = ops.transpose(outs, (1, 0, 2))
        logits = self.output_layer(self.dropout(outs, training=training))
        return logits, ops.transpose(weights, (1, 0, 2))

    def call(self, inputs, training=False):
        return self.call_with_attention(inputs, training)[0]

    # -- training ----------------------------------------------------------------------------
    def compile(self, optimizer="auto", weighted_metrics="auto", jit_compile="auto", **kwargs):
        """Defaults: Adam(2e-3, clipnorm=5), the label-smoothed cross-entropy over real target
        tokens (`compute_loss`), token accuracy; XLA on JAX. (On TensorFlow, XLA cannot
        differentiate the decoder's while loop, so Keras' "auto" runs it as a graph.)"""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(2e-3, clipnorm=5.0)
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, weighted_metrics=weighted_metrics,
                        jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for a custom `compile`; ours takes the same (deserialized) arguments.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = ops.cast(x["decoder_padding_mask"], "float32")
        logp = ops.log_softmax(y_pred, axis=-1)
        nll = -ops.take_along_axis(logp, ops.cast(y, "int32")[..., None], axis=-1)[..., 0]
        eps = self.settings["label_smoothing"]
        if eps:
            nll = (1 - eps) * nll - eps * ops.mean(logp, axis=-1)
        loss = ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)
        losses = [loss] + list(self.losses)
        return ops.sum(ops.stack(losses)) if len(losses) > 1 else loss

    # -- translation -------------------------------------------------------------------------
    def source_ids(self, texts):
        """Raw strings -> (batch, S) padded source ids, truncated, at least one column."""
        ragged = self.source_tokenizer(texts)[:, : self.settings["max_source_length"]]
        ids = ragged.to_tensor(PAD_ID)
        return np.asarray(tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]]))

    def _limits(self, source_ids):
        n = ops.sum(ops.cast(ops.not_equal(source_ids, PAD_ID), "int32"), axis=1)
        return self.settings["max_length_factor"] * n + self.settings["max_length_offset"]

    def greedy(self, source_ids):
        """(batch, S) ids -> (batch, L) target ids ([EOS] then padding after each end) with
        keras-hub's GreedySampler; the decoder state (and the input feed) is its cache."""
        source_mask = ops.not_equal(source_ids, PAD_ID)
        memory, keys, state = self.encode(source_ids, source_mask)
        batch, length = ops.shape(source_ids)[0], ops.shape(source_ids)[1]
        total = self.settings["max_length_factor"] * length + self.settings["max_length_offset"]
        limits = self._limits(source_ids)
        prompt = ops.concatenate([ops.full((batch, 1), BOS_ID, "int32"),
                                  ops.zeros((batch, total), "int32")], axis=1)
        eos_only = self._only(EOS_ID)

        def next(prompt, cache, index):
            token = ops.take(prompt, index - 1, axis=1)
            out, cache, _ = self.step(self.target_embedding(token), cache, memory, keys,
                                      source_mask)
            logits = self.output_layer(out)
            return ops.where((index >= limits)[:, None], eos_only, logits), None, cache

        out = keras_hub.samplers.GreedySampler()(
            next, prompt, cache=state, index=1, mask=ops.arange(total + 1)[None, :] < 1,
            stop_token_ids=(EOS_ID,), model=self)
        return _after_end_padded(out[:, 1:])

    def beam_search(self, source_ids, beam_size=None, length_penalty=None):
        """(batch, S) ids -> (batch, L) best target ids by beam search: each beam's summed
        log-probability over (5 + length)^alpha / 6^alpha (GNMT), with beam_size 1 greedy."""
        k = beam_size or self.settings["beam_size"]
        alpha = self.settings["length_penalty"] if length_penalty is None else length_penalty
        source_mask = ops.not_equal(source_ids, PAD_ID)
        memory, keys, state = self.encode(source_ids, source_mask)
        batch, length = ops.shape(source_ids)[0], ops.shape(source_ids)[1]
        total = self.settings["max_length_factor"] * length + self.settings["max_length_offset"]
        vocabulary = self.target_tokenizer.vocabulary_size

        def beams(x):  # (batch, ...) -> (batch * k, ...), each row k times
            return ops.repeat(x, k, axis=0)

        memory, keys, source_mask = beams(memory), beams(keys), beams(source_mask)
        limits = beams(self._limits(source_ids))
        eos_only, pad_only = self._only(EOS_ID), self._only(PAD_ID)
        first = ops.convert_to_tensor([0.0] + [-1e9] * (k - 1))  # one live beam to start
        loop_vars = (0, ops.zeros((batch * k, total), "int32"),
                     ops.full((batch * k,), BOS_ID, "int32"), ops.tile(first, [batch]),
                     ops.zeros((batch * k,), "bool"), ops.zeros((batch * k,), "int32"),
                     tuple(beams(s) for s in state))

        def cond(t, tokens, last, scores, finished, lengths, state):
            return ops.logical_and(t < total, ops.logical_not(ops.all(finished)))

        def body(t, tokens, last, scores, finished, lengths, state):
            out, state, _ = self.step(self.target_embedding(last), state, memory, keys,
                                      source_mask)
            logp = ops.log_softmax(self.output_layer(out), axis=-1)
            logp = ops.where((t + 1 >= limits)[:, None], eos_only, logp)
            logp = ops.where(finished[:, None], pad_only, logp)  # an ended beam stays as is
            candidates = ops.reshape(scores[:, None] + logp, (-1, k * vocabulary))
            top, index = _top_k(candidates, k)
            parent = ops.reshape(ops.arange(batch)[:, None] * k + index // vocabulary, (-1,))
            token = ops.cast(ops.reshape(index % vocabulary, (-1,)), "int32")
            ended = ops.take(finished, parent, axis=0)
            tokens = ops.slice_update(ops.take(tokens, parent, axis=0), [0, t], token[:, None])
            lengths = ops.take(lengths, parent, axis=0) + ops.cast(~ended, "int32")
            state = tuple(ops.take(s, parent, axis=0) for s in state)
            return (t + 1, tokens, token, ops.reshape(top, (-1,)),
                    ended | ops.equal(token, EOS_ID), lengths, state)

        _, tokens, _, scores, _, lengths, _ = ops.while_loop(cond, body, loop_vars)
        penalty = ((5.0 + ops.cast(lengths, "float32")) / 6.0) ** alpha
        best = ops.argmax(ops.reshape(scores / penalty, (-1, k)), axis=1)
        tokens = ops.reshape(tokens, (-1, k, total))
        return ops.take_along_axis(tokens, best[:, None, None], axis=1)[:, 0]

    def _only(self, token):
        """Log-probabilities that allow only `token`."""
        allowed = ops.equal(ops.arange(self.target_tokenizer.vocabulary_size), token)
        return ops.where(allowed, 0.0, -1e9)[None, :]

    def translate(self, texts, beam_size=1, batch_size=64):
        """Raw source strings -> translations (greedy with beam_size 1, else beam search)."""
        texts = list(texts)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths together
        out = [None] * len(texts)
        for start in range(0, len(texts), batch_size):
            chunk = order[start : start + batch_size]
            ids = self.source_ids([texts[i] for i in chunk])
            ids = self.greedy(ids) if beam_size == 1 else self.beam_search(ids, beam_size)
            # Each row: its words, [EOS], then padding; decode drops the special tokens.
            for i, text in zip(chunk, self.target_tokenizer.decode(np.asarray(ids))):
                out[i] = text
        return out

    def attention_map(self, source, target):
        """(source tokens, target tokens, weights (T, S)) of teacher-forcing `target`."""
        features = make_features(self, [source], [target])
        _, weights = self.call_with_attention({k: np.asarray(v) for k, v in features.items()})
        src = [self.source_tokenizer.vocabulary[i] for i in features["encoder_token_ids"][0]]
        tgt = [self.target_tokenizer.vocabulary[i] for i in features["decoder_token_ids"][0]]
        return src, tgt[1:] + ["[EOS]"], np.asarray(weights)[0]

    def get_config(self):
        return {**super().get_config(),
                "source_tokenizer": keras.saving.serialize_keras_object(self.source_tokenizer),
                "target_tokenizer": keras.saving.serialize_keras_object(self.target_tokenizer),
                **self.settings}


def _top_k(x, k):
    """`ops.top_k` by k argmax passes: JAX 0.10 lowers `top_k` to a StableHLO composite that
    TensorFlow 2.21 cannot load from a SavedModel; argmax lowers to a plain reduction."""
    values, indices = [], []
    positions = ops.arange(ops.shape(x)[1])[None, :]
    for _ in range(k):
        i = ops.argmax(x, axis=1)
        values.append(ops.take_along_axis(x, i[:, None], axis=1)[:, 0])
        indices.append(i)
        x = ops.where(positions == i[:, None], -np.inf, x)
    return ops.stack(values, axis=1), ops.cast(ops.stack(indices, axis=1), "int32")


def _after_end_padded(ids):
    """Padding after each row's first [EOS] (samplers leave other ids there)."""
    ended = ops.cumsum(ops.cast(ops.equal(ids, EOS_ID), "int32"), axis=1)
    after = (ended - ops.cast(ops.equal(ids, EOS_ID), "int32")) > 0
    return ops.where(after, ops.zeros_like(ids), ids)


# -- data, metric and training ----------------------------------------------------------------
def load(path, source, target, data_dir=None, split="train"):
    """[(source, target)] from a folder of line-aligned `{split}.{lang}` files (Multi30k) or
    from one tab-separated pairs file."""
    path = data_lib.resolve(path, data_dir)
    if os.path.isdir(path):
        return data_lib.read_parallel(os.path.join(path, f"{split}.{source}"),
                                      os.path.join(path, f"{split}.{target}"))
    return data_lib.read_pairs(path)


def make_features(model, sources, targets):
    """Padded features of one batch (and nothing else): for teacher forcing and tests."""
    src = model.source_tokenizer(sources)[:, : model.settings["max_source_length"]]
    tgt = model.target_tokenizer(targets)
    bos = tf.fill([tgt.nrows(), 1], BOS_ID)
    decoder = tf.concat([bos, tgt], axis=1).to_tensor(PAD_ID)
    encoder = src.to_tensor(PAD_ID)
    return {"encoder_token_ids": encoder, "encoder_padding_mask": encoder != PAD_ID,
            "decoder_token_ids": decoder, "decoder_padding_mask": decoder != PAD_ID}


def make_dataset(model, pairs, batch_size, shuffle=False, seed=0,
                 boundaries=(8, 12, 16, 20, 24, 32, 48)):
    """Batches bucketed by target length: (features, labels = target + [EOS], padding mask as
    sample_weight). The decoder reads [BOS] + target (teacher forcing). Source and target
    widths round up to multiples of 8, so few batch shapes compile."""
    sources, targets = zip(*pairs)
    src = model.source_tokenizer(sources)[:, : model.settings["max_source_length"]]
    tgt = model.target_tokenizer(targets)
    ends = tf.fill([tgt.nrows(), 1], EOS_ID)
    decoder_in = tf.concat([tf.fill([tgt.nrows(), 1], BOS_ID), tgt], axis=1)
    labels = tf.concat([tgt, ends], axis=1)
    ds = tf.data.Dataset.from_tensor_slices((decoder_in, labels, src))
    ds = ds.map(lambda *x: tuple(t.to_tensor(PAD_ID) if isinstance(t, tf.RaggedTensor) else t
                                 for t in x))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    ds = bucket_by_length(ds, list(decoder_in.row_lengths().numpy()), batch_size, boundaries)

    def to_features(decoder, labels, encoder):
        decoder, labels = pad_to_multiple(decoder, 8, PAD_ID), pad_to_multiple(labels, 8, PAD_ID)
        encoder = pad_to_multiple(encoder, 8, PAD_ID)
        features = {"encoder_token_ids": encoder, "encoder_padding_mask": encoder != PAD_ID,
                    "decoder_token_ids": decoder, "decoder_padding_mask": decoder != PAD_ID}
        return features, labels, tf.cast(decoder != PAD_ID, tf.float32)

    return ds.map(to_features).prefetch(tf.data.AUTOTUNE)


def bleu(model, pairs, beam_size=1):
    """sacrebleu's corpus BLEU of the model's translations against the references (lowercased
    on both sides when the model lowercases). Returns (BLEU object, translations)."""
    import sacrebleu

    sources, references = zip(*pairs)
    hypotheses = model.translate(sources, beam_size=beam_size)
    lowercase = model.target_tokenizer.lowercase
    return sacrebleu.corpus_bleu(hypotheses, [list(references)], lowercase=lowercase), hypotheses


def build_model(config, train_pairs):
    sources, targets = zip(*train_pairs)
    tokenizers = [TranslationTokenizer.learn(texts, config.tokenization, config.vocabulary_size,
                                             config.lowercase) for texts in (sources, targets)]
    model = Translator(*tokenizers, cell=config.cell, embed_dim=config.embed_dim,
                       units=config.units, num_layers=config.num_layers,
                       attention=config.attention, dropout=config.dropout,
                       label_smoothing=config.label_smoothing,
                       max_source_length=config.max_source_length,
                       max_length_factor=config.max_length_factor,
                       max_length_offset=config.max_length_offset, beam_size=config.beam_size,
                       length_penalty=config.length_penalty, seed=config.seed)
    model.compile(keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm))
    model.build()
    return model


def train(config, train_pairs, dev_pairs, callbacks=(), verbose="auto"):
    """Returns (model, history); with `patience`, the weights of the best dev-loss epoch."""
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, train_pairs)
    ds = make_dataset(model, train_pairs, config.batch_size, shuffle=True, seed=config.seed)
    dev = make_dataset(model, dev_pairs, config.batch_size)
    callbacks = list(callbacks)
    if config.plateau_factor:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            "val_loss", factor=config.plateau_factor, patience=0, verbose=0))
    if config.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            "val_loss", patience=config.patience, restore_best_weights=True))
    history = model.fit(ds, validation_data=dev, epochs=config.epochs, callbacks=callbacks,
                        verbose=verbose, shuffle=False)  # the dataset shuffles itself
    return model, history


# -- script ----------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.translator",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "evaluate", "translate", "export"])
    parser.add_argument("texts", nargs="*", help="translate: source sentences")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--data", help="a folder of {split}.{lang} files (e.g. multi30k), as a "
                        "path or a name in --data-dir")
    parser.add_argument("--train", help="training pairs file (source<TAB>target)")
    parser.add_argument("--dev", help="dev pairs file (source<TAB>target)")
    parser.add_argument("--src", default="de")
    parser.add_argument("--tgt", default="en")
    parser.add_argument("--dev-split", default="val", help="--data: the dev split's name")
    parser.add_argument("--data-dir", help=f"where named data is (default: ${data_lib.DATA_ENV})")
    parser.add_argument("--attention", choices=ATTENTIONS, help="override the preset's")
    parser.add_argument("--epochs", type=int, help="override the preset's")
    parser.add_argument("--beam-size", type=int, default=1, help="1: greedy")
    parser.add_argument("--model", default="saved_models/translator.keras")
    parser.add_argument("--out", default="saved_models/translator", help="export: SavedModel dir")
    parser.add_argument("--backup-dir", help="train: checkpoints to resume an interrupted run")
    args = parser.parse_args(argv)
    verbose = 1 if sys.stdout.isatty() else 2

    def pairs(split, path):
        if not (path or args.data):
            parser.error(f"{args.command} needs --data, or --train and --dev")
        return load(path or args.data, args.src, args.tgt, args.data_dir, split)

    if args.command == "train":
        overrides = {k: v for k, v in (("attention", args.attention), ("epochs", args.epochs))
                     if v}
        config = dataclasses.replace(PRESETS[args.preset], **overrides)
        print(f"kerasrnn translator, {keras.backend.backend()} backend: {config}")
        callbacks = [keras.callbacks.BackupAndRestore(args.backup_dir)] if args.backup_dir \
            else []
        dev = pairs(args.dev_split, args.dev)
        model, _ = train(config, pairs("train", args.train), dev, callbacks, verbose)
        os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
        model.save(args.model)
        score, _ = bleu(model, dev, args.beam_size)
        print(f"dev {score}\nsaved {args.model}")
        return score.score
    model = keras.saving.load_model(args.model)
    if args.command == "evaluate":
        score, _ = bleu(model, pairs(args.dev_split, args.dev), args.beam_size)
        print(score)
        return score.score
    if args.command == "translate":
        texts = args.texts or ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
        out = model.translate(texts, beam_size=args.beam_size)
        for source, translation in zip(texts, out):
            print(f"{source}\n  -> {translation}")
        return out
    from tasks import translator_export

    path = translator_export.export(model, args.out)
    print(f"exported a SavedModel with translate (greedy, the default) and translate_beam: "
          f"{path}")
    return path


if __name__ == "__main__":
    main()

