"""A sequence tagger for parts of speech (UD CoNLL-U) and named entities (CoNLL columns).

Words (+ casing, + a character-level kerasrnn BiLSTM over each word's letters) -> stacked
bidirectional kerasrnn LSTM -> per-token potentials -> softmax or a linear-chain CRF
(`tasks.tagger.crf`); optionally two character language models' states at each word's
boundaries (`char_lms`, `tasks.language_model.embedding`). Preprocessing is TensorFlow string
ops (`TaggerPreprocessor`), the same in tf.data and in the SavedModel. Padding never counts:
`padding_mask` is the `sample_weight`.

The commands: `python -m tasks.tagger --help` (`script.py`).
"""

from tasks.tagger.crf import CRF
from tasks.tagger.model import Tagger
from tasks.tagger.preprocessor import CASES, TaggerPreprocessor
from tasks.tagger.recipe import (
    PRESETS,
    Config,
    DevScore,
    build_model,
    char_lm_embedding,
    entity_scores,
    evaluate,
    load,
    make_preprocessor,
    score_table,
    train,
)
from tasks.tagger.script import main

__all__ = ["CASES", "CRF", "Config", "DevScore", "PRESETS", "Tagger", "TaggerPreprocessor",
           "build_model", "char_lm_embedding", "entity_scores", "evaluate", "load", "main",
           "make_preprocessor", "score_table", "train"]
