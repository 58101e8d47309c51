"""Contextual string embeddings (`CharLMEmbedding`): two character LMs read a sentence, each
word is their states at its boundaries; the tagger that uses them."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import serve_in_fresh_process

from tasks import export
from tasks import language_model as lm
from tasks import tagger as tg
from tasks.language_model.embedding import CharLMEmbedding, boundary_features
from tasks.tokenizers import EOS_ID, PAD_ID

LINES = ["John lives in Paris .", "Mary met Acme in London today", "the cat sat on the mat",
         "Paris is big", "Globex hired John"]


def char_lm(reverse, units=12, seed=0):
    config = dataclasses.replace(lm.PRESETS["tiny"], level="char", reverse=reverse,
                                 embed_dim=8, units=units, num_layers=2, seed=seed)
    model, _, _ = lm.train(config, LINES, LINES[:2], verbose=0)
    return model


@pytest.fixture(scope="module")
def lms():
    keras.utils.set_random_seed(0)
    return char_lm(False), char_lm(True, units=10, seed=1)


def test_a_reversed_tokenizer_reads_right_to_left_and_writes_left_to_right(lms):
    forward, backward = (m.tokenizer for m in lms)
    text = "Mary met"
    assert backward(tf.constant([text])).to_list()[0] == forward(
        tf.constant([text])).to_list()[0][::-1]
    assert backward(tf.constant(text)).numpy().tolist() == forward(
        tf.constant(text)).numpy().tolist()[::-1]
    ids = backward(tf.constant([text, "cat"]))
    assert [t.decode() for t in backward.detokenize(ids).numpy()] == [text, "cat"]


def test_boundary_positions_point_at_each_words_edge_characters(lms):
    forward, backward = (m.tokenizer for m in lms)
    tokens = tf.constant([["John", "lives", "in"], ["Mary", "", ""]])
    f = {k: v.numpy() for k, v in boundary_features(tokens, forward, backward).items()}
    vocabulary = np.array(forward.vocabulary)
    for row, words in enumerate([["John", "lives", "in"], ["Mary"]]):
        text = " ".join(words)
        ids = f["lm_forward_ids"][row]
        assert ids[0] == EOS_ID and ids[len(text) + 1] == EOS_ID
        assert (ids[len(text) + 2:] == PAD_ID).all() and len(ids) % 32 == 0
        assert "".join(vocabulary[ids[1:len(text) + 1]]) == text
        back = f["lm_backward_ids"][row]
        assert "".join(np.array(backward.vocabulary)[back[1:len(text) + 1]]) == text[::-1]
        for j, word in enumerate(words):
            assert vocabulary[ids[f["lm_forward_ends"][row, j]]] == word[-1]
            assert backward.vocabulary[back[f["lm_backward_starts"][row, j]]] == word[0]
    assert f["lm_forward_ends"][1, 1:].tolist() == [0, 0]


def test_a_word_is_the_lms_states_at_its_boundaries(lms):
    """The oracle: each model run alone on the text up to the word (forward: from the start to
    its last character; backward: from the end back to its first character), its last state."""
    forward, backward = lms
    layer = CharLMEmbedding(forward, backward)
    sentences = [["John", "lives", "in", "Paris", "."], ["Acme", "hired", "Mary"]]
    tokens = tf.constant([s + [""] * (5 - len(s)) for s in sentences])
    out = np.asarray(layer(boundary_features(tokens, *layer.tokenizers)))
    assert out.shape == (2, 5, 12 + 10)
    for row, words in enumerate(sentences):
        text = " ".join(words)
        start = 0
        for j, word in enumerate(words):
            end = start + len(word)
            for model, piece, columns in ((forward, text[:end], slice(0, 12)),
                                          (backward, text[start:], slice(12, 22))):
                ids = np.array(model.encode([piece]), "int32")  # [EOS] + the piece as read
                expected = np.asarray(model.hidden_states(ids))[0, -1]
                np.testing.assert_allclose(out[row, j, columns], expected, atol=1e-5)
            start = end + 1


def test_padding_never_changes_a_word(lms):
    layer = CharLMEmbedding(*lms)
    short = tf.constant([["Mary", "met", "John"]])
    long = tf.constant([["Mary", "met", "John", "", "", "", "", ""],
                        ["a", "very", "long", "sentence", "of", "eight", "words", "here"]])
    alone = np.asarray(layer(boundary_features(short, *layer.tokenizers)))
    padded = np.asarray(layer(boundary_features(long, *layer.tokenizers)))
    np.testing.assert_allclose(padded[0, :3], alone[0], atol=1e-5)


def test_frozen_by_default_fine_tuned_on_request(lms):
    frozen = CharLMEmbedding(*lms)
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) > 0
    for fine_tune in (False, True):  # rebuilt from its config (as when loaded), then built
        layer = CharLMEmbedding.from_config(CharLMEmbedding(*lms, fine_tune).get_config())
        layer.build()
        assert (len(layer.trainable_weights) > 0) == fine_tune
    CharLMEmbedding(*lms)  # the fixture's models frozen again


def test_bad_models_are_named(lms):
    forward, backward = lms
    with pytest.raises(ValueError, match="`backward_lm` must read text right to left"):
        CharLMEmbedding(forward, forward)
    word = lm.build_model(lm.PRESETS["tiny"], lm.make_tokenizer(LINES))
    with pytest.raises(ValueError, match="`forward_lm` must be a character-level"):
        CharLMEmbedding(word, backward)


def ner_data():
    sentences = [["John", "lives", "in", "Paris"], ["Mary", "met", "Acme", "in", "London"],
                 ["Globex", "hired", "John"], ["the", "cat", "sat"]] * 4
    tags = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "B-ORG", "O", "B-LOC"],
            ["B-ORG", "O", "B-PER"], ["O", "O", "O"]] * 4
    return sentences, tags


@pytest.fixture(scope="module")
def tagger(lms, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lms")
    paths = [str(folder / "forward.keras"), str(folder / "backward.keras")]
    for model, path in zip(lms, paths):
        model.save(path)
    config = dataclasses.replace(tg.PRESETS["tiny"], scheme="ner", tag_format="bio", epochs=3,
                                 char_lms=",".join(paths))
    return tg.train(config, ner_data(), ner_data(), verbose=0)[0]


def test_the_tagger_reads_the_lms_and_leaves_them_frozen(tagger, lms):
    assert tagger.char_lm is not None and tagger.char_lm.fine_tune is False
    for trained, original in zip((tagger.char_lm.forward_lm, tagger.char_lm.backward_lm), lms):
        for a, b in zip(trained.weights, original.weights):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_tagger_with_lms_round_trips_through_keras_and_saved_model(tagger, tmp_path):
    sentences = ["Mary met people in London", "Acme", "", "unknown words here"]
    expected = tagger.predict_tags(sentences)
    features = tagger.preprocessor(tf.constant([["John", "lives", "in", "Paris"]]))
    potentials = np.asarray(tagger(features))
    path = str(tmp_path / "tagger.keras")
    tagger.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert len(loaded.trainable_weights) == len(tagger.trainable_weights)
    np.testing.assert_allclose(np.asarray(loaded(features)), potentials, atol=1e-5)
    assert loaded.predict_tags(sentences) == expected
    exported = export.export(tagger, str(tmp_path / "tagger_savedmodel"))
    code = f"""
