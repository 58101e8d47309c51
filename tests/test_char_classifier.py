"""The fifth task, the character-level classifier, on a synthetic two-"language" fixture."""

import keras
import numpy as np
import pytest
from conftest import serve_in_fresh_process

from tasks import char_classifier as cc
from tasks import export

ALPHABETS = {"vowelish": "aeiouy", "consonantal": "bcdfgkrst"}


def corpus(n, seed):
    """Words drawn from one of two alphabets (plus a shared 'x'): the alphabet is the label."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = str(rng.choice(sorted(ALPHABETS)))
        letters = list(rng.choice(list(ALPHABETS[label]), rng.integers(2, 9))) + ["x"]
        rng.shuffle(letters)
        texts.append("".join(letters))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def trained():
    return cc.train(cc.PRESETS["tiny"], corpus(300, 0), corpus(60, 1), verbose=0)


def test_learns_the_alphabets_and_keeps_the_input_order(trained):
    model, _, results = trained
    assert results["accuracy"] > 0.95, results
    texts = ["aeiou", "bcdfg", "xoxo", "kxkx", ""]
    out = model.predict(texts, verbose=0)
    assert out["label"][:4].tolist() == ["vowelish", "consonantal", "vowelish", "consonantal"]
    alone = [model.predict([t], verbose=0)["probabilities"][0] for t in texts]
    assert np.allclose(out["probabilities"], alone, atol=1e-5)  # padding changes nothing
    assert np.allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)


def test_unknown_characters_and_truncation():
    pre = cc.CharPreprocessor.learn(["abc"], max_length=4)
    features = pre(["abcz", "abcabcabc"])
    ids = np.asarray(features["token_ids"])
    assert ids.shape == (2, 4) and ids[0, 3] == 1  # "z" is [UNK]; both cut to 4 characters
    assert np.asarray(features["padding_mask"]).all()
    with pytest.raises(ValueError, match="max_length=0"):
        cc.CharPreprocessor(["[PAD]", "[UNK]", "[BOS]", "[EOS]"], max_length=0)


def test_keras_and_saved_model_round_trips(trained, tmp_path):
    model = trained[0]
    texts = ["aeiou", "bcdfg", "", "xyz!"]
    path = str(tmp_path / "cc.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert np.allclose(loaded.predict(texts, verbose=0)["probabilities"],
                       model.predict(texts, verbose=0)["probabilities"], atol=1e-6)
    exported = export.export(model, str(tmp_path / "cc_savedmodel"))
    served = serve_in_fresh_process(f"""
import json, tensorflow as tf
m = tf.saved_model.load({exported!r})
out = m.serve(tf.constant({texts!r}))
print(json.dumps({{"label": [x.decode() for x in out["label"].numpy()],
                   "probabilities": out["probabilities"].numpy().tolist()}}))
""")
    keras_out = model.predict(texts, verbose=0)
    assert served["label"] == keras_out["label"].tolist()
    assert np.allclose(served["probabilities"], keras_out["probabilities"], atol=1e-5)


@pytest.mark.slow
def test_script(tmp_path, capsys):
    for name, (texts, labels) in (("train", corpus(200, 0)), ("dev", corpus(40, 1))):
        rows = ["name\tscript"] + [f"{t}\t{y}" for t, y in zip(texts, labels)]
        (tmp_path / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    model_path = str(tmp_path / "cc.keras")
    common = ["--model", model_path, "--text-column", "name", "--label-column", "script"]
    results = cc.main(["train", "--preset", "tiny", "--set", "epochs=3",
                       "--train", str(tmp_path / "train.tsv"), "--dev", str(tmp_path / "dev.tsv"),
                       *common])
    assert "| vowelish |" in capsys.readouterr().out
    again = cc.main(["evaluate", "--dev", str(tmp_path / "dev.tsv"), *common])
    assert np.isclose(again["accuracy"], results["accuracy"])
    out = cc.main(["predict", "aeiou", "bcdfg", *common])
    assert len(out["label"]) == 2
    with pytest.raises(ValueError, match="epoch"):
        cc.main(["train", "--set", "epoch=3", "--train", "x", "--dev", "y", *common])


@pytest.mark.slow
def test_the_script_is_quiet_unless_verbose(tmp_path):
    import os
    import subprocess
    import sys

    for name, (texts, labels) in (("train", corpus(60, 0)), ("dev", corpus(20, 1))):
        rows = ["text\tlabel"] + [f"{t}\t{y}" for t, y in zip(texts, labels)]
        (tmp_path / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    noise = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl")
    command = [sys.executable, "-m", "tasks.char_classifier", "train", "--preset", "tiny",
               "--set", "epochs=1", "--train", str(tmp_path / "train.tsv"),
               "--dev", str(tmp_path / "dev.tsv"), "--model", str(tmp_path / "cc.keras")]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "| vowelish |" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if line.startswith(noise)], \
        quiet.stderr[-2000:]
    verbose = subprocess.run(command + ["--verbose"], capture_output=True, text=True, env=env,
                             cwd=root)
    assert verbose.returncode == 0 and any(
        line.startswith(noise) for line in verbose.stderr.splitlines()), verbose.stderr[-500:]
