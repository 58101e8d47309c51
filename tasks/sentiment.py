"""A sentence classifier (binary or multi-class) that fits and predicts on raw strings.

    python -m tasks.sentiment train --data sst --classes 2 --data-dir ../shared/data
    python -m tasks.sentiment train --train reviews.csv --dev dev.csv --text-column review \
        --label-column stars
    python -m tasks.sentiment evaluate --model saved_models/sentiment.keras --data sst
    python -m tasks.sentiment predict --model ... "a gorgeous , witty film" "dull"
    python -m tasks.sentiment export --model ... --out saved_models/sentiment

Words -> stacked bidirectional kerasrnn LSTM / GRU -> masked pooling over time (the last valid
state of each direction, masked max, masked mean, or attention) -> dropout -> Dense. Text is
normalized and split with TensorFlow string ops (`SentimentPreprocessor`), the same in tf.data
and in the SavedModel. Padding never reaches the prediction: a sentence alone or padded inside a
batch gives the same probabilities.
"""

import argparse
import dataclasses
import os
import sys

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import kerasrnn
from tasks import data as data_lib
from tasks.text import (
    PAD_ID,
    UNK_ID,
    TextTokenizer,
    bucket_by_length,
    build_vocabulary,
    split_punctuation,
)

SST_LABELS = {2: ["negative", "positive"],
              5: ["very negative", "negative", "neutral", "positive", "very positive"]}
POOLINGS = ("last", "max", "mean", "attention")


@dataclasses.dataclass
class Config:
    classes: int = 2  # SST: 2 (binary, neutral dropped) or 5; CSV data: from the labels
    phrases: bool = True  # SST: also train on every labelled phrase (dev: sentences only)
    cell: str = "lstm"  # "lstm" or "gru"
    embed_dim: int = 300
    units: int = 150
    num_layers: int = 1
    pooling: str = "max"  # "last", "max", "mean" or "attention"
    embedding_dropout: float = 0.5
    dropout: float = 0.5  # between recurrent layers and before the classifier
    word_dropout: float = 0.0  # a training word becomes [UNK] with this probability
    lowercase: bool = True
    min_count: int = 1
    max_length: int = 256  # tokens kept per text
    truncate: str = "tail"  # longer texts lose their "tail" (end) or their "head" (start)
    class_weight: bool = False  # weigh classes by inverse frequency
    batch_size: int = 64
    epochs: int = 8
    learning_rate: float = 1e-3
    clipnorm: float = 5.0
    ema_momentum: float = 0.999  # > 0: validate and keep a moving average of the weights
    patience: int = 3  # early stopping on dev accuracy
    seed: int = 0


PRESETS = {
    "binary": Config(),
    "fine": Config(classes=5),
    "tiny": Config(embed_dim=16, units=8, embedding_dropout=0.0, dropout=0.0, batch_size=8,
                   epochs=3, learning_rate=1e-2, ema_momentum=0.0, patience=0),
}


