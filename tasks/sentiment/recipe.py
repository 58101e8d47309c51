"""The sentiment recipe: its Config and presets, SST and CSV data, training and scores."""

import dataclasses
import os

from tasks import data as data_lib
from tasks.classification import training
from tasks.classification.training import build_model, report, scores
from tasks.sentiment.preprocessor import SentimentPreprocessor

SST_LABELS = {2: ["negative", "positive"],
              5: ["very negative", "negative", "neutral", "positive", "very positive"]}


@dataclasses.dataclass
class Config(training.Config):
    """The classifier's arguments and training (`tasks.classification.training.Config`), and
    the sentiment data and preprocessing."""

    classes: int = 2  # SST: 2 (binary, neutral dropped) or 5; CSV data: from the labels
    phrases: bool = True  # SST: also train on every labelled phrase (dev: sentences only)
    lowercase: bool = True
    min_count: int = 1
    max_length: int = 256  # tokens kept per text
    truncate: str = "tail"  # longer texts lose their "tail" (end) or their "head" (start)


PRESETS = {
    "binary": Config(),
    "fine": Config(classes=5),
    "tiny": Config(embed_dim=16, units=8, embedding_dropout=0.0, dropout=0.0, batch_size=8,
                   epochs=3, min_steps_per_epoch=0, learning_rate=1e-2, ema_momentum=0.0,
                   patience=0),
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


def train(config, train_data, dev_data, labels=None, callbacks=(), verbose="auto"):
    """`train_data` / `dev_data`: (texts, labels). Labels default to SST's names for the
    config's classes when the data uses them, else the sorted names found in training.
    Returns (model, history, dev scores); with `patience` the best dev epoch's weights."""
    texts, names = train_data
    if labels is None:
        found = sorted(set(map(str, names)))
        sst = SST_LABELS.get(config.classes, [])
        labels = sst if set(found) <= set(sst) else found
    return training.train(config, make_preprocessor(texts, config), train_data, dev_data, labels,
                          callbacks, verbose)


__all__ = ["Config", "PRESETS", "SST_LABELS", "build_model", "load", "make_preprocessor",
           "report", "scores", "train"]
