"""Text classification shared by the tasks that classify strings: the model
(`TextClassifier`), the preprocessor contract (`TokenPreprocessor`) and the training recipe."""

from tasks.classification.model import POOLINGS, TextClassifier
from tasks.classification.preprocessor import TokenPreprocessor
from tasks.classification.training import build_model, report, scores, train

__all__ = ["POOLINGS", "TextClassifier", "TokenPreprocessor", "build_model", "report", "scores",
           "train"]
