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
(`tasks.tagger.crf`). Preprocessing is TensorFlow string ops (`TaggerPreprocessor`), the same in
tf.data and in the SavedModel. Padding never counts: `padding_mask` is the `sample_weight`.
"""

from tasks.tagger.crf import CRF
from tasks.tagger.model import Tagger
from tasks.tagger.preprocessor import CASES, TaggerPreprocessor
from tasks.tagger.recipe import (
    PRESETS,
    Config,
    DevScore,
    build_model,
    entity_scores,
    evaluate,
    load,
    make_preprocessor,
    score_table,
    train,
)
from tasks.tagger.script import main

__all__ = ["CASES", "CRF", "Config", "DevScore", "PRESETS", "Tagger", "TaggerPreprocessor",
           "build_model", "entity_scores", "evaluate", "load", "main", "make_preprocessor",
           "score_table", "train"]
