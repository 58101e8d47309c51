"""The sentiment recipe: its Config and presets, SST and CSV data, training and scores."""

import dataclasses
import os

import keras
import numpy as np

from tasks import data as data_lib
from tasks.sentiment.model import TextClassifier
from tasks.sentiment.preprocessor import SentimentPreprocessor
from tasks.task import model_arguments

SST_LABELS = {2: ["negative", "positive"],
              5: ["very negative", "negative", "neutral", "positive", "very positive"]}


@dataclasses.dataclass
class Config:
    """Everything a run needs: the model's arguments (by their names) and training."""

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
    return SentimentPreprocessor.learn(texts, config.lowercase, config.max_length,
                                       config.truncate, config.min_count)


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
    model = TextClassifier(preprocessor, **model_arguments(TextClassifier, config,
                                                           labels=labels))
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
