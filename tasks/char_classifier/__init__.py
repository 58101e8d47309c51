"""A character-level text classifier (language or script identification, names by origin,
spam): the fifth task, written by filling in the shared contract.

Characters -> `TextClassifier` (bidirectional kerasrnn LSTM, max pooling) -> labels. It reuses
everything else: the `Task` contract, `tasks.classification`'s model and training, the CSV/TSV
reader, the shared CLI and the "classifier" SavedModel export (`serve(texts)`). Its own code
is the preprocessor (what a token is) and the recipe (Config and presets).

The commands: `python -m tasks.char_classifier --help` (`script.py`).
"""

from tasks.char_classifier.preprocessor import CharPreprocessor
from tasks.char_classifier.recipe import PRESETS, Config, load, train
from tasks.char_classifier.script import main

__all__ = ["CharPreprocessor", "Config", "PRESETS", "load", "main", "train"]
