"""A sentence classifier (binary or multi-class) that fits and predicts on raw strings.

Words -> stacked bidirectional kerasrnn LSTM / GRU -> masked pooling over time (the last valid
state of each direction, masked max, masked mean, or attention) -> dropout -> Dense. Text is
normalized and split with TensorFlow string ops (`SentimentPreprocessor`), the same in tf.data
and in the SavedModel. Padding never reaches the prediction: a sentence alone or padded inside a
batch gives the same probabilities.

The commands: `python -m tasks.sentiment --help` (`script.py`).
"""

from tasks.classification.model import POOLINGS, TextClassifier
from tasks.sentiment.preprocessor import SentimentPreprocessor
from tasks.sentiment.recipe import (
    PRESETS,
    SST_LABELS,
    Config,
    build_model,
    load,
    make_preprocessor,
    report,
    scores,
    train,
)
from tasks.sentiment.script import main

SentimentClassifier = TextClassifier  # the sentiment task's name for its model

__all__ = ["Config", "PRESETS", "POOLINGS", "SST_LABELS", "SentimentClassifier",
           "SentimentPreprocessor", "TextClassifier", "build_model", "load", "main",
           "make_preprocessor", "report", "scores", "train"]