@keras.saving.register_keras_serializable(package="kerasrnn")
class SentimentPreprocessor:
    """Raw strings -> `{"token_ids": (batch, T), "padding_mask": (batch, T)}` with TF ops.

    Text is split as the Penn Treebank (and so SST) does: punctuation and the clitics "n't",
    "'s", "'re", "'ve", "'ll", "'d", "'m" become tokens of their own, so "It's great!" and the
    treebank's "it 's great !" give the same ids. Unknown words map to `[UNK]`; texts longer
    than `max_length` tokens lose their end (`truncate="tail"`) or their start ("head"). An
    empty text gives one padding step (the model then predicts from no evidence: its bias).

    Args:
        vocabulary: word list starting with the specials (`tasks.text.build_vocabulary`).
        lowercase, max_length, truncate: as above.
    """

    def __init__(self, vocabulary, lowercase=True, max_length=256, truncate="tail"):
        if truncate not in ("tail", "head"):
            raise ValueError(f"`truncate` must be 'tail' or 'head'. Received: "
                             f"truncate={truncate!r}")
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"`max_length` must be a positive integer. Received: "
                             f"max_length={max_length!r}")
        self.tokenizer = TextTokenizer(vocabulary, lowercase=lowercase)
        self.max_length, self.truncate = max_length, truncate

    def tokens(self, texts):
        """(batch,) strings -> ragged (batch, None) normalized, truncated tokens."""
        tokens = self.tokenizer.split(split_punctuation(texts))
        if self.truncate == "tail":
            return tokens[..., : self.max_length]
        return tokens[..., -self.max_length:]

    def features(self, tokens):
        """(batch, T) tokens, "" as padding -> the model's inputs (at least one step)."""
        if isinstance(tokens, tf.RaggedTensor):
            tokens = tokens.to_tensor("")
        tokens = tf.pad(tokens, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(tokens)[1])]])
        mask = tf.not_equal(tokens, "")
        keys = tf.strings.lower(tokens, encoding="utf-8") if self.tokenizer.lowercase else tokens
        ids = tf.where(mask, self.tokenizer._table.lookup(keys), PAD_ID)
        return {"token_ids": ids, "padding_mask": mask}

    def __call__(self, texts):
        return self.features(self.tokens(texts))

    @property
    def vocabulary(self):
        return self.tokenizer.vocabulary

    def get_config(self):
        return {"vocabulary": self.vocabulary, "lowercase": self.tokenizer.lowercase,
                "max_length": self.max_length, "truncate": self.truncate}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerasrnn")
