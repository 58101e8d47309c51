"""The tagging recipe: its Config and presets, CoNLL data, entity scores and training."""

import dataclasses

import keras

from tasks import data as data_lib
from tasks import tag_schemes
from tasks.language_model.embedding import CharLMEmbedding
from tasks.tagger.model import Tagger
from tasks.tagger.preprocessor import TaggerPreprocessor
from tasks.task import dev_score_callbacks, epoch_steps, model_arguments


@dataclasses.dataclass
class Config:
    """Everything a run needs: the model's arguments (by their names) and training."""

    scheme: str = "pos"  # "pos" (token accuracy) or "ner" (entity F1)
    tag_column: str = "upos"  # pos: "upos" or "xpos"
    tag_format: str = "bio"  # ner: tags converted from the file's IOB1 to "bio" or "iobes"
    head: str = "softmax"  # "softmax" or "crf"
    cell: str = "lstm"  # a name in tasks.cells.CELLS: lstm, gru, mingru, minlstm, qrnn, ...
    embed_dim: int = 100
    char_dim: int = 30  # 0: no character features
    char_units: int = 50
    max_word_length: int = 20  # characters kept per word (the first ones)
    lowercase: bool = True  # word lookup lowercased; casing goes in as its own feature
    units: int = 200
    num_layers: int = 2
    dropout: float = 0.5
    word_dropout: float = 0.05  # a training word becomes [UNK] with this probability
    char_lms: str = ""  # "FORWARD.keras,BACKWARD.keras": character LMs' states as features
    fine_tune_lms: bool = False  # train those LMs' weights too (False: frozen)
    word_lm: str = ""  # a forward word LM's .keras file, trained on lowercased text (python -m
    # tasks.language_model train): its vocabulary starts the tagger's, its embedding and layers
    # start the word embedding and the first layers' forward directions, and its cell,
    # embed_dim and units replace the fields above (Tagger.start_from)
    min_count: int = 1
    batch_size: int = 32
    epochs: int = 20  # at most; each ends with the dev score
    min_steps_per_epoch: int = 300  # an epoch is a pass or this many steps, the larger
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    patience: int = 4  # early stopping: epochs without a better dev score
    plateau_factor: float = 0.5  # learning rate x this after an epoch without a better dev score
    seed: int = 0


PRESETS = {
    "pos": Config(epochs=30, patience=6),
    "ner": Config(scheme="ner", head="crf", tag_format="iobes", epochs=30),
    "tiny": Config(embed_dim=16, char_dim=8, char_units=8, units=16, num_layers=1,
                   dropout=0.0, word_dropout=0.0, batch_size=8, epochs=2, min_steps_per_epoch=0,
                   learning_rate=1e-2, patience=0, plateau_factor=0.0),
}


def entity_scores(gold, predicted, scheme="bio"):
    """CoNLL-style entity scores (conlleval rules: exact span and type; an I- after O or after
    another type starts an entity). Returns {type: {"precision", "recall", "f1", "support"}}
    with "micro" over all types."""
    counts = {}  # type -> [true positives, predicted, gold]
    for g, p in zip(gold, predicted):
        if len(g) != len(p):
            raise ValueError(f"a sentence has {len(g)} gold tags but {len(p)} predicted")
        gold_spans = set(tag_schemes.spans(g, scheme))
        pred_spans = set(tag_schemes.spans(p, scheme))
        for spans, column in ((pred_spans, 1), (gold_spans, 2)):
            for kind, _, _ in spans:
                counts.setdefault(kind, [0, 0, 0])[column] += 1
        for kind, _, _ in gold_spans & pred_spans:
            counts[kind][0] += 1
    total = [sum(c[i] for c in counts.values()) for i in range(3)]

    def score(tp, n_pred, n_gold):
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}

    result = {kind: score(*c) for kind, c in sorted(counts.items())}
    result["micro"] = score(*total)
    return result


