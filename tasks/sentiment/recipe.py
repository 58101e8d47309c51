"""The sentiment recipe: its Config and presets, SST and CSV data, training and scores."""

import dataclasses
import os

import tensorflow as tf

from tasks import data as data_lib
from tasks.classification import training
from tasks.classification.training import build_model, report, scores
from tasks.sentiment.preprocessor import SentimentPreprocessor
from tasks.tokenizers import UNK_ID

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
    # ULMFiT (Howard & Ruder 2018) from a word LM: --preset ulmfit --set lm=word_lm.keras. The
    # LM (python -m tasks.language_model train --preset encoder) gives the vocabulary, the
    # embedding and each layer's forward direction; the slanted triangular learning rate,
    # learning rates 2.6x lower per layer down, and one more layer unfrozen each epoch.
    "ulmfit": Config(schedule="stlr", layer_lr_decay=2.6, gradual_unfreezing=True,
                     learning_rate=2e-3),
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


def make_preprocessor(texts, config, lm=None):
    """The training texts' vocabulary, or with `lm` (a word LM) the LM's."""
    if lm is not None:
        return SentimentPreprocessor(lm.tokenizer.vocabulary, config.lowercase,
                                     config.max_length, config.truncate)
    return SentimentPreprocessor.learn(texts, config.lowercase, config.max_length,
                                       config.truncate, config.min_count)


def vocabulary_coverage(preprocessor, texts):
    """The fraction of the texts' tokens in the preprocessor's vocabulary (not `[UNK]`)."""
    ids = preprocessor(tf.constant(list(texts)))
    mask = ids["padding_mask"].numpy()
    return float((ids["token_ids"].numpy()[mask] != UNK_ID).mean()) if mask.any() else 1.0


def train(config, train_data, dev_data, labels=None, callbacks=(), verbose="auto",
          data_dir=None):
    """`train_data` / `dev_data`: (texts, labels). Labels default to SST's names for the
    config's classes when the data uses them, else the sorted names found in training. With
    `config.lm` (a path, resolved against `data_dir`) the model starts from that word LM.
    Returns (model, history, dev scores); with `patience` the best dev epoch's weights."""
    texts, names = train_data
    if labels is None:
        found = sorted(set(map(str, names)))
        sst = SST_LABELS.get(config.classes, [])
        labels = sst if set(found) <= set(sst) else found
    lm = training.language_model(config, data_dir)
    preprocessor = make_preprocessor(texts, config, lm)
    if lm is not None and verbose:
        print(f"starting from the word LM {config.lm} ({lm.cell}, embed_dim {lm.embed_dim}, "
              f"units {lm.units}, {lm.num_layers} layer(s)): its vocabulary covers "
              f"{100 * vocabulary_coverage(preprocessor, texts):.1f} % of the training tokens")
    return training.train(config, preprocessor, train_data, dev_data, labels, callbacks,
                          verbose, lm)


__all__ = ["Config", "PRESETS", "SST_LABELS", "build_model", "load", "make_preprocessor",
           "report", "scores", "train"]
