"""ULMFiT (Howard & Ruder 2018): a classifier that starts from a word LM, the slanted triangular
learning rate, discriminative learning rates and gradual unfreezing, and an LM that goes on
training on new text."""

import dataclasses
import math

import keras
import numpy as np
import pytest

from tasks import language_model as lm
from tasks import sentiment as st
from tasks.char_classifier import recipe as char_recipe
from tasks.classification import training
from tasks.fine_tuning import LayerwiseAdam, SlantedTriangular
from tasks.language_model.encoder import check_encoder_lm, copy_encoder

LINES = ["a gorgeous , witty film .", "dull and overlong .", "it 's not good .",
         "a witty , gorgeous and good film", "the plot is dull", "not a film , a dull plot ."]
POSITIVE = ["a gorgeous film", "witty and good", "a good , witty plot"]
NEGATIVE = ["dull", "not good", "a dull , overlong film"]


def word_lm(num_layers=1, units=6, **overrides):
    config = dataclasses.replace(lm.PRESETS["tiny"], embed_dim=5, units=units,
                                 num_layers=num_layers, **overrides)
    return lm.train(config, LINES * 3, LINES, verbose=0)[0]


def tiny_config(**overrides):
    return dataclasses.replace(st.PRESETS["tiny"], **overrides)


def classifier(model_lm, **overrides):
    config = tiny_config(**overrides)
    preprocessor = st.make_preprocessor([], config, model_lm)
    return training.build_model(config, preprocessor, ["negative", "positive"], model_lm)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_the_classifier_starts_from_exactly_the_lms_embedding_and_hidden_states(num_layers):
    keras.utils.set_random_seed(0)
    source = word_lm(num_layers)
    model = classifier(source, units=99, embed_dim=99, num_layers=3)  # the LM's sizes win
    assert (model.units, model.embed_dim, model.num_layers) == (6, 5, num_layers)
    np.testing.assert_array_equal(model.embedding.embeddings.numpy(),
                                  source.embedding.embeddings.numpy())
    features = model.preprocessor(np.array(["a witty film", "it 's not a good , dull plot"]))
    ids, mask = features["token_ids"].numpy(), features["padding_mask"].numpy()
    expected = np.asarray(source.hidden_states(ids, mask))
    outputs = np.asarray(model.rnn(model.embedding(ids), mask=mask))
    # The forward direction of every layer is the LM's; padding never counts.
    np.testing.assert_allclose(outputs[..., :6][mask], expected[mask], atol=1e-5)
    # The backward directions keep their own initialization (not zeros, not the LM's).
    backward = model.rnn.rnn_layers[0].backward_layer.cell.weights[0].numpy()
    assert np.abs(backward).max() > 0
    assert not np.allclose(backward, source.rnns[0].cell.weights[0].numpy())


def test_the_lms_vocabulary_is_the_classifiers_and_unknown_words_are_unk():
    keras.utils.set_random_seed(0)
    source = word_lm()
    model = classifier(source)
    assert model.preprocessor.vocabulary == source.tokenizer.vocabulary
    assert st.recipe.vocabulary_coverage(model.preprocessor, ["a dull film", "zzz qqq"]) == 0.6


def test_only_a_forward_word_lm_of_the_same_vocabulary_and_shape_can_start_a_classifier():
    keras.utils.set_random_seed(0)
    source = word_lm()
    with pytest.raises(ValueError, match="forward word-level.*backward word-level"):
        check_encoder_lm(word_lm(reverse=True))
    with pytest.raises(ValueError, match="forward word-level.*char-level"):
        check_encoder_lm(word_lm(level="char"))
    with pytest.raises(ValueError, match="`lm` must be an RNNLanguageModel"):
        check_encoder_lm(keras.Sequential())
    other = st.make_preprocessor(["other words"], tiny_config())
    model = training.build_model(tiny_config(embed_dim=5, units=6), other, ["a", "b"])
    with pytest.raises(ValueError, match="vocabulary is not the LM's"):
        model.start_from(source)
    stack = keras.layers.Embedding(len(source.tokenizer.vocabulary), 5)
    stack.build((None, None))
    with pytest.raises(ValueError, match="num_layers=1"):  # fewer layers than the LM's
        copy_encoder(word_lm(num_layers=2), stack, training.build_model(
            tiny_config(embed_dim=5, units=6, num_layers=1), other, ["a", "b"]).rnn)
    with pytest.raises(ValueError, match="character classifier.*lm='x.keras'"):
        char_recipe.train(dataclasses.replace(char_recipe.PRESETS["tiny"], lm="x.keras"),
                          (["ab"], ["x"]), (["ab"], ["x"]))


