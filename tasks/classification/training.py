"""Training and scoring any `TextClassifier`: what the sentiment and character-level
classifier recipes share.

    Config                                       the model's arguments and training; a task's
                                                 Config extends it with its preprocessing
    build_model(config, preprocessor, labels)    the model, compiled with `make_optimizer`
    make_optimizer(config, model, steps_per_epoch)   Adam, or ULMFiT's schedule by option
    language_model(config, data_dir)             the word LM `config.lm` names, or None
    train(config, preprocessor, train_data, dev_data, labels)   fit on raw strings, early
                                                 stopping on dev accuracy, weight averaging
    scores(model, texts, labels) / report(results)   accuracy, per-class P/R/F1, confusion
    show_predictions(model, texts)               the `predict` command's output
"""

import dataclasses

import keras
import numpy as np

from tasks.classification.model import TextClassifier
from tasks.fine_tuning import LayerwiseAdam, SlantedTriangular
from tasks.task import dev_score_callbacks, epoch_steps, model_arguments, weight_averaging


@dataclasses.dataclass
class Config:
    """A classifier's arguments (by their names; see `TextClassifier`) and its training."""

    cell: str = "lstm"  # a name in tasks.cells.CELLS: lstm, gru, mingru, minlstm, qrnn, ...
    embed_dim: int = 300
    units: int = 150  # per direction
    num_layers: int = 1
    pooling: str = "max"  # "last", "max", "mean" or "attention"
    embedding_dropout: float = 0.5
    dropout: float = 0.5  # between recurrent layers and before the classifier
    word_dropout: float = 0.0  # a training token becomes [UNK] with this probability
    class_weight: bool = False  # weigh classes by inverse frequency
    batch_size: int = 64
    epochs: int = 8  # at most; each ends with the dev score
    min_steps_per_epoch: int = 300  # an epoch is a pass or this many steps, the larger
    learning_rate: float = 1e-3
    clipnorm: float = 5.0
    ema_momentum: float = 0.999  # > 0: validate and keep a moving average of the weights
    patience: int = 3  # early stopping: epochs without a better dev accuracy
    # ULMFiT (Howard & Ruder 2018): start from a word LM, fine-tune with its schedule.
    lm: str = ""  # a word LM's .keras file (python -m tasks.language_model --preset encoder):
    # its vocabulary, embedding and layers (each layer's forward direction) start the model,
    # and its cell, embed_dim, units and num_layers replace the fields above
    schedule: str = "constant"  # "constant" or "stlr" (slanted triangular over all steps)
    layer_lr_decay: float = 1.0  # each layer group down from the top learns this much slower
    gradual_unfreezing: bool = False  # the top group trains first, one more each epoch
    seed: int = 0


SCHEDULES = ("constant", "stlr")
LM_FIELDS = ("cell", "embed_dim", "units", "num_layers")  # what `lm` decides


def scores(model, texts, labels):
    """Accuracy, per-class precision / recall / F1, macro F1 and the confusion matrix
    (rows: gold, columns: predicted) on raw strings."""
    gold = model.label_ids(labels)
    predicted = model.label_ids(model.predict(texts, verbose=0)["label"])
    k = len(model.labels)
    confusion = np.zeros((k, k), "int64")
    np.add.at(confusion, (gold, predicted), 1)
    tp = np.diag(confusion).astype(float)
    precision = tp / np.maximum(confusion.sum(0), 1)
    recall = tp / np.maximum(confusion.sum(1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall /
                  np.maximum(precision + recall, 1e-12), 0.0)
    per_class = {name: {"precision": precision[i], "recall": recall[i], "f1": f1[i],
                        "support": int(confusion[i].sum())} for i, name in enumerate(model.labels)}
    return {"accuracy": tp.sum() / max(len(gold), 1), "macro_f1": float(f1.mean()),
            "classes": per_class, "confusion": confusion}


def language_model(config, data_dir=None):
    """None, or the word LM `config.lm` names (checked: `load_encoder_lm`)."""
    if not config.lm:
        return None
    from tasks.language_model.encoder import load_encoder_lm

    return load_encoder_lm(config.lm, data_dir)


def build_model(config, preprocessor, labels, lm=None, steps_per_epoch=1):
    """The model, built and compiled; with `lm` (whose vocabulary the preprocessor must read)
    it takes the LM's cell and sizes and starts from its weights."""
    fixed = {name: getattr(lm, name) for name in LM_FIELDS} if lm is not None else {}
    model = TextClassifier(preprocessor, **model_arguments(TextClassifier, config,
                                                           labels=labels, **fixed))
    model.build()
    if lm is not None:
        model.start_from(lm)
    model.compile(make_optimizer(config, model, steps_per_epoch))
    return model


def make_optimizer(config, model, steps_per_epoch=1):
    """Adam with the config's clipping and weight averaging. `schedule="stlr"`: the slanted
    triangular learning rate over `epochs · steps_per_epoch` steps; `layer_lr_decay` > 1 or
    `gradual_unfreezing`: a `LayerwiseAdam` over the model's layer groups, unfreezing one more
    group every `steps_per_epoch` steps."""
    if config.schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. Received: "
                         f"schedule={config.schedule!r}")
    ema, _ = weight_averaging(config.ema_momentum)
    rate = config.learning_rate
    if config.schedule == "stlr":
        rate = SlantedTriangular(rate, config.epochs * steps_per_epoch)
    if config.layer_lr_decay == 1 and not config.gradual_unfreezing:
        return keras.optimizers.Adam(rate, clipnorm=config.clipnorm, **ema)
    return LayerwiseAdam(rate, model.layer_groups(), config.layer_lr_decay,
                         steps_per_epoch if config.gradual_unfreezing else 0,
                         clipnorm=config.clipnorm, **ema)