import json, tensorflow as tf, tensorflow_text
m = tf.saved_model.load({exported!r})
out = m.tag(tf.constant({sentences!r}))
rows = [[t.decode() for t in r[:n]] for r, n in zip(out["tags"].numpy(), out["lengths"].numpy())]
print(json.dumps(rows))
"""
    assert serve_in_fresh_process(code) == expected


def test_frozen_lms_states_are_computed_once_and_feed_the_same_tagger(tagger):
    # Sentences of one length share a bucket, so the batch keeps their order.
    sentences = [["Mary", "met", "Acme", "in", "London"], ["John", "lives", "in", "Paris", "."],
                 ["the", "cat", "sat", "on", "mats"]]
    tags = [["O"] * 5] * 3
    features, _, _ = next(iter(tagger.raw_dataset(sentences, tags, batch_size=8)))
    assert "lm_states" in features and "lm_forward_ids" not in features
    # batch_size rows (the last five empty sentences), width 8
    assert features["lm_states"].shape == (8, 8, tagger.char_lm.output_dim)
    assert not np.asarray(features["lm_states"])[3:].any()
    direct = tagger.preprocessor(tf.constant([s + [""] * 3 for s in sentences]))
    assert "lm_forward_ids" in direct
    vectors = np.asarray(tagger.char_lm(direct))
    np.testing.assert_allclose(np.asarray(features["lm_states"])[:3, :5], vectors[:, :5],
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(tagger(dict(features)))[:3],
                               np.asarray(tagger(direct)), atol=1e-5)
    states = tagger.char_lm.states(sentences + [["Acme"]])  # one length each, unpadded
    assert [s.shape for s in states] == [(5, tagger.char_lm.output_dim)] * 3 + [
        (1, tagger.char_lm.output_dim)]
    np.testing.assert_allclose(states[1], vectors[1, :5], atol=1e-5)
    expected = tagger.predict_tags(sentences + [["Acme"]])
    assert tagger.predict_tags(sentences + [["Acme"]], lm_states=states) == expected


def test_fine_tuned_lms_read_the_text_at_every_step(lms):
    sentences, tags = ner_data()
    layer = CharLMEmbedding(*lms, fine_tune=True)
    preprocessor = tg.make_preprocessor(sentences, tg.PRESETS["tiny"], layer)
    model = tg.Tagger(preprocessor, tags=sorted({t for s in tags for t in s}), char_lm=layer,
                      embed_dim=8, char_dim=0, units=8, num_layers=1)
    features, _, _ = next(iter(model.raw_dataset(sentences, tags, batch_size=4)))
    assert "lm_forward_ids" in features and "lm_states" not in features
    CharLMEmbedding(*lms)  # the fixture's models frozen again
