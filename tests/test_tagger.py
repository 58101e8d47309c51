"""The tagger task on tiny fixtures written here."""

import dataclasses
import pathlib

import keras
import numpy as np
import pytest
from conftest import serve_in_fresh_process
from seqeval.metrics import classification_report
from seqeval.scheme import IOBES

from tasks import batching, export
from tasks import tagger as tg

NAMES = {"John": "PER", "Mary": "PER", "Paris": "LOC", "London": "LOC", "Acme": "ORG",
         "Globex": "ORG"}


def ner_corpus(n, seed):
    """"X met people in Y [City] today": entities by name, a two-word one half the time."""
    rng = np.random.default_rng(seed)
    sentences, tags = [], []
    for _ in range(n):
        a, b = rng.choice(list(NAMES), 2)
        s = [a, "met", "people", "in", b, "today"]
        t = [f"B-{NAMES[a]}", "O", "O", "O", f"B-{NAMES[b]}", "O"]
        if rng.random() < 0.5:
            s.insert(5, "City")
            t.insert(5, f"I-{NAMES[b]}")
        sentences.append(s)
        tags.append(t)
    return sentences, tags


TINY_NER = dataclasses.replace(tg.PRESETS["tiny"], scheme="ner", tag_format="bio", epochs=5)


@pytest.fixture(scope="module", params=["softmax", "crf"])
def trained(request):
    config = dataclasses.replace(TINY_NER, head=request.param)
    return tg.train(config, ner_corpus(150, 0), ner_corpus(30, 1), verbose=0)


def test_learns_the_toy_entities(trained):
    model, history, results = trained
    assert results["f1"] == 1.0, results["entities"]
    assert "val_f1" in history.history
    assert model.predict_tags(["Mary met people in London City today", "Acme"]) == [
        ["B-PER", "O", "O", "O", "B-LOC", "I-LOC", "O"], ["B-ORG"]]


def test_padding_never_changes_a_sentence(trained):
    model = trained[0]
    short = ["Globex", "met", "people"]
    features = model.preprocessor([short + [""] * 5, ["Mary"] * 8])
    alone = model.preprocessor([short])
    padded = np.asarray(model(features))[0, :3]
    assert np.allclose(padded, np.asarray(model(alone))[0], atol=1e-5)
    assert model.predict_tags([short, ["Mary"] * 8])[0] == model.predict_tags([short])[0]


@pytest.mark.parametrize("scheme", ["bio", "iobes"])
def test_entity_scores_equal_seqeval(scheme):
    rng = np.random.default_rng(3)
    prefixes = ["B", "I"] + (["E", "S"] if scheme == "iobes" else [])
    vocabulary = ["O"] + [f"{p}-{k}" for p in prefixes for k in ("PER", "LOC", "ORG")]
    gold = [list(rng.choice(vocabulary, rng.integers(1, 12))) for _ in range(300)]
    predicted = [[t if rng.random() < 0.7 else str(rng.choice(vocabulary)) for t in s]
                 for s in gold]
    if scheme == "bio":  # seqeval's default (conlleval) mode, as CoNLL scores
        ref = classification_report(gold, predicted, output_dict=True, zero_division=0)
    else:  # IOBES: compare on valid sequences in seqeval's strict mode
        from tasks.tag_schemes import convert_tags

        gold = [convert_tags(s, "iobes", "iobes") for s in gold]
        predicted = [convert_tags(s, "iobes", "iobes") for s in predicted]
        ref = classification_report(gold, predicted, output_dict=True, zero_division=0,
                                    mode="strict", scheme=IOBES)
    ours = tg.entity_scores(gold, predicted, scheme)
    for kind in ("PER", "LOC", "ORG"):
        for key in ("precision", "recall", "f1"):
            assert np.isclose(ours[kind][key], ref[kind][f"{key}-score" if key == "f1"
                                                        else key]), (kind, key)
        assert ours[kind]["support"] == ref[kind]["support"]
    assert np.isclose(ours["micro"]["f1"], ref["micro avg"]["f1-score"])


def test_pos_from_conllu(tmp_path):
    lines = []
    rng = np.random.default_rng(0)
    for i in range(120):
        words = [("the", "DET"), (str(rng.choice(["cat", "dog"])), "NOUN"),
                 (str(rng.choice(["sat", "ran"])), "VERB")]
        lines.append(f"# sent_id = {i}")
        lines += [f"{j + 1}\t{w}\t{w}\t{t}\t_\t_\t0\t_\t_\t_" for j, (w, t) in enumerate(words)]
        lines.append("")
    path = tmp_path / "toy.conllu"
    path.write_text("\n".join(lines) + "\n")
    config = dataclasses.replace(tg.PRESETS["tiny"], epochs=4, plateau_factor=0.5)
    data = tg.load(str(path), config)
    model, history, results = tg.train(config, data, data, verbose=0)
    assert results["accuracy"] == 1.0 and "f1" not in results
    # Once the dev score stops improving, the learning rate is halved after each such epoch.
    scores = history.history["val_accuracy"]
    stalled = sum(scores[i] <= max(scores[:i]) for i in range(1, len(scores)))
    assert stalled > 0 and np.isclose(float(model.optimizer.learning_rate),
                                      1e-2 * 0.5 ** stalled)
    assert model.predict_tags(["The dog ran"]) == [["DET", "NOUN", "VERB"]]


