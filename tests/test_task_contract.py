"""The Task contract, the same for every task: raw inputs in `evaluate` and `predict`, answers in
input order, the config from attributes, and `compile()` defaults restored from a .keras file."""

import dataclasses
import inspect

import keras
import numpy as np
import pytest

from tasks import char_classifier as cc
from tasks import language_model as lm
from tasks import sentiment as st
from tasks import tagger as tg
from tasks import translator as tr
from tasks.classification import training

SENTENCES = [["John", "met", "Mary", "in", "Paris"], ["Acme", "sold", "it"], ["Mary"],
             ["the", "cat", "sat", "in", "London", "today"]]
TAGS = [["B-PER", "O", "B-PER", "O", "B-LOC"], ["B-ORG", "O", "O"], ["B-PER"],
        ["O", "O", "O", "O", "B-LOC", "O"]]
TEXTS = ["a good film", "dull and bad", "the plot was fine really", "awful"]
LABELS = ["positive", "negative", "positive", "negative"]
PAIRS = [("a b c", "C B A"), ("d e", "E D"), ("f", "F"), ("a d f g h", "H G F D A")]
LINES = ["the cat sat on the mat", "a dog ran", "my bird sat on the mat now", "the dog"]


def tagger(cell="lstm"):
    config = dataclasses.replace(tg.PRESETS["tiny"], scheme="ner", tag_format="bio", cell=cell)
    pre = tg.make_preprocessor(SENTENCES, config)
    return tg.build_model(config, pre, sorted({t for s in TAGS for t in s})), SENTENCES, TAGS


def sentiment(cell="lstm"):
    config = dataclasses.replace(st.PRESETS["tiny"], cell=cell)
    return st.build_model(config, st.make_preprocessor(TEXTS, config), ["negative", "positive"]), \
        TEXTS, LABELS


def char_classifier(cell="lstm"):
    pre = cc.CharPreprocessor.learn(TEXTS)
    config = dataclasses.replace(cc.PRESETS["tiny"], cell=cell)
    return training.build_model(config, pre, ["negative", "positive"]), TEXTS, LABELS


def translator(cell="lstm"):
    return tr.build_model(dataclasses.replace(tr.PRESETS["tiny"], cell=cell), PAIRS), PAIRS, None


def language_model(cell="lstm"):
    config = dataclasses.replace(lm.PRESETS["tiny"], batching="sentences", cell=cell)
    return lm.build_model(config, lm.make_tokenizer(LINES)), LINES, None


TASKS = {"tagger": tagger, "sentiment": sentiment, "char_classifier": char_classifier,
         "translator": translator, "language_model": language_model}


@pytest.fixture(scope="module", params=sorted(TASKS))
def task(request):
    keras.utils.set_random_seed(0)
    return TASKS[request.param]()


def test_evaluate_takes_raw_inputs(task):
    model, x, y = task
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isfinite(results["loss"]) and results["loss"] > 0, results
    again = model.evaluate(x, y, verbose=0, return_dict=True)  # deterministic, nothing carried
    assert np.isclose(again["loss"], results["loss"], rtol=1e-6)


def test_predict_answers_every_raw_input_in_order(task):
    model, x, _ = task
    together = model.predict(x, verbose=0)
    alone = [model.predict([item], verbose=0) for item in x]
    if not isinstance(together, dict):  # tags, translations: one answer per input
        assert together == [answer[0] for answer in alone]
        return
    for key, values in together.items():  # labels and probabilities; perplexities
        assert len(values) == len(x), key
        for value, answer in zip(values, alone):
            if key == "label":
                assert value == answer[key][0]
            else:
                np.testing.assert_allclose(value, answer[key][0], rtol=1e-4, atol=1e-5)


def test_config_is_the_constructor_arguments(task):
    model = task[0]
    config = model.get_config()
    arguments = [n for n in inspect.signature(type(model).__init__).parameters
                 if n not in ("self", "kwargs")]
    assert set(arguments) <= set(config), set(arguments) - set(config)
    clone = type(model).from_config(config)
    assert clone.get_config() == config


def test_compile_defaults_come_back_from_a_keras_file(task, tmp_path):
    model = task[0]
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    for key in ("learning_rate", "clipnorm", "global_clipnorm", "use_ema"):
        assert loaded.optimizer.get_config().get(key) == model.optimizer.get_config().get(key)
    assert type(loaded.loss) is type(model.loss)
    for a, b in zip(loaded.trainable_weights, model.trainable_weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_empty_raw_inputs_have_empty_answers(task):
    model = task[0]
    out = model.predict([], verbose=0)
    if isinstance(out, dict):
        assert all(len(value) == 0 for value in out.values()), out
    else:
        assert out == []


def test_epoch_steps_has_a_floor_in_steps():
    from tasks.task import epoch_steps

    assert epoch_steps(1000, 32, 300) == 300  # 32 batches a pass: the epoch repeats the data
    assert epoch_steps(14_041, 32, 300) is None  # 439 batches: an epoch stays one pass
    assert epoch_steps(10, 4, 0) is None
    with pytest.raises(ValueError, match="min_steps_per_epoch=-1"):
        epoch_steps(10, 4, -1)


@pytest.mark.parametrize("name", ["tagger", "sentiment", "char_classifier"])
@pytest.mark.parametrize("floor", [0, 1, 5])
def test_a_small_training_set_gets_the_minimum_steps_per_epoch(name, floor):
    """Four examples in batches of 2 are 2 or 3 steps a pass (length buckets). With a floor
    of 5 steps, each epoch is 5 steps (the data repeats); with a floor of 1 or none it is the
    pass. Each epoch ends with its dev score, for early stopping to act on."""
    recipe, data = {"tagger": (tg, (SENTENCES, TAGS)), "sentiment": (st, (TEXTS, LABELS)),
                    "char_classifier": (cc, (TEXTS, LABELS))}[name]
    config = dataclasses.replace(recipe.PRESETS["tiny"], batch_size=2, epochs=2,
                                 min_steps_per_epoch=floor)
    if name == "tagger":
        config = dataclasses.replace(config, scheme="ner", tag_format="bio")
    model, history, _ = recipe.train(config, data, data, verbose=0)
    one_pass = sum(1 for _ in model.raw_dataset(*data, batch_size=2))
    assert one_pass < 5
    assert int(model.optimizer.iterations) == 2 * (5 if floor == 5 else one_pass)
    assert len(history.history["val_f1" if name == "tagger" else "val_accuracy"]) == 2