class SentimentClassifier(keras.Model):
    """Bidirectional kerasrnn classifier over raw strings.

    `fit`, `evaluate` and `predict` accept raw strings (a list, a numpy array or a tf string
    tensor) and label names or ids; they also accept the preprocessed features (a dict with
    `token_ids` and `padding_mask`) or a `tf.data.Dataset` of them, as any Keras model.

    Pooling over the bidirectional outputs h_t (padded steps never count):
        last       [forward state at the last real word ; backward state at the first]
        max        max_t h_t over real steps
        mean       sum_t h_t / number of real steps
        attention  a_t = softmax_t(v · tanh(W h_t + b)) over real steps; sum_t a_t h_t
    A text with no words (all padding) pools to zeros.

    Args:
        preprocessor: a `SentimentPreprocessor` (or its config).
        labels: class names; class i is output i.
        cell: "lstm" or "gru". embed_dim, units, num_layers: sizes (units per direction).
        pooling: one of "last", "max", "mean", "attention".
        embedding_dropout: dropout on the word vectors; dropout: between recurrent layers and
            before the classifier.
        word_dropout: in training, each word becomes `[UNK]` with this probability (so the
            model learns to do without rare and unseen words).

    Call arguments:
        inputs: the preprocessor's dict. Returns logits `(batch, len(labels))`.

    Example:
        >>> model.predict(["a gorgeous, witty film", "dull"])  # doctest: +SKIP
        {'label': array(['positive', 'negative'], ...), 'probabilities': array(...)}
    """

    def __init__(self, preprocessor, labels, cell="lstm", embed_dim=300, units=150,
                 num_layers=1, pooling="max", embedding_dropout=0.5, dropout=0.5,
                 word_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"`cell` must be 'lstm' or 'gru'. Received: cell={cell!r}")
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"`labels` must be at least two distinct names. Received: {labels}")
        self.preprocessor, self.labels = preprocessor, [str(label) for label in labels]
        self.sizes = dict(cell=cell, embed_dim=embed_dim, units=units, num_layers=num_layers,
                          pooling=pooling, embedding_dropout=embedding_dropout, dropout=dropout,
                          word_dropout=word_dropout)
        self.seed = seed
        self.embedding = keras.layers.Embedding(len(preprocessor.vocabulary), embed_dim,
                                                name="embedding")
        self.embedding_dropout = keras.layers.Dropout(embedding_dropout, seed=seed)
        rnn_class = kerasrnn.LSTM if cell == "lstm" else kerasrnn.GRU
        self.rnn = rnn_class(units, num_layers=num_layers, bidirectional=True,
                             inter_layer_dropout=dropout, return_sequences=pooling != "last",
                             seed=seed, name="rnn")
        if pooling == "attention":
            self.attention_hidden = keras.layers.Dense(units, activation="tanh",
                                                       name="attention_hidden")
            self.attention_score = keras.layers.Dense(1, use_bias=False, name="attention_score")
        self.dropout = keras.layers.Dropout(dropout, seed=seed)
        self.classifier = keras.layers.Dense(len(self.labels), name="classifier")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        s = self.sizes
        self.embedding.build((None, None))
        self.rnn.build((None, None, s["embed_dim"]))
        if s["pooling"] == "attention":
            self.attention_hidden.build((None, None, 2 * s["units"]))
            self.attention_score.build((None, None, s["units"]))
        self.classifier.build((None, 2 * s["units"]))
        self.built = True

    def encode(self, inputs, training=False):
        """Pooled sentence vectors `(batch, 2·units)` and the attention weights `(batch, T)`
        (None unless pooling is "attention")."""
        mask, token_ids = ops.cast(inputs["padding_mask"], "bool"), inputs["token_ids"]
        if training and self.sizes["word_dropout"] > 0:
            drop = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
            token_ids = ops.where((drop < self.sizes["word_dropout"]) & mask, UNK_ID, token_ids)
        x = self.embedding_dropout(self.embedding(token_ids), training=training)
        h = self.rnn(x, mask=mask, training=training)
        pooling = self.sizes["pooling"]
        if pooling == "last":
            return h, None
        m = ops.cast(mask, h.dtype)[..., None]  # (batch, T, 1)
        if pooling == "max":
            # Real steps only; a row with none gives zeros rather than -inf.
            pooled = ops.max(ops.where(m > 0, h, ops.full_like(h, -1e9)), axis=1)
            return ops.where(ops.sum(m, axis=1) > 0, pooled, ops.zeros_like(pooled)), None
        if pooling == "mean":
            return ops.sum(h * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0), None
        scores = self.attention_score(self.attention_hidden(h))[..., 0]  # (batch, T)
        scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1) * m[..., 0]  # exact zeros on padding
        return ops.einsum("bt,btd->bd", weights, h), weights

    def call(self, inputs, training=False):
        pooled, _ = self.encode(inputs, training=training)
        return self.classifier(self.dropout(pooled, training=training))

    # -- training ----------------------------------------------------------------------------
    def compile(self, optimizer="auto", loss="auto", metrics="auto", jit_compile=True,
                **kwargs):
        """Defaults: Adam(1e-3, clipnorm=5), cross-entropy on the logits, accuracy, and an
        XLA-compiled step on every backend."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3, clipnorm=5.0)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        # Keras skips this for a custom `compile`; ours takes the same (deserialized) arguments.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

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

    def text_dataset(self, texts, labels=None, batch_size=32, shuffle=False, seed=0,
                     bucket=True, boundaries=(8, 16, 24, 32, 48, 64, 128)):
        """Raw strings (and labels) -> batches of `(features[, label ids])`, length-bucketed
        (which reorders the texts) or, with `bucket=False`, in order, each batch padded to its
        longest text."""
        texts = [t.decode() if isinstance(t, bytes) else str(t) for t in _as_list(texts)]
        if not texts:
            raise ValueError("`texts` is empty: nothing to batch.")
        tokens = self.preprocessor.tokens(tf.constant(texts))
        parts = [tokens]
        if labels is not None:
            labels = _as_list(labels)
            if len(labels) != len(texts):
                raise ValueError(f"{len(labels)} labels for {len(texts)} texts.")
            parts.append(self.label_ids(labels))
        ds = tf.data.Dataset.from_tensor_slices(tuple(parts))
        ds = ds.map(lambda t, *y: (t.to_tensor("") if isinstance(t, tf.RaggedTensor) else t, *y))
        if shuffle:
            ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        padding = ("", 0)[: len(parts)]
        if bucket:
            ds = bucket_by_length(ds, list(tokens.row_lengths().numpy()), batch_size,
                                  boundaries, padding_values=padding)
        else:
            ds = ds.padded_batch(batch_size, padding_values=padding)
        return ds.map(lambda t, *y: (self.preprocessor.features(t), *y)).prefetch(
            tf.data.AUTOTUNE)

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, shuffle=True,
            **kwargs):
        if _is_text(x):
            x = self.text_dataset(x, y, batch_size or 32, shuffle=shuffle, seed=self.seed or 0)
            y, batch_size, shuffle = None, None, False  # the dataset shuffles itself
        if isinstance(validation_data, (tuple, list)) and _is_text(validation_data[0]):
            validation_data = self.text_dataset(*validation_data[:2], batch_size or 64)
        return super().fit(x, y, batch_size=batch_size, validation_data=validation_data,
                           shuffle=shuffle, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        if _is_text(x):
            x, y, batch_size = self.text_dataset(x, y, batch_size or 64), None, None
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """On raw strings: `{"label": names, "probabilities": (n, classes)}`, in input order
        (as the SavedModel's `serve`). On features: the logits, as any Keras model."""
        if not _is_text(x):
            return super().predict(x, batch_size=batch_size, **kwargs)
        texts = _as_list(x)
        # Sorted by length, so that a batch holds texts of similar lengths; unsorted after.
        order = np.argsort([len(t) for t in texts], kind="stable")
        logits = super().predict(self.text_dataset([texts[i] for i in order], bucket=False,
                                                   batch_size=batch_size or 64), **kwargs)
        probabilities = np.empty_like(logits)
        probabilities[order] = np.asarray(ops.softmax(logits, axis=-1))
        return {"label": np.asarray(self.labels)[probabilities.argmax(-1)],
                "probabilities": probabilities}

    def attention_weights(self, texts):
        """(tokens, weights) per text: how much each word counts (attention pooling only)."""
        if self.sizes["pooling"] != "attention":
            raise ValueError(f"attention weights need pooling='attention'. Received: "
                             f"pooling={self.sizes['pooling']!r}")
        tokens = self.preprocessor.tokens(tf.constant(_as_list(texts)))
        features = {k: np.asarray(v) for k, v in self.preprocessor.features(tokens).items()}
        weights = np.asarray(self.encode(features)[1])
        return [([t.decode() for t in row], w[: len(row)])
                for row, w in zip(tokens.to_list(), weights)]

    def get_config(self):
        return {**super().get_config(),
                "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
                "labels": self.labels, **self.sizes, "seed": self.seed}


def _as_list(values):
    if isinstance(values, (tf.Tensor, np.ndarray)):
        values = np.asarray(values).tolist()
    return list(values)


def _is_text(x):
    if isinstance(x, str):
        raise ValueError("Pass a list of strings, not a single string. Received: x="
                         f"{x[:40]!r}")
    if isinstance(x, tf.Tensor):
        return x.dtype == tf.string
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO"
    return isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (str, bytes))


