"""A tagger whose word-level stack starts from a word LM (`Tagger.start_from`, the tagger
recipe's `word_lm`): the LM's embedding and hidden states, exactly, at the start."""

import dataclasses

import keras
import numpy as np
import pytest

from tasks import language_model as lm
from tasks import tagger as tg
from tasks.tagger.preprocessor import TaggerPreprocessor
from tasks.tokenizers import SPECIALS

LM_LINES = ["the witty film is good .", "a dull plot and a dull film .", "it is not good .",
            "the film is a witty film", "the plot is dull"]
SENTENCES = [["The", "witty", "Film", "is", "good", "."], ["Zebras", "are", "dull", "."],
             ["A", "dull", "plot"]]
TAGS = [["DET", "ADJ", "NOUN", "AUX", "ADJ", "PUNCT"], ["NOUN", "AUX", "ADJ", "PUNCT"],
        ["DET", "ADJ", "NOUN"]]


def word_lm(num_layers=1, lines=LM_LINES, **overrides):
    config = dataclasses.replace(lm.PRESETS["tiny"], embed_dim=5, units=6,
                                 num_layers=num_layers, **overrides)
    return lm.train(config, lines * 6, lines * 6, verbose=0)[0]


def tagger_config(**overrides):
    return dataclasses.replace(tg.PRESETS["tiny"], dropout=0.0, word_dropout=0.0, **overrides)


def tagger(source, **overrides):
    config = tagger_config(**overrides)
    preprocessor = tg.make_preprocessor(SENTENCES, config, word_lm=source)
    return tg.build_model(config, preprocessor, sorted({t for s in TAGS for t in s}),
                          word_lm=source)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_the_tagger_starts_from_exactly_the_lms_embedding_and_hidden_states(num_layers):
    keras.utils.set_random_seed(0)
    source = word_lm(num_layers)
    vocabulary = source.tokenizer.vocabulary
    model = tagger(source, embed_dim=99, units=99, num_layers=3)  # the LM's sizes win
    assert (model.embed_dim, model.units, model.num_layers) == (5, 6, 3)
    # The LM's words first, in its order; the training words it lacks after them.
    words = model.preprocessor.words
    assert words[: len(vocabulary)] == vocabulary
    assert sorted(words[len(vocabulary):]) == ["are", "zebras"]
    np.testing.assert_array_equal(model.word_embedding.embeddings.numpy()[: len(vocabulary)],
                                  source.embedding.embeddings.numpy())
    features = model.preprocessor(np.array([["The", "dull", "Film", "is", "good", ""],
                                            ["Cats", "is", "a", "witty", "plot", "."]]))
    features = {k: v.numpy() for k, v in features.items()}
    ids, mask = features["token_ids"], features["padding_mask"]
    assert ids[1, 0] == 1 and ids.max() < len(vocabulary)  # the LM's words and [UNK]
    expected = np.asarray(source.hidden_states(ids, mask))
    outputs = model.word_vectors(features)
    for layer in model.rnn.rnn_layers[:num_layers]:
        outputs = np.asarray(layer(outputs, mask=mask))
    # Each of the LM's layers is the forward direction of the tagger's layer; the casing
    # and character features enter the first layer through zeros.
    np.testing.assert_allclose(outputs[..., :6][mask], expected[mask], atol=1e-5)
    kernel = model.rnn.rnn_layers[0].forward_layer.cell.weights[0].numpy()
    assert kernel.shape[0] == 5 + 8 + 2 * model.char_units
    assert np.all(kernel[5:] == 0) and np.abs(kernel[:5]).max() > 0
    # The backward directions and the layers above the LM's keep their own initialization.
    backward = model.rnn.rnn_layers[0].backward_layer.cell.weights[0].numpy()
    assert np.abs(backward[5:]).max() > 0
    above = model.rnn.rnn_layers[num_layers].forward_layer.cell.weights[1].numpy()
    assert not np.allclose(above[:6], source.rnns[-1].cell.weights[1].numpy())


def test_only_a_lowercased_forward_word_lm_with_the_taggers_vocabulary_and_depth(tmp_path):
    keras.utils.set_random_seed(0)
    cased = word_lm(lines=["The Film is good .", "A dull plot ."])
    with pytest.raises(ValueError, match=r"lowercase=True.*3 words with capitals.*'Film'"):
        tagger(cased)
    model = tagger(cased, lowercase=False)  # a cased tagger reads a cased LM
    assert model.preprocessor.words[:len(cased.tokenizer.vocabulary)] == \
        cased.tokenizer.vocabulary
    source = word_lm(num_layers=2)
    with pytest.raises(ValueError, match="num_layers=1"):
        tagger(source, num_layers=1)
    config = tagger_config(embed_dim=5, units=6)
    own = tg.build_model(config, tg.make_preprocessor(SENTENCES, config), ["A", "B"])
    with pytest.raises(ValueError, match="does not start with the LM's"):
        own.start_from(source)
    word_lm(level="char").save(tmp_path / "char.keras")
    with pytest.raises(ValueError, match="`word_lm` must be a forward word-level.*char-level"):
        tg.recipe.word_language_model(tagger_config(word_lm=str(tmp_path / "char.keras")))


def test_training_from_a_saved_lm_and_the_tagger_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    path = str(tmp_path / "lm.keras")
    word_lm().save(path)
    config = tagger_config(word_lm=path, epochs=1)
    model, _, results = tg.train(config, (SENTENCES, TAGS), (SENTENCES, TAGS), verbose=0)
    assert 0 <= results["accuracy"] <= 1
    assert model.embed_dim == 5 and len(model.preprocessor.words) > len(SPECIALS)
    model.save(tmp_path / "tagger.keras")
    restored = keras.saving.load_model(tmp_path / "tagger.keras")
    assert restored.predict_tags(SENTENCES) == model.predict_tags(SENTENCES)
    with pytest.raises(ValueError, match="`word_lm` must be an RNNLanguageModel"):
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(tmp_path / "other.keras")
        tg.train(dataclasses.replace(config, word_lm=str(tmp_path / "other.keras")),
                 (SENTENCES, TAGS), (SENTENCES, TAGS), verbose=0)


def test_a_vocabulary_to_start_from_comes_first_and_the_training_words_follow_it():
    words = TaggerPreprocessor.learn(SENTENCES, vocabulary=[*SPECIALS, "zebras", "cat"]).words
    # The given words keep their order; "." and "dull" (twice each) lead the rest.
    assert words[: len(SPECIALS) + 4] == [*SPECIALS, "zebras", "cat", ".", "dull"]
    assert len(words) == len(set(words)) == len(SPECIALS) + 2 + 10
