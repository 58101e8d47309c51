"""A sequence-to-sequence translator: bidirectional kerasrnn encoder, attentive decoder.

Encoder: embedding -> stacked bidirectional kerasrnn LSTM/GRU. Its last layer's final states,
projected, start the decoder: stacked kerasrnn cells fed, at every step, the previous target
word and the previous attentional vector (Luong's input feeding). Attention over the encoder
outputs, source padding masked out: "bahdanau" (additive), "dot" or "general" (Luong), or
"none" (the final state is the only link). Training is teacher forcing with `model.fit`;
translation is beam search with length normalization (one beam: greedy), with the decoder state
as the cache.

The commands: `python -m tasks.translator --help` (`script.py`).
"""

from tasks.tokenizers import TranslationTokenizer
from tasks.translator.model import ATTENTIONS, Translator
from tasks.translator.preprocessor import TranslationPreprocessor
from tasks.translator.recipe import PRESETS, Config, bleu, build_model, load, make_features, train
from tasks.translator.script import main

__all__ = ["ATTENTIONS", "Config", "PRESETS", "TranslationPreprocessor", "TranslationTokenizer",
           "Translator", "bleu", "build_model", "load", "main", "make_features", "train"]