# -- data, metrics and training ---------------------------------------------------------------
def load(path, config, data_dir=None, split="train", text_column="text", label_column="label"):
    """(texts, label names). SST trees (`.txt` of bracketed trees) or CSV/TSV columns; for SST
    the `train` split adds the labelled phrases when `config.phrases`."""
    path = data_lib.resolve(path, data_dir)
    if os.path.isdir(path):  # an SST folder: train.txt / dev.txt
        path = os.path.join(path, f"{split}.txt")
    if path.endswith((".csv", ".tsv", ".tab")):
        return data_lib.read_labelled(path, text_column, label_column)
    texts, labels = data_lib.read_sst(path, config.classes,
                                      phrases=config.phrases and split == "train")
    return texts, [SST_LABELS[config.classes][label] for label in labels]


def make_preprocessor(texts, config):
    splitter = SentimentPreprocessor(build_vocabulary([]), config.lowercase, config.max_length,
                                     config.truncate)
    tokens = splitter.tokens(tf.constant(list(texts))).to_list()
    words = build_vocabulary(([w.decode().lower() if config.lowercase else w.decode()
                               for w in row] for row in tokens), min_count=config.min_count)
    return SentimentPreprocessor(words, config.lowercase, config.max_length, config.truncate)


def scores(model, texts, labels):
    """Accuracy, per-class precision / recall / F1, macro F1 and the confusion matrix
    (rows: gold, columns: predicted) on raw strings."""
    gold = model.label_ids(labels)
    predicted = model.label_ids(model.predict(texts, verbose=0)["label"])
    k = len(model.labels)
    confusion = np.zeros((k, k), "int64")
    np.add.at(confusion, (gold, predicted), 1)
    tp = np.diag(confusion).astype(float)
    precision = tp / np.maximum(confusion.sum(0), 1)
    recall = tp / np.maximum(confusion.sum(1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall /
                  np.maximum(precision + recall, 1e-12), 0.0)
    per_class = {name: {"precision": precision[i], "recall": recall[i], "f1": f1[i],
                        "support": int(confusion[i].sum())} for i, name in enumerate(model.labels)}
    return {"accuracy": tp.sum() / max(len(gold), 1), "macro_f1": float(f1.mean()),
            "classes": per_class, "confusion": confusion}


def build_model(config, preprocessor, labels):
    model = SentimentClassifier(preprocessor, labels, cell=config.cell,
                                embed_dim=config.embed_dim, units=config.units,
                                num_layers=config.num_layers, pooling=config.pooling,
                                embedding_dropout=config.embedding_dropout,
                                dropout=config.dropout, word_dropout=config.word_dropout,
                                seed=config.seed)
    if not 0.0 <= config.ema_momentum < 1.0:
        raise ValueError(f"`ema_momentum` must be in [0, 1). Received: "
                         f"ema_momentum={config.ema_momentum}")
    model.compile(keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm,
                                        use_ema=config.ema_momentum > 0,
                                        ema_momentum=config.ema_momentum or 0.99))
    model.build()
    return model


