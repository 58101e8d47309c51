"""A sequence tagger for parts of speech (UD CoNLL-U) and named entities (CoNLL columns).

    python -m tasks.tagger train --scheme pos --train ud_english_ewt/en_ewt-ud-train.conllu \
        --dev ud_english_ewt/en_ewt-ud-dev.conllu --data-dir ../shared/data
    python -m tasks.tagger train --scheme ner --train conll2003/eng.train \
        --dev conll2003/eng.testa --data-dir ../shared/data --head crf
    python -m tasks.tagger evaluate --model saved_models/tagger.keras --dev ...
    python -m tasks.tagger predict --model ... "John lives in New York ."
    python -m tasks.tagger export --model ... --out saved_models/tagger

Words (+ casing, + a character-level kerasrnn BiLSTM over each word's letters) -> stacked
bidirectional kerasrnn LSTM -> per-token potentials -> softmax or a linear-chain CRF
(`tasks.crf`). Preprocessing is TensorFlow string ops (`TaggerPreprocessor`), the same in
tf.data and in the SavedModel. Padding never counts: `padding_mask` is the `sample_weight`.
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
from tasks.crf import CRF
from tasks.text import PAD_ID, UNK_ID, bucket_by_length, build_vocabulary, pad_to_multiple


@dataclasses.dataclass
class Config:
    scheme: str = "pos"  # "pos" (token accuracy) or "ner" (entity F1)
    tag_column: str = "upos"  # pos: "upos" or "xpos"
    tag_format: str = "bio"  # ner: tags converted from the file's IOB1 to "bio" or "iobes"
    head: str = "softmax"  # "softmax" or "crf"
    embed_dim: int = 100
    char_dim: int = 30  # 0: no character features
    char_units: int = 50
    max_word_length: int = 20  # characters kept per word (the first ones)
    lowercase: bool = True  # word lookup lowercased; casing goes in as its own feature
    units: int = 200
    num_layers: int = 2
    dropout: float = 0.5
    word_dropout: float = 0.05  # a training word becomes [UNK] with this probability
    min_count: int = 1
    batch_size: int = 32
    epochs: int = 20
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    patience: int = 4  # early stopping on the dev score
    plateau_factor: float = 0.5  # learning rate x this after an epoch without a better dev score
    seed: int = 0


PRESETS = {
    "pos": Config(epochs=30, patience=6),
    "ner": Config(scheme="ner", head="crf", tag_format="iobes", epochs=30),
    "tiny": Config(embed_dim=16, char_dim=8, char_units=8, units=16, num_layers=1,
                   dropout=0.0, word_dropout=0.0, batch_size=8, epochs=2, learning_rate=1e-2,
                   patience=0, plateau_factor=0.0),
}

CASES = ("[PAD]", "lower", "Title", "UPPER", "digits", "other")


@keras.saving.register_keras_serializable(package="kerasrnn")
class TaggerPreprocessor:
    """Token strings -> `{"token_ids", "char_ids", "case_ids", "padding_mask"}` with TF ops.

    Args:
        words: word vocabulary (`tasks.text.build_vocabulary`, lowercased if `lowercase`).
        chars: character vocabulary (same form).
        lowercase: look words up lowercased (their casing is the `case_ids` feature).
        max_word_length: characters kept per word.

    Call arguments:
        tokens: `(batch, T)` strings, "" for padding (or a RaggedTensor of strings).
    """

    def __init__(self, words, chars, lowercase=True, max_word_length=20):
        self.words, self.chars = list(words), list(chars)
        self.lowercase, self.max_word_length = lowercase, max_word_length
        self._word_table = self._table(self.words)
        self._char_table = self._table(self.chars)

    @staticmethod
    def _table(vocabulary):
        return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocabulary), tf.range(len(vocabulary), dtype=tf.int32)), UNK_ID)

    def __call__(self, tokens):
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
        return {"token_ids": token_ids, "char_ids": char_ids, "case_ids": case_ids,
                "padding_mask": mask}

    def get_config(self):
        return {"words": self.words, "chars": self.chars, "lowercase": self.lowercase,
                "max_word_length": self.max_word_length}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="kerasrnn")
class Tagger(keras.Model):
    """Bidirectional kerasrnn LSTM tagger with character features and a softmax or CRF head.

    At a padded position (`padding_mask` False) the recurrent layers keep their states, the
    potentials are unused, the loss and metrics give it no weight and the decoded tag is 0.

    Args:
        preprocessor: a `TaggerPreprocessor` (or its config).
        tags: the tag names; tag i is output i.
        head: "softmax" (independent per-token decisions) or "crf" (a transition-aware
            sequence decision, trained by the CRF negative log-likelihood).
        embed_dim, char_dim, char_units, units, num_layers: sizes (char_dim 0: no characters).
        dropout: on the word representation and between and after the recurrent layers.
        word_dropout: training words replaced by [UNK] with this probability.

    Call arguments:
        inputs: the preprocessor's dict. Returns the potentials `(batch, T, len(tags))`.
        `predict` / `predict_on_batch` return the decoded tag ids `(batch, T)` instead
        (Viterbi's for a CRF), decoded inside the compiled predict function.

    Example:
        >>> tagger.predict_tags([["John", "lives", "in", "Paris"]])  # doctest: +SKIP
        [['B-PER', 'O', 'O', 'B-LOC']]
    """

    def __init__(self, preprocessor, tags, head="softmax", embed_dim=100, char_dim=30,
                 char_units=50, units=200, num_layers=2, dropout=0.5, word_dropout=0.0,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        if head not in ("softmax", "crf"):
            raise ValueError(f"`head` must be 'softmax' or 'crf'. Received: head={head!r}")
        self.preprocessor, self.tags, self.head = preprocessor, list(tags), head
        self.sizes = dict(embed_dim=embed_dim, char_dim=char_dim, char_units=char_units,
                          units=units, num_layers=num_layers)
        self.dropout_rate, self.word_dropout, self.seed = dropout, word_dropout, seed
        self.word_embedding = keras.layers.Embedding(len(preprocessor.words), embed_dim,
                                                     name="word_embedding")
        self.case_embedding = keras.layers.Embedding(len(CASES), 8, name="case_embedding")
        if char_dim:
            self.char_embedding = keras.layers.Embedding(len(preprocessor.chars), char_dim,
                                                         name="char_embedding")
            self.char_rnn = kerasrnn.LSTM(char_units, bidirectional=True, name="char_rnn")
        self.rnn = kerasrnn.LSTM(units, num_layers=num_layers, bidirectional=True,
                                 inter_layer_dropout=dropout, return_sequences=True,
                                 seed=seed, name="rnn")
        self.dropout = keras.layers.Dropout(dropout, seed=seed)
        self.potentials = keras.layers.Dense(len(self.tags), name="potentials")
        self.crf = CRF(len(self.tags), name="crf") if head == "crf" else None
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        e = self.sizes
        self.word_embedding.build((None, None))
        self.case_embedding.build((None, None))
        width = e["embed_dim"] + 8
        if e["char_dim"]:
            self.char_embedding.build((None, None))
            self.char_rnn.build((None, None, e["char_dim"]))
            width += 2 * e["char_units"]
        self.rnn.build((None, None, width))
        self.potentials.build((None, None, 2 * e["units"]))
        if self.crf is not None:
            self.crf.build()
        self.built = True

    def call(self, inputs, training=False):
        token_ids, mask = inputs["token_ids"], ops.cast(inputs["padding_mask"], "bool")
        if training and self.word_dropout > 0:
            drop = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator)
            token_ids = ops.where((drop < self.word_dropout) & mask, UNK_ID, token_ids)
        parts = [self.word_embedding(token_ids), self.case_embedding(inputs["case_ids"])]
        if self.sizes["char_dim"]:
            chars = inputs["char_ids"]  # (batch, T, C)
            batch, steps, width = ops.shape(chars)[0], ops.shape(chars)[1], ops.shape(chars)[2]
            flat = ops.reshape(chars, (-1, width))
            # Every word's characters, both directions; padding words are all-padding rows.
            words = self.char_rnn(self.char_embedding(flat), mask=ops.not_equal(flat, PAD_ID),
                                  training=training)
            parts.append(ops.reshape(words, (batch, steps, 2 * self.sizes["char_units"])))
        x = self.dropout(ops.concatenate(parts, axis=-1), training=training)
        x = self.rnn(x, mask=mask, training=training)
        return self.potentials(self.dropout(x, training=training))

    # -- training ----------------------------------------------------------------------------
    def compile(self, optimizer="auto", jit_compile=True, **kwargs):
        """Defaults: Adam(2e-3, clipnorm=5); the loss is the masked token cross-entropy
        (softmax) or the CRF negative log-likelihood per sentence (crf); token accuracy of the
        potentials' argmax as the fit-time metric (`DevScore` measures the decoded tags, which
        for a CRF are Viterbi's)."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(2e-3, clipnorm=5.0)
        kwargs.setdefault("weighted_metrics", [keras.metrics.SparseCategoricalAccuracy(
            name="accuracy")])
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        mask = ops.cast(x["padding_mask"], "float32")
        if self.crf is None:
            logp = ops.log_softmax(y_pred, axis=-1)
            nll = -ops.take_along_axis(logp, ops.cast(y, "int32")[..., None], axis=-1)[..., 0]
            loss = ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)
        else:
            # Per sentence, normalized by tokens so the scale matches the softmax head's.
            loss = -ops.sum(self.crf.log_likelihood(y_pred, y, mask)) / ops.maximum(
                ops.sum(mask), 1.0)
        losses = [loss] + list(self.losses)
        return ops.sum(ops.stack(losses)) if len(losses) > 1 else loss

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
    def predict_tags(self, sentences, batch_size=64):
        """Token lists (or whitespace-tokenized strings) -> one tag list per sentence."""
        sentences = [s.split() if isinstance(s, str) else list(s) for s in sentences]
        # Sentences of like length batch together and widths round up to a multiple of 8,
        # so that only a few shapes are ever compiled.
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out = [None] * len(sentences)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = -(-max(1, max(len(sentences[i]) for i in chunk)) // 8) * 8
            tokens = tf.constant([sentences[i] + [""] * (width - len(sentences[i]))
                                  for i in chunk])
            features = {k: v.numpy() for k, v in self.preprocessor(tokens).items()}
            ids = np.asarray(self.predict_on_batch(features))
            for i, row in zip(chunk, ids):
                out[i] = [self.tags[t] for t in row[: len(sentences[i])]]
        return out

    def get_config(self):
        return {**super().get_config(),
                "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
                "tags": self.tags, "head": self.head, **self.sizes, "dropout": self.dropout_rate,
                "word_dropout": self.word_dropout, "seed": self.seed}


# -- metrics ---------------------------------------------------------------------------------
def entity_scores(gold, predicted, scheme="bio"):
    """CoNLL-style entity scores (conlleval rules: exact span and type; an I- after O or after
    another type starts an entity). Returns {type: {"precision", "recall", "f1", "support"}}
    with "micro" over all types."""
    counts = {}  # type -> [true positives, predicted, gold]
    for g, p in zip(gold, predicted):
        if len(g) != len(p):
            raise ValueError(f"a sentence has {len(g)} gold tags but {len(p)} predicted")
        gold_spans = set(data_lib._spans(g, scheme))
        pred_spans = set(data_lib._spans(p, scheme))
        for spans, column in ((pred_spans, 1), (gold_spans, 2)):
            for kind, _, _ in spans:
                counts.setdefault(kind, [0, 0, 0])[column] += 1
        for kind, _, _ in gold_spans & pred_spans:
            counts[kind][0] += 1
    total = [sum(c[i] for c in counts.values()) for i in range(3)]

    def score(tp, n_pred, n_gold):
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}

    result = {kind: score(*c) for kind, c in sorted(counts.items())}
    result["micro"] = score(*total)
    return result


