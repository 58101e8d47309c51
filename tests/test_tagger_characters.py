"""The character BiLSTM group by group (`tasks.tagger.characters`) against one loop over every
word slot: the same outputs, gradients and training step."""

import dataclasses

import keras
import numpy as np
import pytest
from keras import ops

from kerasrnn import _autodiff
from tasks import tagger as tg
from tasks.cells import stack_class
from tasks.tagger import characters


def char_ids(lengths, width=20, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), width), "int32")
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, 30, n)
    return ids


LENGTHS = {  # word lengths (0: a padding word) that send the groups down different branches
    "mixed": np.r_[np.random.default_rng(1).integers(1, 7, 60), [0] * 50, [14, 20, 9, 5]],
    "all long": np.full(40, 20),
    "all padding": np.zeros(24, int),
    "one word": np.array([3]),
}


@pytest.mark.parametrize("cell", ["lstm", "mingru"])
@pytest.mark.parametrize("case", list(LENGTHS))
def test_groups_give_the_one_loops_outputs_and_gradients(case, cell):
    keras.utils.set_random_seed(0)
    rnn = stack_class(cell)(5, bidirectional=True)
    rnn.build((None, None, 6))
    ids = char_ids(LENGTHS[case])
    x = np.random.default_rng(2).normal(size=ids.shape + (6,)).astype("float32")
    mask = ops.convert_to_tensor(ids != 0)
    weights = np.random.default_rng(3).normal(size=(len(ids), 10)).astype("float32")

    def loss(run):
        return lambda x: ops.sum(run(x) * weights)

    one, (d_one,) = _autodiff.value_and_grad(loss(lambda x: rnn(x, mask=mask)), [x])
    groups, (d_groups,) = _autodiff.value_and_grad(
        loss(lambda x: characters.grouped(rnn, x, mask)), [x])
    assert np.allclose(ops.convert_to_numpy(characters.grouped(rnn, x, mask)),
                       ops.convert_to_numpy(rnn(x, mask=mask)), atol=1e-6)
    assert abs(float(one) - float(groups)) < 1e-4
    # (TensorFlow gives None where the output does not depend on x: all padding)
    d_one, d_groups = (np.zeros_like(x) if d is None else ops.convert_to_numpy(d)
                       for d in (d_one, d_groups))
    assert np.allclose(d_groups, d_one, atol=1e-5)
    assert not d_groups[ids == 0].any()  # padding characters get no gradient
    if (ids != 0).any():
        assert np.abs(d_groups[ids != 0]).max() > 0


def test_a_tagger_trains_the_same_with_groups(monkeypatch):
    """One training step and the predictions after it, with the groups (where they run) and
    with the one loop; on TensorFlow the one loop runs either way."""
    rng = np.random.default_rng(0)
    words = ["a", "to", "the", "dogs", "Paris", "running", "extraordinarily", "x" * 25]
    sentences = [list(rng.choice(words, rng.integers(9, 16))) for _ in range(40)]  # one bucket
    tags = [["T" if len(w) > 3 else "S" for w in s] for s in sentences]
    config = dataclasses.replace(tg.PRESETS["tiny"], batch_size=40)
    runs, calls, calls_after = [], [], []
    grouped = characters.grouped
    monkeypatch.setattr(characters, "grouped", lambda *a, **k: calls.append(1) or grouped(*a, **k))
    for min_words in (characters.MIN_WORDS, 10**9):
        monkeypatch.setattr(characters, "MIN_WORDS", min_words)
        keras.utils.set_random_seed(0)
        model = tg.build_model(config, tg.make_preprocessor(sentences, config), ["S", "T"])
        batch = keras.tree.map_structure(np.asarray, max(
            model.raw_dataset(sentences, tags, 40, shuffle=False),
            key=lambda b: b[0]["char_ids"].shape[0]))
        assert batch[0]["char_ids"].shape[0] * batch[0]["char_ids"].shape[1] >= 256
        model.train_on_batch(*batch)
        runs.append((model.get_weights(), np.asarray(model.predict_on_batch(batch[0]))))
        calls_after.append(len(calls))
    (w_groups, p_groups), (w_one, p_one) = runs
    for a, b in zip(w_groups, w_one):
        assert np.allclose(a, b, atol=1e-5)
    assert np.allclose(p_groups, p_one, atol=1e-5)
    assert (calls_after[0] > 0) == (keras.backend.backend() == "jax")
    assert calls_after[1] == calls_after[0]  # MIN_WORDS above the batch: the one loop
