"""The sentiment task on tiny fixtures written here."""

import dataclasses

import keras
import numpy as np
import pytest
from conftest import serve_in_fresh_process

from tasks import export
from tasks import sentiment as st

POSITIVE, NEGATIVE = ["good", "great", "fine", "superb"], ["bad", "awful", "dull", "poor"]
FILLER = ["the", "movie", "was", "plot", "a", "and", "really"]
TINY = st.PRESETS["tiny"]


def corpus(n, seed):
    """Filler words with one sentiment word somewhere: the label is that word's polarity."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        y = int(rng.integers(2))
        words = list(rng.choice(FILLER, rng.integers(1, 8)))
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(POSITIVE if y else
                                                                          NEGATIVE)))
        texts.append(" ".join(words))
        labels.append(st.SST_LABELS[2][y])
    return texts, labels


def untrained(pooling, num_layers=1):
    config = dataclasses.replace(TINY, pooling=pooling, num_layers=num_layers)
    texts, labels = corpus(50, 0)
    return st.build_model(config, st.make_preprocessor(texts, config), st.SST_LABELS[2])


@pytest.fixture(scope="module")
def trained():
    config = dataclasses.replace(TINY, pooling="attention")
    return st.train(config, corpus(200, 0), corpus(60, 1), verbose=0)


def test_text_is_split_as_the_treebank_does():
    pre = st.make_preprocessor(["it 's not great , is n't it ?"], TINY)
    raw = pre(["It's not great, isn't it?"])["token_ids"].numpy()
    tree = pre(["it 's not great , is n't it ?"])["token_ids"].numpy()
    assert raw.tolist() == tree.tolist() and 1 not in raw  # no [UNK]
    assert pre.tokens(["Don't -- ever!"]).to_list() == [[b"do", b"n't", b"--", b"ever", b"!"]]
    empty = pre(["", "   "])
    assert empty["token_ids"].shape == (2, 1) and not empty["padding_mask"].numpy().any()


def test_truncation_keeps_the_chosen_end():
    texts = ["a b c d e f"]
    tail = st.SentimentPreprocessor(st.make_preprocessor(texts, TINY).vocabulary, max_length=4)
    head = st.SentimentPreprocessor(tail.vocabulary, max_length=4, truncate="head")
    assert tail.tokens(texts).to_list() == [[b"a", b"b", b"c", b"d"]]
    assert head.tokens(texts).to_list() == [[b"c", b"d", b"e", b"f"]]
    with pytest.raises(ValueError, match="truncate='middle'"):
        st.SentimentPreprocessor(tail.vocabulary, truncate="middle")


@pytest.mark.parametrize("pooling", st.POOLINGS)
def test_padding_never_changes_a_prediction(pooling):
    model = untrained(pooling, num_layers=2)
    short, long = "the plot was good", "a dull and really awful movie was the plot and a plot"
    pre = model.preprocessor
    alone = np.asarray(model(pre([short])))
    padded = pre([short, long])
    assert padded["token_ids"].shape[1] > 4
    together = np.asarray(model(padded))
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
    out = model.predict([long, short, ""], verbose=0)
    np.testing.assert_allclose(out["probabilities"][1], keras.ops.softmax(alone[0]), atol=1e-5)
    # No words: the pooled vector is zero, so the prediction is the classifier's bias alone.
    bias = np.asarray(model.classifier.bias)
    np.testing.assert_allclose(out["probabilities"][2], keras.ops.softmax(bias), atol=1e-6)


def test_predict_keeps_the_input_order():
    model = untrained("max")
    texts = [" ".join(["good"] * n + ["dull"] * (n % 3)) for n in range(24, 0, -2)] + ["", "a"]
    out = model.predict(texts, batch_size=4, verbose=0)  # sorted, batched, unsorted
    one_batch = keras.ops.softmax(model(model.preprocessor(texts)), axis=-1)
    np.testing.assert_allclose(out["probabilities"], one_batch, atol=1e-5)


def test_word_dropout_turns_training_words_into_unknowns():
    config = dataclasses.replace(TINY, word_dropout=1.0)
    texts, _ = corpus(20, 0)
    model = st.build_model(config, st.make_preprocessor(texts, config), st.SST_LABELS[2])
    features = {k: v.numpy() for k, v in model.preprocessor(["the plot was good", ""]).items()}
    unknown = dict(features, token_ids=np.where(features["padding_mask"], 1, 0))
    np.testing.assert_allclose(model(features, training=True), model(unknown), atol=1e-6)
    assert not np.allclose(model(features), model(unknown), atol=1e-3)  # only in training


def test_attention_weights_sum_to_one_over_words():
    model = untrained("attention")
    features = model.preprocessor(["the movie was good", "bad", ""])
    weights = np.asarray(model.encode(features)[1])
    mask = features["padding_mask"].numpy()
    np.testing.assert_allclose(weights.sum(1), [1.0, 1.0, 0.0], atol=1e-6)
    assert np.all(weights[~mask] == 0) and np.all(weights[mask] > 0)
    (tokens, w), = model.attention_weights(["the movie was good"])
    assert tokens == ["the", "movie", "was", "good"] and np.isclose(w.sum(), 1.0)


def test_labels_by_name_or_id():
    model = untrained("mean")
    assert model.label_ids(["positive", "negative", 1, b"negative"]).tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="label 1 is 'neutral'"):
        model.label_ids(["positive", "neutral"])
    with pytest.raises(ValueError, match="pooling='sum'"):
        st.SentimentClassifier(model.preprocessor, ["a", "b"], pooling="sum")
    with pytest.raises(ValueError, match="not a single string"):
        model.predict("a good film")


def test_learns_and_predicts_labels(trained):
    model, history, results = trained
    assert results["accuracy"] == 1.0 and results["confusion"].trace() == 60
    assert history.history["val_accuracy"][-1] == 1.0
    out = model.predict(["The movie was superb!", "A dull plot."], verbose=0)
    assert out["label"].tolist() == ["positive", "negative"]
    np.testing.assert_allclose(out["probabilities"].sum(1), 1.0, atol=1e-6)
    tokens, weights = model.attention_weights(["the movie was superb"])[0]
    assert tokens[int(np.argmax(weights))] == "superb"  # the word that decides gets the weight
    loss, accuracy = model.evaluate(*corpus(30, 2), verbose=0)
    assert accuracy == 1.0 and loss < 0.3


@pytest.mark.slow
def test_ema_weights_are_validated_and_kept():
    # Same seed, same updates: only the weights validated and kept differ.
    data, dev = corpus(64, 0), corpus(32, 1)
    runs = {}
    for ema in (0.0, 0.9):
        config = dataclasses.replace(TINY, epochs=2, ema_momentum=ema)
        model, history, _ = st.train(config, data, dev, verbose=0)
        runs[ema] = (model, history.history["val_loss"])
    (raw, raw_losses), (averaged, ema_losses) = runs[0.0], runs[0.9]
    assert not np.allclose(raw_losses, ema_losses)
    loss, _ = averaged.evaluate(*dev, verbose=0)
    np.testing.assert_allclose(loss, ema_losses[-1], rtol=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(raw.get_weights(), averaged.get_weights()))
    with pytest.raises(ValueError, match="ema_momentum=1.5"):
        st.build_model(dataclasses.replace(TINY, ema_momentum=1.5), raw.preprocessor,
                       raw.labels)


def test_keras_and_saved_model_round_trips(trained, tmp_path):
    model = trained[0]
    texts = ["the movie was superb", "", "awful " * 3000, "words never seen"]
    expected = model.predict(texts, verbose=0)
    path = str(tmp_path / "sentiment.keras")
    model.save(path)
    again = keras.saving.load_model(path).predict(texts, verbose=0)
    np.testing.assert_allclose(again["probabilities"], expected["probabilities"], atol=1e-6)
    exported = export.export(model, str(tmp_path / "sentiment_savedmodel"))
    code = f"""