def score_table(scores):
    lines = ["| type | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for kind, s in scores.items():
        lines.append(f"| {kind} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | "
                     f"{100 * s['f1']:.2f} | {s['support']} |")
    return "\n".join(lines)


# -- data and training ------------------------------------------------------------------------
def load(path, config, data_dir=None):
    """(token lists, tag lists) from a CoNLL-U file (pos) or CoNLL columns (ner, IOB1 or BIO
    read and converted to `config.tag_format`)."""
    path = data_lib.resolve(path, data_dir)
    if config.scheme == "pos":
        if config.tag_column not in ("upos", "xpos"):
            raise ValueError(f"`tag_column` must be 'upos' or 'xpos'. Received: "
                             f"{config.tag_column!r}")
        sentences = data_lib.read_conllu(path)
        return [s["words"] for s in sentences], [s[config.tag_column] for s in sentences]
    if config.scheme != "ner":
        raise ValueError(f"`scheme` must be 'pos' or 'ner'. Received: {config.scheme!r}")
    sentences = data_lib.read_conll(path)
    tags = []
    for number, s in enumerate(sentences, start=1):
        try:
            tags.append(data_lib.convert_tags(s["tags"], "iob1", config.tag_format))
        except ValueError as e:
            raise data_lib.DataError(path, None, f"sentence {number}: {e}") from None
    return [s["words"] for s in sentences], tags


def make_preprocessor(sentences, config):
    words = build_vocabulary(([w.lower() if config.lowercase else w for w in s]
                              for s in sentences), min_count=config.min_count)
    chars = build_vocabulary(list(w) for s in sentences for w in s)
    return TaggerPreprocessor(words, chars, config.lowercase, config.max_word_length)


def make_dataset(preprocessor, sentences, tag_ids, batch_size, shuffle=False, seed=0,
                 boundaries=(10, 20, 30, 40, 60)):
    """Length-bucketed batches `(features, tag ids, padding mask as sample_weight)`, widths
    rounded up to multiples of 8 so that few batch shapes compile."""
    def generate():
        for s, t in zip(sentences, tag_ids):
            yield np.array(s, dtype=object), np.asarray(t, "int32")

    ds = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int32)))
    if shuffle:
        ds = ds.shuffle(len(sentences), seed=seed, reshuffle_each_iteration=True)
    ds = bucket_by_length(ds, [len(s) for s in sentences], batch_size, boundaries,
                          padding_values=("", 0))

    def to_features(t, y):
        t, y = pad_to_multiple(t, 8, ""), pad_to_multiple(y, 8, 0)
        features = preprocessor(t)
        return features, y, tf.cast(features["padding_mask"], tf.float32)

    return ds.map(to_features).prefetch(tf.data.AUTOTUNE)


