"""A causal RNN language model (word or character level): train, evaluate, generate, export.

Embedding -> kerasrnn SimpleRNN / GRU / LSTM layers -> Dense over the vocabulary (optionally tied
to the embedding). Training is `model.fit` on truncated-BPTT batches whose recurrent state is
carried from one batch to the next (reset each epoch), or on padded sentence batches with the
padding as `sample_weight`. Generation (`tasks.decoding`) uses the RNN state as the cache:
every step feeds one token. Export: `tasks.export`. Baselines: `tasks.language_model.baselines`.

The commands: `python -m tasks.language_model --help` (`script.py`).
"""

from tasks.cells import CELLS
from tasks.language_model.model import BitsPerCharacter, RNNLanguageModel
from tasks.language_model.preprocessor import LanguageModelPreprocessor
from tasks.language_model.recipe import (
    PRESETS,
    Config,
    build_model,
    load_corpus,
    load_split,
    make_dataset,
    make_optimizer,
    make_tokenizer,
    token_stream,
    train,
)
from tasks.language_model.script import main

__all__ = ["CELLS", "BitsPerCharacter", "Config", "LanguageModelPreprocessor", "PRESETS",
           "RNNLanguageModel", "build_model", "load_corpus", "load_split", "main", "make_dataset",
           "make_optimizer", "make_tokenizer", "token_stream", "train"]
