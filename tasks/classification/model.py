"""`TextClassifier`: a bidirectional kerasrnn classifier over raw strings (the sentiment task
and the character-level classifier; its preprocessor decides what a token is)."""

import keras
import numpy as np
from keras import ops

import kerasrnn
from tasks.cells import cell_options, check_cell, stack_class
from tasks.task import Task, as_list, text_list
from tasks.tokenizers import UNK_ID

POOLINGS = ("last", "max", "mean", "attention")


@keras.saving.register_keras_serializable(package="kerasrnn")
class TextClassifier(Task):
    """Bidirectional kerasrnn classifier over raw strings.

    `fit`, `evaluate` and `predict` accept raw strings (a list, a numpy array or a tf string
    tensor) and label names or ids; they also accept the preprocessed features (a dict with
    `token_ids` and `padding_mask`) or a `tf.data.Dataset` of them, as any Keras model.

    Pooling over the bidirectional outputs h_t (padded steps never count):
        last       [forward state at the last real token ; backward state at the first]
        max        max_t h_t over real steps
        mean       sum_t h_t / number of real steps
        attention  a_t = softmax_t(v · tanh(W h_t + b)) over real steps; sum_t a_t h_t
    A text with no tokens (all padding) pools to zeros.

    Args:
        preprocessor: a `TokenPreprocessor` (strings -> `{"token_ids", "padding_mask"}`;
            e.g. a `SentimentPreprocessor` of words), or its config.
        labels: class names; class i is output i.
        cell: a name in `tasks.cells.CELLS` ("lstm", "gru", "mingru", ...).
        embed_dim, units, num_layers: sizes (units per direction).
        pooling: one of "last", "max", "mean", "attention".
        embedding_dropout: dropout on the token vectors; dropout: between recurrent layers and
            before the classifier.
        word_dropout: in training, each token becomes `[UNK]` with this probability (so the
            model learns to do without rare and unseen words).

    Call arguments:
        inputs: the preprocessor's dict. Returns logits `(batch, len(labels))`.

    Example:
        >>> model.predict(["a gorgeous, witty film", "dull"])  # doctest: +SKIP
        {'label': array(['positive', 'negative'], ...), 'probabilities': array(...)}
    """

    serving = "classifier"

    def __init__(self, preprocessor, labels, cell="lstm", embed_dim=300, units=150,
                 num_layers=1, pooling="max", embedding_dropout=0.5, dropout=0.5,
                 word_dropout=0.0, seed=None, **kwargs):
        super().__init__(preprocessor, **kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
        check_cell(cell)
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"`labels` must be at least two distinct names. Received: {labels}")
        self.labels = [str(label) for label in labels]
        self.cell, self.embed_dim, self.units, self.num_layers = cell, embed_dim, units, num_layers
        self.pooling, self.embedding_dropout, self.dropout = pooling, embedding_dropout, dropout
        self.word_dropout, self.seed = word_dropout, seed
        self.embedding = keras.layers.Embedding(len(self.preprocessor.vocabulary), embed_dim,
                                                name="embedding")
        self.embedding_dropout_layer = kerasrnn.Dropout(embedding_dropout, seed=seed)
        self.rnn = stack_class(cell)(units, num_layers=num_layers, bidirectional=True,
                             inter_layer_dropout=dropout, return_sequences=pooling != "last",
                             seed=seed, name="rnn", **cell_options(cell))
        if pooling == "attention":
            self.attention_hidden = keras.layers.Dense(units, activation="tanh",
                                                       name="attention_hidden")
            self.attention_score = keras.layers.Dense(1, use_bias=False, name="attention_score")
        self.dropout_layer = kerasrnn.Dropout(dropout, seed=seed)
        self.classifier = keras.layers.Dense(len(self.labels), name="classifier")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        self.rnn.build((None, None, self.embed_dim))
        if self.pooling == "attention":
            self.attention_hidden.build((None, None, 2 * self.units))
            self.attention_score.build((None, None, self.units))
        self.classifier.build((None, 2 * self.units))
        self.built = True

    def layer_groups(self):
        """Layer paths from the input up, for `tasks.fine_tuning.LayerwiseAdam`: the
        embedding, then each recurrent layer; the layers above them form the top group."""
        return [self.embedding.name, *(f"{self.rnn.name}/{layer.name}"
                                       for layer in self.rnn.rnn_layers)]

    def start_from(self, lm):
        """Starts from a trained word LM (ULMFiT): its embedding becomes this model's, its
        layer i the forward direction of layer i (`tasks.language_model.encoder.copy_encoder`).
        The model must read the LM's vocabulary, with its cell and sizes."""
        from tasks.language_model.encoder import check_encoder_lm, copy_encoder

        check_encoder_lm(lm)
        if list(lm.tokenizer.vocabulary) != list(self.preprocessor.vocabulary):
            raise ValueError("The model's vocabulary is not the LM's: build its preprocessor "
                             "from the LM's vocabulary. Received: an LM of "
                             f"{len(lm.tokenizer.vocabulary)} tokens and a model of "
                             f"{len(self.preprocessor.vocabulary)}")
        if not self.built:
            self.build()
        copy_encoder(lm, self.embedding, self.rnn)

    def encode(self, inputs, training=False):
        """Pooled sentence vectors `(batch, 2·units)` and the attention weights `(batch, T)`
        (None unless pooling is "attention")."""
        mask, token_ids = ops.cast(inputs["padding_mask"], "bool"), inputs["token_ids"]
        if training and self.word_dropout > 0:
            drop = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
            token_ids = ops.where((drop < self.word_dropout) & mask, UNK_ID, token_ids)
        x = self.embedding_dropout_layer(self.embedding(token_ids), training=training)
        h = self.rnn(x, mask=mask, training=training)
        if self.pooling == "last":
            return h, None
        m = ops.cast(mask, h.dtype)[..., None]  # (batch, T, 1)
        if self.pooling == "max":
            # Real steps only; a row with none gives zeros rather than -inf.
            pooled = ops.max(ops.where(m > 0, h, ops.full_like(h, -1e9)), axis=1)
            return ops.where(ops.sum(m, axis=1) > 0, pooled, ops.zeros_like(pooled)), None
        if self.pooling == "mean":
            return ops.sum(h * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0), None
        scores = self.attention_score(self.attention_hidden(h))[..., 0]  # (batch, T)
        scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1) * m[..., 0]  # exact zeros on padding
        return ops.einsum("bt,btd->bd", weights, h), weights

    def call(self, inputs, training=False):
        pooled, _ = self.encode(inputs, training=training)
        return self.classifier(self.dropout_layer(pooled, training=training))

    # -- the Task contract -------------------------------------------------------------------
    def default_loss(self):
        # The weighted mean: rows of weight 0 (JAX's padding of a last batch for several
        # devices, tasks/distribution.py) change nothing; unweighted it is the plain mean.
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight")

    def default_weighted_metrics(self):  # weighted: padding rows (weight 0) do not count
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def label_ids(self, labels):
        """Label names (or ids) -> int32 ids; an unknown label is an error that names it."""
        index = {name: i for i, name in enumerate(self.labels)}
        out = []
        for position, label in enumerate(labels):
            key = str(label.decode() if isinstance(label, bytes) else label)
            if key in index:
                out.append(index[key])
            elif isinstance(label, (int, np.integer)) and 0 <= label < len(self.labels):
                out.append(int(label))
            else:
                raise ValueError(f"label {position} is {label!r}; expected one of {self.labels} "
                                 f"or an id below {len(self.labels)}")
        return np.asarray(out, "int32")

    def raw_dataset(self, x, y=None, batch_size=None, shuffle=False):
        """Length-bucketed batches of (features, label ids), shuffled with the model's seed."""
        label_ids = None if y is None else self.label_ids(as_list(y))
        return self.preprocessor.dataset(x, label_ids, batch_size or (32 if shuffle else 64),
                                         shuffle=shuffle, seed=self.seed or 0)

    def predict_raw(self, x, batch_size=None, **kwargs):
        """`{"label": names, "probabilities": (n, classes)}` in input order (as the
        SavedModel's `serve`)."""
        texts = text_list("x", x)
        if not texts:
            return {"label": np.asarray([], str), "probabilities":
                    np.zeros((0, len(self.labels)), "float32")}
        # Sorted by length, so that a batch holds texts of similar lengths; unsorted after.
        order = np.argsort([len(t) for t in texts], kind="stable")
        batches = self.preprocessor.dataset([texts[i] for i in order], bucket=False,
                                            batch_size=batch_size or 64)
        logits = np.asarray(keras.Model.predict(self, batches, **kwargs), "float32")
        probabilities = np.empty_like(logits)
        probabilities[order] = np.asarray(ops.softmax(logits, axis=-1))
        return {"label": np.asarray(self.labels)[probabilities.argmax(-1)],
                "probabilities": probabilities}

    def attention_weights(self, texts):
        """(tokens, weights) per text: how much each token counts (attention pooling only)."""
        if self.pooling != "attention":
            raise ValueError(f"attention weights need pooling='attention'. Received: "
                             f"pooling={self.pooling!r}")
        tokens = self.preprocessor.tokens(as_list(texts))
        features = {k: np.asarray(v) for k, v in self.preprocessor.features(tokens).items()}
        weights = np.asarray(self.encode(features)[1])
        return [([t.decode() for t in row], w[: len(row)])
                for row, w in zip(tokens.to_list(), weights)]