def evaluate(model, sentences, tags, scheme):
    """Token accuracy; for NER also entity precision / recall / F1 per type and micro."""
    predicted = model.predict_tags(sentences)
    right = sum(p == g for ps, gs in zip(predicted, tags) for p, g in zip(ps, gs))
    results = {"accuracy": right / sum(len(g) for g in tags)}
    if scheme == "ner":
        fmt = "iobes" if any(t.startswith(("E-", "S-")) for t in model.tags) else "bio"
        results["entities"] = entity_scores(tags, predicted, fmt)
        results["f1"] = results["entities"]["micro"]["f1"]
    return results


class DevScore(keras.callbacks.Callback):
    """Adds `val_accuracy` (and `val_f1` for NER) of the decoded dev tags to the epoch logs, so
    that EarlyStopping and checkpoints can watch them."""

    def __init__(self, sentences, tags, scheme):
        super().__init__()
        self.sentences, self.tags, self.scheme = sentences, tags, scheme

    def on_epoch_end(self, epoch, logs=None):
        results = evaluate(self.model, self.sentences, self.tags, self.scheme)
        logs["val_accuracy"] = results["accuracy"]
        if "f1" in results:
            logs["val_f1"] = results["f1"]


def build_model(config, preprocessor, tags):
    model = Tagger(preprocessor, tags, head=config.head, embed_dim=config.embed_dim,
                   char_dim=config.char_dim, char_units=config.char_units, units=config.units,
                   num_layers=config.num_layers, dropout=config.dropout,
                   word_dropout=config.word_dropout, seed=config.seed)
    model.compile(keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm))
    model.build()
    return model