def train(config, train_data, dev_data, labels=None, callbacks=(), verbose="auto"):
    """`train_data` / `dev_data`: (texts, labels). Labels default to SST's names for the
    config's classes when the data uses them, else the sorted names found in training.
    Returns (model, history, dev scores); with `patience` the best dev epoch's weights."""
    keras.utils.set_random_seed(config.seed)
    (texts, names), (dev_texts, dev_names) = train_data, dev_data
    if labels is None:
        found = sorted(set(map(str, names)))
        sst = SST_LABELS.get(config.classes, [])
        labels = sst if set(found) <= set(sst) else found
    model = build_model(config, make_preprocessor(texts, config), labels)
    class_weight = None
    if config.class_weight:
        counts = np.bincount(model.label_ids(names), minlength=len(labels))
        class_weight = {i: len(names) / (len(labels) * max(c, 1)) for i, c in enumerate(counts)}
    callbacks = list(callbacks)
    if config.ema_momentum:
        # The averaged weights are the ones validated at each epoch end, kept by early stopping
        # and left in the model; before it, so that early stopping sees them.
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    if config.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            "val_accuracy", mode="max", patience=config.patience, restore_best_weights=True))
    history = model.fit(texts, names, batch_size=config.batch_size, epochs=config.epochs,
                        validation_data=(dev_texts, dev_names), class_weight=class_weight,
                        callbacks=callbacks, verbose=verbose)
    return model, history, scores(model, dev_texts, dev_names)