def test_keras_and_saved_model_round_trips(trained, tmp_path):
    model = trained[0]
    sentences = ["Mary met people in London City today", "Acme", "", "unknown words here"]
    expected = model.predict_tags(sentences)
    path = str(tmp_path / "tagger.keras")
    model.save(path)
    assert keras.saving.load_model(path).predict_tags(sentences) == expected
    exported = export.export(model, str(tmp_path / "tagger_savedmodel"))
    code = f"""
import json, tensorflow as tf, tensorflow_text
m = tf.saved_model.load({exported!r})
out = m.tag(tf.constant({sentences!r}))
tokens = m.tag_tokens(tf.constant([["Acme", "met", "John"], ["Paris", "", ""]]))
rows = lambda o: [[t.decode() for t in r[:n]] for r, n in zip(o["tags"].numpy(),
                                                                o["lengths"].numpy())]
print(json.dumps({{"tag": rows(out), "tokens": rows(tokens)}}))
"""
    served = serve_in_fresh_process(code)
    assert served["tag"] == expected
    assert served["tokens"] == model.predict_tags([["Acme", "met", "John"], ["Paris"]])


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="head='hmm'"):
        tg.Tagger(tg.make_preprocessor([["a"]], TINY_NER), ["O"], head="hmm")
    sentences, tags = ner_corpus(10, 0)
    with pytest.raises(ValueError, match="never seen in training"):
        tg.train(TINY_NER, (sentences, tags), ([["x"]], [["B-MISC"]]), verbose=0)
    bad = tmp_path / "bad.conll"
    bad.write_text("John B-PER\nlives X-LOC\n")
    with pytest.raises(ValueError, match="bad.conll: sentence 1"):
        tg.load(str(bad), TINY_NER)


@pytest.mark.slow
def test_script(tmp_path, capsys):
    train_file, dev_file = tmp_path / "train.txt", tmp_path / "dev.txt"
    for path, (sentences, tags) in ((train_file, ner_corpus(100, 0)),
                                    (dev_file, ner_corpus(20, 1))):
        path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(s, ts))
                                    for s, ts in zip(sentences, tags)) + "\n")
    model_path = str(tmp_path / "tagger.keras")
    results = tg.main(["train", "--preset", "tiny", "--scheme", "ner", "--epochs", "5",
                       "--train", str(train_file), "--dev", str(dev_file),
                       "--model", model_path])
    assert "| PER |" in capsys.readouterr().out
    again = tg.main(["evaluate", "--dev", str(dev_file), "--model", model_path])
    assert np.isclose(again["f1"], results["f1"])
    tags = tg.main(["predict", "John met people in Paris today", "--model", model_path])
    assert tags[0][0] == "B-PER" and tags[0][4] == "B-LOC"


def test_predict_tags_keeps_order_and_decodes_in_the_compiled_function(trained):
    model = trained[0]
    sentences = [["Acme", "met", "people", "in", "Paris", "today"] * 2, ["John"],
                 ["Mary", "met", "people", "in", "London", "City", "today"], []]
    alone = [model.predict_tags([s], batch_size=1)[0] for s in sentences]
    assert model.predict_tags(sentences, batch_size=2) == alone
    assert [len(t) for t in alone] == [len(s) for s in sentences]
    features = {k: v.numpy() for k, v in model.preprocessor(
        [sentences[2], sentences[1] + [""] * 6]).items()}
    expected = model.decode(model(features), features["padding_mask"])
    assert np.array_equal(model.predict_on_batch(features), np.asarray(expected))


def test_repeated_predictions_compile_nothing_new(trained):
    # Regression: an eagerly run Viterbi loop compiled a new XLA program (with its memory maps)
    # at every call on JAX, until a long training run died with "Cannot allocate memory".
    maps = pathlib.Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc/self/maps")
    model = trained[0]
    sentences = ner_corpus(40, 2)[0]
    model.predict_tags(sentences, batch_size=8)
    before = len(maps.read_text().splitlines())
    for _ in range(5):
        model.predict_tags(sentences, batch_size=8)
    assert len(maps.read_text().splitlines()) - before < 20


def test_training_batches_are_full_with_few_widths_and_empty_rows_weigh_nothing(trained):
    model = trained[0]
    rng = np.random.default_rng(3)
    sentences = [list(rng.choice(list(NAMES) + ["met", "in"], size=n)) for n in
                 rng.integers(1, 70, size=90)]
    tags = [["O"] * len(s) for s in sentences]
    ds = model.preprocessor.dataset(sentences, model.tag_ids(tags), batch_size=8, shuffle=True)
    shapes, short = set(), []
    for _ in range(3):  # epochs, reshuffled
        lengths = []
        for x, y, weight in ds:
            shapes.add(tuple(x["token_ids"].shape))
            mask = np.asarray(x["padding_mask"])
            assert np.array_equal(weight, mask.astype("float32"))
            lengths += [n for n in mask.sum(axis=1) if n]
            if not mask.any(axis=1).all():
                short.append((x, y, weight))
        assert sorted(lengths) == sorted(map(len, sentences))  # every sentence, once
    assert short  # buckets end in short batches, filled with empty rows
    for x, y, weight in short[:2]:  # the model is run eagerly: slow on JAX
        kept = np.asarray(x["padding_mask"]).any(axis=1)
        loss = model.compute_loss(x, y, model(x), weight)
        cut = {k: np.asarray(v)[kept] for k, v in x.items()}
        alone = model.compute_loss(cut, np.asarray(y)[kept], model(cut), weight[kept])
        assert np.isclose(float(loss), float(alone), rtol=1e-5)
    assert {rows for rows, _ in shapes} == {8}  # a bucket's last batch is filled up
    assert {width for _, width in shapes} <= set(batching.WIDTHS)