def train(config, train_data, dev_data, callbacks=(), verbose="auto"):
    """`train_data` / `dev_data`: (token lists, tag lists). Returns (model, history, dev
    results); with `patience` the weights of the best dev epoch are kept."""
    keras.utils.set_random_seed(config.seed)
    (sentences, tags), (dev_sentences, dev_tags) = train_data, dev_data
    preprocessor = make_preprocessor(sentences, config)
    names = sorted({t for s in tags for t in s})
    index = {t: i for i, t in enumerate(names)}
    for number, s in enumerate(dev_tags, start=1):
        unseen = [t for t in s if t not in index]
        if unseen:
            raise ValueError(f"dev sentence {number} has tags never seen in training: {unseen}")
    model = build_model(config, preprocessor, names)
    ds = make_dataset(preprocessor, sentences, [[index[t] for t in s] for s in tags],
                      config.batch_size, shuffle=True, seed=config.seed)
    monitor = "val_f1" if config.scheme == "ner" else "val_accuracy"
    callbacks = [DevScore(dev_sentences, dev_tags, config.scheme), *callbacks]
    if config.plateau_factor:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor, mode="max", factor=config.plateau_factor, patience=1, verbose=0))
    if config.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor, mode="max", patience=config.patience, restore_best_weights=True))
    history = model.fit(ds, epochs=config.epochs, callbacks=callbacks, verbose=verbose,
                        shuffle=False)
    return model, history, evaluate(model, dev_sentences, dev_tags, config.scheme)