def score_table(scores):
    lines = ["| type | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for kind, s in scores.items():
        lines.append(f"| {kind} | {100 * s['precision']:.2f} | {100 * s['recall']:.2f} | "
                     f"{100 * s['f1']:.2f} | {s['support']} |")
    return "\n".join(lines)


def load(path, config, data_dir=None):
    """(token lists, tag lists) from a CoNLL-U file (pos) or CoNLL columns (ner, IOB1 or BIO
    read and converted to `config.tag_format`)."""
    path = data_lib.resolve(path, data_dir)
    if config.scheme == "pos":
        if config.tag_column not in ("upos", "xpos"):
            raise ValueError(f"`tag_column` must be 'upos' or 'xpos'. Received: "
                             f"{config.tag_column!r}")
        sentences = data_lib.read_conllu(path)
        return [s["words"] for s in sentences], [s[config.tag_column] for s in sentences]
    if config.scheme != "ner":
        raise ValueError(f"`scheme` must be 'pos' or 'ner'. Received: {config.scheme!r}")
    sentences = data_lib.read_conll(path)
    tags = []
    for number, s in enumerate(sentences, start=1):
        try:
            tags.append(tag_schemes.convert_tags(s["tags"], "iob1", config.tag_format))
        except ValueError as e:
            raise data_lib.DataError(path, None, f"sentence {number}: {e}") from None
    return [s["words"] for s in sentences], tags


def char_lm_embedding(config, data_dir=None):
    """None, or the `CharLMEmbedding` of the two character LMs `config.char_lms` names
    (forward, backward: `.keras` files of `python -m tasks.language_model`)."""
    if not config.char_lms:
        return None
    paths = config.char_lms.split(",")
    if len(paths) != 2:
        raise ValueError(f"`char_lms` must name two .keras files, the forward LM's and the "
                         f"backward LM's, separated by a comma. Received: "
                         f"char_lms={config.char_lms!r}")
    models = [keras.saving.load_model(data_lib.resolve(path, data_dir), compile=False)
              for path in paths]
    return CharLMEmbedding(*models, fine_tune=config.fine_tune_lms)


def word_language_model(config, data_dir=None):
    """None, or the word LM `config.word_lm` names (checked: `load_encoder_lm`)."""
    if not config.word_lm:
        return None
    from tasks.language_model.encoder import load_encoder_lm

    return load_encoder_lm(config.word_lm, data_dir, argument="word_lm")


def make_preprocessor(sentences, config, char_lm=None, word_lm=None):
    return TaggerPreprocessor.learn(sentences, config.lowercase, config.max_word_length,
                                    config.min_count, char_lm and char_lm.tokenizers,
                                    word_lm and word_lm.tokenizer.vocabulary)


def evaluate(model, sentences, tags, scheme, lm_states=None):
    """Token accuracy; for NER also entity precision / recall / F1 per type and micro."""
    predicted = model.predict_tags(sentences, lm_states=lm_states)
    right = sum(p == g for ps, gs in zip(predicted, tags) for p, g in zip(ps, gs))
    results = {"accuracy": right / sum(len(g) for g in tags)}
    if scheme == "ner":
        fmt = "iobes" if any(t.startswith(("E-", "S-")) for t in model.tags) else "bio"
        results["entities"] = entity_scores(tags, predicted, fmt)
        results["f1"] = results["entities"]["micro"]["f1"]
    return results


class DevScore(keras.callbacks.Callback):
    """Adds `val_accuracy` (and `val_f1` for NER) of the decoded dev tags to the epoch logs, so
    that EarlyStopping and checkpoints can watch them. Frozen character LMs' vectors for the
    dev sentences are computed once, when training begins."""

    def __init__(self, sentences, tags, scheme):
        super().__init__()
        self.sentences, self.tags, self.scheme = sentences, tags, scheme
        self.lm_states = None

    def on_train_begin(self, logs=None):
        char_lm = getattr(self.model, "char_lm", None)
        if char_lm is not None and not char_lm.fine_tune:  # frozen: the same at every epoch
            self.lm_states = char_lm.states(self.sentences)

    def on_epoch_end(self, epoch, logs=None):
        results = evaluate(self.model, self.sentences, self.tags, self.scheme, self.lm_states)
        logs["val_accuracy"] = results["accuracy"]
        if "f1" in results:
            logs["val_f1"] = results["f1"]


LM_FIELDS = ("cell", "embed_dim", "units")  # what `word_lm` decides


def build_model(config, preprocessor, tags, char_lm=None, word_lm=None):
    """The tagger, built and compiled; with `word_lm` (whose vocabulary the preprocessor's
    starts with) it takes the LM's cell and sizes and starts from its weights."""
    fixed = {name: getattr(word_lm, name) for name in LM_FIELDS} if word_lm is not None else {}
    model = Tagger(preprocessor, **model_arguments(Tagger, config, tags=tags, char_lm=char_lm,
                                                   **fixed))
    model.compile(keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm))
    model.build()
    if word_lm is not None:
        model.start_from(word_lm)
    return model


def train(config, train_data, dev_data, callbacks=(), verbose="auto"):
    """`train_data` / `dev_data`: (token lists, tag lists). Returns (model, history, dev
    results); with `patience` the weights of the best dev epoch are kept. An epoch is a pass
    over the training sentences or `min_steps_per_epoch` steps, whichever is more
    (`tasks.task.epoch_steps`), so that a small corpus is not judged after a few steps."""
    keras.utils.set_random_seed(config.seed)
    (sentences, tags), (dev_sentences, dev_tags) = train_data, dev_data
    known = {t for s in tags for t in s}
    names = sorted(known)
    for number, s in enumerate(dev_tags, start=1):
        unseen = sorted(set(s) - known)
        if unseen:
            raise ValueError(f"dev sentence {number} has tags never seen in training: {unseen}")
    char_lm, word_lm = char_lm_embedding(config), word_language_model(config)
    preprocessor = make_preprocessor(sentences, config, char_lm, word_lm)
    model = build_model(config, preprocessor, names, char_lm, word_lm)
    monitor = "val_f1" if config.scheme == "ner" else "val_accuracy"
    dev_score = DevScore(dev_sentences, dev_tags, config.scheme)
    callbacks = [dev_score, *callbacks,
                 *dev_score_callbacks(monitor, config.patience, config.plateau_factor)]
    history = model.fit(sentences, tags, batch_size=config.batch_size, epochs=config.epochs,
                        steps_per_epoch=epoch_steps(len(sentences), config.batch_size,
                                                    config.min_steps_per_epoch),
                        callbacks=callbacks, verbose=verbose)
    return model, history, evaluate(model, dev_sentences, dev_tags, config.scheme,
                                    dev_score.lm_states)
