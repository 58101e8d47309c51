"""The CRF against brute-force enumeration of every tag path (3 tags x 4 steps)."""

import itertools

import numpy as np
import pytest
from conftest import assert_close

from tasks.tagger.crf import CRF


def _crf(rng, k=3):
    crf = CRF(k)
    crf.build()
    crf.transitions.assign(rng.normal(size=(k, k)).astype("float32"))
    crf.start.assign(rng.normal(size=(k,)).astype("float32"))
    crf.end.assign(rng.normal(size=(k,)).astype("float32"))
    return crf


def _path_score(crf, phi, path):
    a, s, e = (np.asarray(v) for v in (crf.transitions, crf.start, crf.end))
    score = s[path[0]] + e[path[-1]] + sum(phi[t, y] for t, y in enumerate(path))
    return score + sum(a[path[t - 1], path[t]] for t in range(1, len(path)))


def _brute_force(crf, phi, length):
    paths = list(itertools.product(range(crf.num_tags), repeat=length))
    scores = np.array([_path_score(crf, phi, p) for p in paths])
    log_z = np.log(np.sum(np.exp(scores - scores.max()))) + scores.max()
    return paths, scores, log_z


@pytest.mark.parametrize("lengths", [[4, 4], [4, 2, 1, 3]])
def test_log_likelihood_and_viterbi_equal_brute_force(lengths, rng):
    crf = _crf(rng)
    batch, steps = len(lengths), 4
    phi = rng.normal(size=(batch, steps, 3)).astype("float32")
    tags = rng.integers(0, 3, (batch, steps))
    mask = np.arange(steps)[None] < np.array(lengths)[:, None]
    log_lik = np.asarray(crf.log_likelihood(phi, tags, mask))
    decoded = np.asarray(crf.decode(phi, mask))
    for b, n in enumerate(lengths):
        paths, scores, log_z = _brute_force(crf, phi[b], n)
        expected = _path_score(crf, phi[b], tuple(tags[b, :n])) - log_z
        assert_close(log_lik[b], expected, atol=1e-4, what=f"log-likelihood row {b}")
        assert tuple(decoded[b, :n]) == paths[int(np.argmax(scores))], b
        assert np.all(decoded[b, n:] == 0)


def test_probabilities_sum_to_one_and_padding_changes_nothing(rng):
    crf = _crf(rng)
    phi = rng.normal(size=(1, 3, 3)).astype("float32")
    paths = np.array(list(itertools.product(range(3), repeat=3)))
    phis = np.repeat(phi, len(paths), axis=0)
    total = np.exp(np.asarray(crf.log_likelihood(phis, paths))).sum()
    assert np.isclose(total, 1.0, atol=1e-4)
    padded = np.concatenate([phi, rng.normal(size=(1, 5, 3)).astype("float32")], axis=1)
    tags = np.concatenate([paths[:1], rng.integers(0, 3, (1, 5))], axis=1)
    mask = np.arange(8)[None] < 3
    assert_close(crf.log_likelihood(padded, tags, mask), crf.log_likelihood(phi, paths[:1]),
                 atol=1e-5, what="padding")
    assert_close(crf.decode(padded, mask)[:, :3], crf.decode(phi), atol=0, what="decode")


def test_bad_num_tags_is_named():
    with pytest.raises(ValueError, match="num_tags=0"):
        CRF(0)


def test_gradient_equals_autodiff_of_brute_force(rng):
    """The forward-backward gradient (expected counts) against the backend's autodiff of the
    log-likelihood written as an explicit log-sum-exp over every path."""
    import keras
    from keras import ops

    from kerasrnn import _autodiff

    crf = _crf(rng)
    lengths = [4, 2, 3]
    phi = rng.normal(size=(3, 4, 3)).astype("float32")
    tags = rng.integers(0, 3, (3, 4))
    mask = np.arange(4)[None] < np.array(lengths)[:, None]
    weights = np.array([0.5, -1.0, 2.0], "float32")  # distinct upstream per sentence

    def ours(phi, a, s, e):  # the layer run statelessly, its weights mapped to the inputs
        mapping = [(crf.transitions, a), (crf.start, s), (crf.end, e)]
        with keras.StatelessScope(state_mapping=mapping):
            return ops.sum(crf.log_likelihood(phi, tags, mask) * weights)

    def brute(phi, a, s, e):
        total = 0.0
        for b, n in enumerate(lengths):
            scores = []
            for path in itertools.product(range(3), repeat=n):
                score = s[path[0]] + e[path[-1]] + sum(phi[b, t, y] for t, y in enumerate(path))
                scores.append(score + sum(a[path[t - 1], path[t]] for t in range(1, n)))
            gold = tuple(int(t) for t in tags[b, :n])
            gold_score = scores[list(itertools.product(range(3), repeat=n)).index(gold)]
            total = total + weights[b] * (gold_score - ops.logsumexp(ops.stack(scores)))
        return total

    args = [phi] + [np.asarray(v) for v in (crf.transitions, crf.start, crf.end)]
    value, grads = _autodiff.value_and_grad(ours, args)
    expected_value, expected = _autodiff.value_and_grad(brute, args)
    assert_close(value, expected_value, atol=1e-4, what="value")
    for name, g, e in zip(("potentials", "transitions", "start", "end"), grads, expected):
        assert_close(g, e, atol=1e-4, what=name)