def report(results):
    lines = [f"dev accuracy {100 * results['accuracy']:.2f}, macro F1 "
             f"{100 * results['macro_f1']:.2f}",
             "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name, s in results["classes"].items():
        lines.append(f"| {name} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | "
                     f"{100 * s['f1']:.2f} | {s['support']} |")
    return "\n".join(lines)


# -- script ----------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.sentiment",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "evaluate", "predict", "export"])
    parser.add_argument("texts", nargs="*", help="predict: the texts to classify")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="binary")
    parser.add_argument("--data", help="an SST folder (train.txt, dev.txt), as a path or a name "
                        "in --data-dir")
    parser.add_argument("--train", help="training file: SST trees or CSV/TSV")
    parser.add_argument("--dev", help="dev file: SST trees or CSV/TSV")
    parser.add_argument("--data-dir", help=f"where named data is (default: ${data_lib.DATA_ENV})")
    parser.add_argument("--text-column", default="text", help="CSV/TSV: header name or index")
    parser.add_argument("--label-column", default="label", help="CSV/TSV: header name or index")
    parser.add_argument("--classes", type=int, choices=[2, 5], help="SST: binary or 5-class")
    parser.add_argument("--no-phrases", action="store_true", help="SST: sentences only")
    parser.add_argument("--pooling", choices=POOLINGS, help="override the preset's")
    parser.add_argument("--cell", choices=["lstm", "gru"], help="override the preset's")
    parser.add_argument("--epochs", type=int, help="override the preset's")
    parser.add_argument("--class-weight", action="store_true", help="balance the classes")
    parser.add_argument("--model", default="saved_models/sentiment.keras")
    parser.add_argument("--out", default="saved_models/sentiment", help="export: SavedModel dir")
    parser.add_argument("--backup-dir", help="train: checkpoints to resume an interrupted run")
    args = parser.parse_args(argv)
    verbose = 1 if sys.stdout.isatty() else 2
    overrides = {k: v for k, v in (("classes", args.classes), ("pooling", args.pooling),
                                   ("cell", args.cell), ("epochs", args.epochs),
                                   ("class_weight", args.class_weight or None)) if v}
    if args.no_phrases:
        overrides["phrases"] = False
    config = dataclasses.replace(PRESETS[args.preset], **overrides)
    columns = {k: int(v) if v.isdigit() else v for k, v in
               (("text_column", args.text_column), ("label_column", args.label_column))}

    def data(split, path):
        if not (path or args.data):
            parser.error(f"{args.command} needs --data or --{split}")
        return load(path or args.data, config, args.data_dir, split, **columns)

    if args.command == "train":
        print(f"kerasrnn sentiment, {keras.backend.backend()} backend: {config}")
        callbacks = [keras.callbacks.BackupAndRestore(args.backup_dir)] if args.backup_dir \
            else []
        model, _, results = train(config, data("train", args.train), data("dev", args.dev),
                                  callbacks=callbacks, verbose=verbose)
        os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
        model.save(args.model)
        print(report(results))
        print(f"saved {args.model}")
        return results
    model = keras.saving.load_model(args.model)
    if args.command == "evaluate":
        config = dataclasses.replace(config, classes=len(model.labels))
        results = scores(model, *data("dev", args.dev))
        print(report(results))
        return results
    if args.command == "predict":
        texts = args.texts or ["a gorgeous , witty , seductive movie .",
                               "the plot is nothing but boilerplate clichés ."]
        out = model.predict(texts, verbose=0)
        for text, label, p in zip(texts, out["label"], out["probabilities"]):
            print(f"{label} ({100 * p.max():.1f}%): {text}")
        return out
    from tasks import sentiment_export

    path = sentiment_export.export(model, args.out)
    print(f"exported a SavedModel with the endpoint serve(texts) -> label, probabilities: "
          f"{path}")
    return path


if __name__ == "__main__":
    main()