# -- script ----------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.tagger",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["train", "evaluate", "predict", "export"])
    parser.add_argument("sentences", nargs="*", help="predict: whitespace-tokenized sentences")
    parser.add_argument("--scheme", choices=["pos", "ner"], help="default: the preset's")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="default: pos or ner")
    parser.add_argument("--train", help="training file (path or name in --data-dir)")
    parser.add_argument("--dev", help="dev file (path or name in --data-dir)")
    parser.add_argument("--data-dir", help=f"where named files are (default: "
                        f"${data_lib.DATA_ENV})")
    parser.add_argument("--head", choices=["softmax", "crf"], help="override the preset's")
    parser.add_argument("--tag-column", choices=["upos", "xpos"], help="pos: which tags")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--model", default="saved_models/tagger.keras")
    parser.add_argument("--out", default="saved_models/tagger", help="export: SavedModel dir")
    parser.add_argument("--backup-dir", help="train: checkpoints to resume an interrupted run")
    args = parser.parse_args(argv)
    verbose = 1 if sys.stdout.isatty() else 2

    if args.command == "train":
        config = PRESETS[args.preset or args.scheme or "pos"]
        overrides = {k: v for k, v in (("scheme", args.scheme), ("head", args.head),
                                       ("tag_column", args.tag_column),
                                       ("epochs", args.epochs)) if v}
        config = dataclasses.replace(config, **overrides)
        if not (args.train and args.dev):
            parser.error("train needs --train and --dev")
        print(f"kerasrnn tagger, {keras.backend.backend()} backend: {config}")
        train_data = load(args.train, config, args.data_dir)
        dev_data = load(args.dev, config, args.data_dir)
        callbacks = [keras.callbacks.BackupAndRestore(args.backup_dir)] if args.backup_dir \
            else []
        model, _, results = train(config, train_data, dev_data, callbacks, verbose)
        os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
        model.save(args.model)
        _report(results)
        print(f"saved {args.model}")
        return results

    model = keras.saving.load_model(args.model)
    if args.command == "evaluate":
        if not args.dev:
            parser.error("evaluate needs --dev")
        scheme = "ner" if any("-" in t for t in model.tags) else "pos"
        config = dataclasses.replace(PRESETS[scheme], tag_column=args.tag_column or "upos",
                                     tag_format="iobes" if any(t.startswith(("E-", "S-"))
                                                               for t in model.tags) else "bio")
        results = evaluate(model, *load(args.dev, config, args.data_dir), scheme)
        _report(results)
        return results
    if args.command == "predict":
        sentences = args.sentences or ["John Smith lives in New York .",
                                       "The cat sat on the mat ."]
        tags = model.predict_tags(sentences)
        for s, t in zip(sentences, tags):
            print(" ".join(f"{w}/{tag}" for w, tag in zip(s.split(), t)))
        return tags
    from tasks import tagger_export

    path = tagger_export.export(model, args.out)
    print(f"exported a SavedModel with endpoints tag (default) and tag_tokens: {path}")
    return path


def _report(results):
    print(f"dev token accuracy: {100 * results['accuracy']:.2f}")
    if "entities" in results:
        print(score_table(results["entities"]))


if __name__ == "__main__":
    main()
