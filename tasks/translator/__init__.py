"""A sequence-to-sequence translator: bidirectional kerasrnn encoder, attentive decoder.

    python -m tasks.translator train --data multi30k --src de --tgt en --data-dir ../shared/data
    python -m tasks.translator train --train pairs.tsv --dev dev.tsv     # source<TAB>target
    python -m tasks.translator evaluate --model saved_models/translator.keras --data multi30k
    python -m tasks.translator translate --model ... "Ein Mann fährt Fahrrad." --beam-size 5
    python -m tasks.translator export --model ... --out saved_models/translator

Encoder: embedding -> stacked bidirectional kerasrnn LSTM/GRU. Its last layer's final states,
projected, start the decoder: stacked kerasrnn cells fed, at every step, the previous target
word and the previous attentional vector (Luong's input feeding). Attention over the encoder
outputs, source padding masked out: "bahdanau" (additive), "dot" or "general" (Luong), or
"none" (the final state is the only link). Training is teacher forcing with `model.fit`;
translation is greedy (keras-hub's sampler) or beam search with length normalization, both with
the decoder state as the cache.
"""

from tasks.tokenizers import TranslationTokenizer
from tasks.translator.model import ATTENTIONS, Translator
from tasks.translator.preprocessor import TranslationPreprocessor
from tasks.translator.recipe import PRESETS, Config, bleu, build_model, load, make_features, train
from tasks.translator.script import main

__all__ = ["ATTENTIONS", "Config", "PRESETS", "TranslationPreprocessor", "TranslationTokenizer",
           "Translator", "bleu", "build_model", "load", "main", "make_features", "train"]
