"""The character-level classifier's recipe: Config, presets, data, training."""

import dataclasses

from tasks import data as data_lib
from tasks.char_classifier.preprocessor import CharPreprocessor
from tasks.classification import training


@dataclasses.dataclass
class Config(training.Config):
    """The classifier's arguments and training (`tasks.classification.training.Config`, with
    smaller defaults for characters) and the preprocessing."""

    embed_dim: int = 32  # per character
    units: int = 64
    embedding_dropout: float = 0.1
    dropout: float = 0.3
    epochs: int = 10
    learning_rate: float = 2e-3
    ema_momentum: float = 0.0
    lowercase: bool = False
    max_length: int = 256  # characters kept per text


PRESETS = {
    "default": Config(),
    "tiny": Config(embed_dim=8, units=8, embedding_dropout=0.0, dropout=0.0, batch_size=16,
                   epochs=4, min_steps_per_epoch=0, learning_rate=1e-2, patience=0),
}


def load(path, data_dir=None, text_column="text", label_column="label"):
    """(texts, label names) from a CSV/TSV file's columns."""
    return data_lib.read_labelled(data_lib.resolve(path, data_dir), text_column, label_column)


def train(config, train_data, dev_data, callbacks=(), verbose="auto"):
    """`train_data` / `dev_data`: (texts, label names); the labels are the sorted names seen in
    training. Returns (model, history, dev scores)."""
    if config.lm:
        raise ValueError(f"The character classifier reads characters; `lm` starts a word-level "
                         f"classifier (the sentiment task). Received: lm={config.lm!r}")
    texts, names = train_data
    preprocessor = CharPreprocessor.learn(texts, config.lowercase, config.max_length)
    return training.train(config, preprocessor, train_data, dev_data,
                          sorted(set(map(str, names))), callbacks, verbose)