def test_slanted_triangular_follows_the_papers_equation():
    schedule = SlantedTriangular(0.01, total_steps=1000, cut_fraction=0.1, ratio=32)

    def paper(t, T=1000, cut_frac=0.1, ratio=32, lr=0.01):  # ULMFiT, equation 3
        cut = math.floor(T * cut_frac)
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
        return lr * (1 + max(p, 0) * (ratio - 1)) / ratio

    for t in (0, 1, 50, 99, 100, 101, 500, 999, 1000, 5000):
        assert float(schedule(t)) == pytest.approx(paper(t), rel=1e-5)
    assert float(schedule(100)) == pytest.approx(0.01)
    assert float(schedule(0)) == pytest.approx(0.01 / 32)
    restored = SlantedTriangular.from_config(schedule.get_config())
    assert float(restored(300)) == pytest.approx(float(schedule(300)))
    with pytest.raises(ValueError, match="total_steps=0"):
        SlantedTriangular(0.01, 0)


def first_step_changes(model, optimizer, steps=1):
    """Largest weight change per group (embedding, rnn layer 0, top) after `steps` of Adam."""
    model.compile(optimizer)
    before = {v.path: v.numpy().copy() for v in model.trainable_weights}
    model.fit(["a witty film", "a dull plot"], ["positive", "negative"], epochs=1,
              batch_size=2, steps_per_epoch=steps, verbose=0)
    change = {"embedding": 0.0, "rnn": 0.0, "top": 0.0}
    for v in model.trainable_weights:
        group = next((g for g in ("embedding", "rnn") if f"/{g}/" in v.path), "top")
        change[group] = max(change[group], np.abs(v.numpy() - before[v.path]).max())
    return change


def test_discriminative_learning_rates_divide_each_layers_rate_by_the_decay_per_level():
    keras.utils.set_random_seed(0)
    model = classifier(word_lm(), dropout=0.0, embedding_dropout=0.0)
    lr = 1e-3
    # Adam's first step moves each weight by lr · g / (|g| + ε): by lr where g is not tiny.
    change = first_step_changes(model, LayerwiseAdam(lr, model.layer_groups(), 2.0))
    assert change["top"] == pytest.approx(lr, rel=1e-2)
    assert change["rnn"] == pytest.approx(lr / 2, rel=1e-2)
    assert change["embedding"] == pytest.approx(lr / 4, rel=1e-2)


def test_gradual_unfreezing_trains_one_more_group_from_the_top_every_period():
    keras.utils.set_random_seed(0)
    model = classifier(word_lm(), dropout=0.0, embedding_dropout=0.0)
    optimizer = LayerwiseAdam(1e-3, model.layer_groups(), 1.0, unfreeze_every=2)
    assert [optimizer.depth(f"text_classifier/{p}/x") for p in ("embedding", "rnn/bidirectional_0",
                                                                "classifier")] == [2, 1, 0]
    change = first_step_changes(model, optimizer, steps=2)  # steps 0, 1: the top group
    assert change["top"] > 0 and change["rnn"] == 0 and change["embedding"] == 0
    lm_weights = model.embedding.embeddings.numpy().copy()
    change = first_step_changes(model, optimizer, steps=2)  # steps 2, 3: and the LSTM
    assert change["rnn"] > 0 and change["embedding"] == 0
    np.testing.assert_array_equal(model.embedding.embeddings.numpy(), lm_weights)
    change = first_step_changes(model, optimizer, steps=1)  # step 4: everything
    assert change["embedding"] > 0
    with pytest.raises(ValueError, match="layer_lr_decay=0.5"):
        LayerwiseAdam(1e-3, [], 0.5)


