"""The translation recipe: its Config and presets, parallel data, training and BLEU."""

import dataclasses
import os

import keras

from tasks import data as data_lib
from tasks.task import dev_score_callbacks, model_arguments
from tasks.translator.model import Translator
from tasks.translator.preprocessor import TranslationPreprocessor


@dataclasses.dataclass
class Config:
    """Everything a run needs: the model's arguments (by their names) and training."""

    tokenization: str = "wordpiece"  # "wordpiece" (learned per language) or "word"
    vocabulary_size: int = 8000  # per language
    lowercase: bool = True
    cell: str = "lstm"  # a name in tasks.cells.CELLS: lstm, gru, mingru, minlstm, qrnn, ...
    embed_dim: int = 256
    units: int = 256  # encoder units per direction; the decoder has 2 x units
    num_layers: int = 1  # encoder layers and decoder layers
    attention: str = "general"  # "bahdanau", "dot", "general" or "none"
    dropout: float = 0.3
    label_smoothing: float = 0.1
    max_source_length: int = 100  # tokens kept per source text
    max_length_factor: int = 2  # a translation has at most factor x source length + offset
    max_length_offset: int = 10
    beam_size: int = 5
    length_penalty: float = 0.6  # GNMT's alpha: scores / ((5 + length) / 6) ** alpha
    batch_size: int = 64
    epochs: int = 20
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    patience: int = 3  # early stopping on dev loss
    plateau_factor: float = 0.5  # learning rate x this after an epoch without a lower dev loss
    seed: int = 0


PRESETS = {
    "default": Config(),
    "no_attention": Config(attention="none"),
    "tiny": Config(tokenization="word", vocabulary_size=100, embed_dim=16, units=16,
                   dropout=0.0, label_smoothing=0.0, batch_size=16, epochs=8,
                   learning_rate=5e-3, patience=0, plateau_factor=0.0, beam_size=3),
}


def load(path, source, target, data_dir=None, split="train"):
    """[(source, target)] from a folder of line-aligned `{split}.{lang}` files (Multi30k) or
    from one tab-separated pairs file."""
    path = data_lib.resolve(path, data_dir)
    if os.path.isdir(path):
        return data_lib.read_parallel(os.path.join(path, f"{split}.{source}"),
                                      os.path.join(path, f"{split}.{target}"))
    return data_lib.read_pairs(path)


def make_features(model, sources, targets):
    """Padded features of one batch (and nothing else): for teacher forcing and tests."""
    return model.preprocessor.features(sources, targets)


def bleu(model, pairs, beam_size=1):
    """sacrebleu's corpus BLEU of the model's translations against the references (lowercased
    on both sides when the model lowercases). Returns (BLEU object, translations)."""
    import sacrebleu

    sources, references = zip(*pairs)
    hypotheses = model.translate(sources, beam_size=beam_size)
    lowercase = model.target_tokenizer.lowercase
    return sacrebleu.corpus_bleu(hypotheses, [list(references)], lowercase=lowercase), hypotheses


def build_model(config, train_pairs):
    preprocessor = TranslationPreprocessor.learn(train_pairs, config.tokenization,
                                                 config.vocabulary_size, config.lowercase,
                                                 config.max_source_length)
    model = Translator(preprocessor, **model_arguments(Translator, config))
    model.compile(keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm))
    model.build()
    return model


def train(config, train_pairs, dev_pairs, callbacks=(), verbose="auto"):
    """Returns (model, history); with `patience`, the weights of the best dev-loss epoch."""
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, train_pairs)
    ds = model.preprocessor.dataset(train_pairs, config.batch_size, shuffle=True,
                                    seed=config.seed)
    dev = model.preprocessor.dataset(dev_pairs, config.batch_size)
    callbacks = [*callbacks, *dev_score_callbacks("val_loss", config.patience,
                                                   config.plateau_factor, "min", 0)]
    history = model.fit(ds, validation_data=dev, epochs=config.epochs, callbacks=callbacks,
                        verbose=verbose, shuffle=False)  # the dataset shuffles itself
    return model, history