def train(config, preprocessor, train_data, dev_data, labels, callbacks=(), verbose="auto",
          lm=None):
    """`train_data` / `dev_data`: (texts, label names). The config holds the model's arguments
    and `batch_size`, `epochs`, `min_steps_per_epoch` (an epoch is a pass over the texts or
    that many steps, whichever is more: `tasks.task.epoch_steps`), `learning_rate`,
    `clipnorm`, `class_weight` (weigh classes by inverse frequency), `ema_momentum` (> 0:
    validate and keep a moving average of the weights), `patience` (early stopping on dev
    accuracy; the best epoch's weights are kept) and ULMFiT's `schedule`, `layer_lr_decay` and
    `gradual_unfreezing` (`make_optimizer`). `lm`: the word LM to start from (its vocabulary is
    the preprocessor's). Returns (model, history, dev scores)."""
    keras.utils.set_random_seed(config.seed)
    (texts, names), (dev_texts, dev_names) = train_data, dev_data
    steps = epoch_steps(len(texts), config.batch_size, config.min_steps_per_epoch)
    schedule_steps = steps or 1
    if steps is None and (config.schedule != "constant" or config.gradual_unfreezing):
        # The batches of one pass (length buckets each end with a short batch).
        schedule_steps = int(preprocessor.dataset(texts, batch_size=config.batch_size)
                             .cardinality())
    model = build_model(config, preprocessor, labels, lm, schedule_steps)
    class_weight = None
    if config.class_weight:
        counts = np.bincount(model.label_ids(names), minlength=len(labels))
        class_weight = {i: len(names) / (len(labels) * max(c, 1)) for i, c in enumerate(counts)}
    # The averaged weights are the ones validated at each epoch end, kept by early stopping
    # and left in the model; before it, so that early stopping sees them.
    callbacks = [*callbacks, *weight_averaging(config.ema_momentum)[1],
                 *dev_score_callbacks("val_accuracy", config.patience)]
    history = model.fit(texts, names, batch_size=config.batch_size, epochs=config.epochs,
                        steps_per_epoch=steps,
                        validation_data=(dev_texts, dev_names), class_weight=class_weight,
                        callbacks=callbacks, verbose=verbose)
    return model, history, scores(model, dev_texts, dev_names)


def show_predictions(model, texts):
    """Prints each text's label and probability; returns `model.predict(texts)`."""
    out = model.predict(texts, verbose=0)
    for text, label, p in zip(texts, out["label"], out["probabilities"]):
        print(f"{label} ({100 * p.max():.1f}%): {text}")
    return out


def report(results):
    lines = [f"dev accuracy {100 * results['accuracy']:.2f}, macro F1 "
             f"{100 * results['macro_f1']:.2f}",
             "| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name, s in results["classes"].items():
        lines.append(f"| {name} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | "
                     f"{100 * s['f1']:.2f} | {s['support']} |")
    return "\n".join(lines)