def test_ulmfit_training_runs_from_a_saved_lm_and_the_classifier_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    path = str(tmp_path / "word_lm.keras")
    word_lm().save(path)
    config = tiny_config(lm="word_lm.keras", schedule="stlr", layer_lr_decay=2.6,
                         gradual_unfreezing=True, epochs=2)
    texts, labels = POSITIVE + NEGATIVE, ["positive"] * 3 + ["negative"] * 3
    model, history, _ = st.train(config, (texts, labels), (texts, labels), verbose=0,
                                 data_dir=str(tmp_path))
    assert isinstance(model.optimizer, LayerwiseAdam)
    assert isinstance(model.optimizer._learning_rate, SlantedTriangular)
    assert len(history.history["val_accuracy"]) == 2
    saved = str(tmp_path / "classifier.keras")
    model.save(saved)
    restored = keras.saving.load_model(saved)
    assert isinstance(restored.optimizer, LayerwiseAdam)
    assert restored.optimizer.groups == model.layer_groups()
    np.testing.assert_allclose(restored.predict(texts)["probabilities"],
                               model.predict(texts)["probabilities"], atol=1e-6)
    with pytest.raises(ValueError, match="schedule='cosine'"):
        training.make_optimizer(tiny_config(schedule="cosine"), model)


def test_a_language_model_goes_on_training_from_another_on_new_text():
    keras.utils.set_random_seed(0)
    general = word_lm()
    config = dataclasses.replace(lm.PRESETS["tiny"], embed_dim=5, units=6, epochs=0)
    tuned, _, _ = lm.train(config, LINES, LINES, init=general,
                           verbose=0)
    assert tuned.tokenizer.vocabulary == general.tokenizer.vocabulary
    for a, b in zip(tuned.trainable_weights, general.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    tuned, _, _ = lm.train(dataclasses.replace(config, epochs=1), LINES * 3,
                           LINES, init=general, verbose=0)
    assert not np.allclose(tuned.embedding.embeddings.numpy(),
                           general.embedding.embeddings.numpy())
    with pytest.raises(ValueError, match="units=6; the config asks for 7"):
        lm.train(dataclasses.replace(config, units=7), LINES, LINES, init=general, verbose=0)


@pytest.mark.slow
def test_the_three_steps_from_the_command_line(tmp_path, capsys):
    general, tuned = str(tmp_path / "general.keras"), str(tmp_path / "tuned.keras")
    (tmp_path / "general.txt").write_text("\n".join(LINES * 12) + "\n")
    (tmp_path / "reviews.txt").write_text("\n".join((POSITIVE + NEGATIVE) * 30) + "\n")
    rows = ["text\tlabel"] + [f"{t}\tpositive" for t in POSITIVE] + [
        f"{t}\tnegative" for t in NEGATIVE]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    tiny_lm = ["--preset", "tiny", "--set", "embed_dim=5", "units=6"]
    lm.main(["train", *tiny_lm, "--data", str(tmp_path / "general.txt"), "--model", general])
    lm.main(["train", *tiny_lm, "--init", general, "--data", str(tmp_path / "reviews.txt"),
             "--model", tuned])
    assert keras.saving.load_model(tuned).tokenizer.vocabulary == keras.saving.load_model(
        general).tokenizer.vocabulary
    capsys.readouterr()
    st.main(["train", "--preset", "tiny", "--train", str(tmp_path / "train.tsv"), "--dev",
             str(tmp_path / "train.tsv"), "--data-dir", str(tmp_path), "--model",
             str(tmp_path / "classifier.keras"), "--set", "lm=tuned.keras", "schedule=stlr",
             "layer_lr_decay=2.6", "gradual_unfreezing=true"])
    assert "its vocabulary covers 100.0 % of the training tokens" in capsys.readouterr().out
    restored = keras.saving.load_model(str(tmp_path / "classifier.keras"))
    assert (restored.units, restored.embed_dim) == (6, 5)
    assert restored.optimizer.layer_lr_decay == 2.6


def test_a_language_model_with_patience_keeps_its_best_dev_epoch():
    keras.utils.set_random_seed(0)
    config = dataclasses.replace(lm.PRESETS["tiny"], embed_dim=5, units=6, epochs=4,
                                 learning_rate=0.05, patience=4)
    # The dev text reads the training text backwards: the better the model knows the one,
    # the worse it predicts the other, so the dev loss rises after the first epochs.
    words = "a b c d e f g h".split()
    train = [" ".join(words)] * 40
    dev = [" ".join(reversed(words))] * 8
    model, history, results = lm.train(config, train, dev, verbose=0)
    losses = history.history["val_loss"]
    assert np.argmin(losses) < len(losses) - 1, losses  # the dev loss went up again
    assert results["loss"] == pytest.approx(min(losses), rel=1e-5)