import json, tensorflow as tf, tensorflow_text
m = tf.saved_model.load({exported!r})
out = m.serve(tf.constant({texts!r}))
print(json.dumps({{"label": [t.decode() for t in out["label"].numpy()],
                   "probabilities": out["probabilities"].numpy().tolist()}}))
"""
    served = serve_in_fresh_process(code)
    assert served["label"] == expected["label"].tolist()
    np.testing.assert_allclose(served["probabilities"], expected["probabilities"], atol=1e-5)


def test_sst_and_csv_data(tmp_path):
    sst = tmp_path / "sst"
    sst.mkdir()
    (sst / "train.txt").write_text("(3 (2 it) (4 (4 rocks) (2 !)))\n(1 (1 dull) (2 .))\n"
                                   "(2 (2 so) (2 so))\n")
    (sst / "dev.txt").write_text("(4 (4 great) (2 fun))\n")
    config = dataclasses.replace(TINY, classes=2)
    texts, labels = st.load(str(sst), config, split="train")
    # Sentences, then their distinct phrases; neutral (2) dropped in the binary task.
    assert list(zip(texts, labels)) == [("it rocks !", "positive"), ("rocks", "positive"),
                                        ("rocks !", "positive"), ("dull .", "negative"),
                                        ("dull", "negative")]
    fine = st.load(str(sst), dataclasses.replace(config, classes=5), split="dev")
    assert fine == (["great fun"], ["very positive"])
    csv = tmp_path / "reviews.csv"
    csv.write_text('stars,review\n5,"Loved it, really"\n1,awful<br />film\n')
    assert st.load(str(csv), config, text_column="review", label_column="stars") == (
        ["Loved it, really", "awful film"], ["5", "1"])


@pytest.mark.slow
def test_script(tmp_path, capsys):
    for name, (texts, labels) in (("train", corpus(150, 0)), ("dev", corpus(30, 1))):
        rows = ["text\tlabel"] + [f"{t}\t{y}" for t, y in zip(texts, labels)]
        (tmp_path / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    model_path = str(tmp_path / "sentiment.keras")
    results = st.main(["train", "--preset", "tiny", "--pooling", "max", "--class-weight",
                       "--train", str(tmp_path / "train.tsv"), "--dev", str(tmp_path / "dev.tsv"),
                       "--model", model_path])
    assert "| positive |" in capsys.readouterr().out and results["accuracy"] > 0.9
    again = st.main(["evaluate", "--dev", str(tmp_path / "dev.tsv"), "--model", model_path])
    assert np.isclose(again["accuracy"], results["accuracy"])
    out = st.main(["predict", "a superb plot", "the movie was awful", "--model", model_path])
    assert out["label"].tolist() == ["positive", "negative"]
