"""Vocabularies, tokenizers and tf.data pipelines on small fixtures written here."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tasks import batching, data
from tasks import tokenizers as text


def test_build_vocabulary_orders_and_limits():
    sents = [["b", "a", "b", "c"], ["b", "a", "d", "[UNK]"]]
    assert text.build_vocabulary(sents) == list(text.SPECIALS) + ["b", "a", "c", "d"]
    assert text.build_vocabulary(sents, min_count=2) == list(text.SPECIALS) + ["b", "a"]
    assert text.build_vocabulary(sents, max_size=5) == list(text.SPECIALS) + ["b"]
    with pytest.raises(ValueError, match="Received: 4"):
        text.build_vocabulary(sents, max_size=4)


def test_word_tokenizer_ids_unknowns_and_round_trip():
    tok = text.TextTokenizer(text.build_vocabulary([["the", "cat", "the", "sat"]]))
    assert tok("the cat sat").numpy().tolist() == [4, 5, 6]
    ids = tok(["the zebra", "sat"])
    assert ids.to_list() == [[4, text.UNK_ID], [6]]
    assert tok.detokenize(ids).numpy().tolist() == [b"the [UNK]", b"sat"]
    padded = [[text.BOS_ID, 4, 5, text.EOS_ID, 0, 0]]
    assert tok.detokenize(padded).numpy().tolist() == [b"the cat"]


def test_char_tokenizer_and_lowercase():
    vocab = text.build_vocabulary([list("héllo")])
    tok = text.TextTokenizer(vocab, level="char", lowercase=True)
    ids = tok(["HÉllo!"])
    assert ids.to_list()[0][-1] == text.UNK_ID and len(ids.to_list()[0]) == 6
    assert tok.detokenize(tok(["héllo"])).numpy()[0].decode() == "héllo"


def test_tokenizer_vocabulary_survives_save_and_load():
    tok = text.TextTokenizer(text.build_vocabulary([["x", "y", "y"]]), level="word")
    stored = json.dumps(keras.saving.serialize_keras_object(tok))
    loaded = keras.saving.deserialize_keras_object(json.loads(stored))
    assert isinstance(loaded, text.TextTokenizer) and loaded.vocabulary == tok.vocabulary
    assert loaded(["y x z"]).to_list() == tok(["y x z"]).to_list()


def test_tokenizer_rejects_bad_vocabulary():
    with pytest.raises(ValueError, match="must start with"):
        text.TextTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="level='bytes'"):
        text.TextTokenizer(list(text.SPECIALS), level="bytes")


def test_wordpiece_vocabulary_and_tokenizer_round_trip():
    texts = ["the cats sat on the mat", "a cat sat", "the dogs ran"] * 20
    vocab = text.wordpiece_vocabulary(texts, 60)
    assert vocab[:4] == list(text.SPECIALS)
    tok = text.wordpiece_tokenizer(vocab)
    ids = tok(["the cats ran"])  # keras-hub answers eagerly with Python lists
    ids = ids.to_list() if hasattr(ids, "to_list") else ids
    assert len(ids[0]) >= 3 and text.UNK_ID not in ids[0]
    out = tok.detokenize(ids)
    out = out.numpy().tolist() if hasattr(out, "numpy") else out
    assert [o.decode() if isinstance(o, bytes) else o for o in out] == ["the cats ran"]


def _rows(ds):
    """Every batch's rows with padding removed, checking masks and bucket shapes."""
    rows = []
    for features, targets, weights in ds:
        ids, mask = features["token_ids"].numpy(), features["padding_mask"].numpy()
        np.testing.assert_array_equal(mask, ids != text.PAD_ID)
        np.testing.assert_array_equal(weights.numpy(), mask.astype("float32"))
        for r in range(len(ids)):
            n = int(mask[r].sum())
            assert mask[r, :n].all() and not mask[r, n:].any()  # right padding only
            rows.append((tuple(ids[r, :n]), tuple(targets.numpy()[r, :n])))
    return rows


def test_bucketing_yields_every_example_once_with_matching_masks():
    rng = np.random.default_rng(0)
    ids = [list(rng.integers(4, 50, size=rng.integers(1, 40))) for _ in range(100)]
    tags = [list(rng.integers(0, 5, size=len(s))) for s in ids]
    ds = batching.bucketed_dataset(ids, tags, batch_size=8, boundaries=(5, 10, 20), seed=3)
    shapes = {batch[0]["token_ids"].shape[1] for batch in ds}
    assert shapes <= {4, 9, 19, max(len(s) for s in ids)}  # padded to the bucket
    got = _rows(ds)
    assert sorted(got) == sorted((tuple(s), tuple(t)) for s, t in zip(ids, tags))


def test_bucketing_seeded_order_is_reproducible_and_labels_scalar():
    ids = [[4 + i] * (1 + i % 7) for i in range(30)]
    labels = list(range(30))

    def order(seed):
        out = []
        for _, y in batching.bucketed_dataset(ids, labels, batch_size=4, seed=seed):
            out += y.numpy().tolist()
        return out

    assert order(1) == order(1) and sorted(order(1)) == labels
    assert order(1) != order(2)


def test_bucketing_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="sequence 1 has 2 ids but 1 targets"):
        batching.bucketed_dataset([[4], [5, 6]], [[0], [1]])


def test_pad_to_multiple_rounds_widths_up_and_keeps_values():
    x = tf.constant([[1, 2, 3], [4, 0, 0]])
    padded = batching.pad_to_multiple(x, 4, value=0).numpy()
    assert padded.tolist() == [[1, 2, 3, 0], [4, 0, 0, 0]]
    assert batching.pad_to_multiple(tf.zeros([2, 8, 3]), 8).shape == (2, 8, 3)  # already a multiple
    assert batching.pad_to_multiple(tf.zeros([2, 0], tf.int32), 8).shape == (2, 8)  # never empty
    words = batching.pad_to_multiple(tf.constant([["a", "b"]]), 3, value="").numpy()
    assert words.tolist() == [[b"a", b"b", b""]]


def test_padded_width_is_a_short_grid_and_pad_width_follows_it():
    assert [batching.padded_width(n) for n in (0, 1, 8, 9, 32, 33, 48, 49, 65, 97, 129)] == [
        8, 8, 8, 16, 32, 40, 48, 56, 96, 128, 192]
    assert batching.padded_width(2**25 + 1) == 2**25 + 8  # past the grid: a multiple of 8
    assert len({batching.padded_width(n) for n in range(1, 201)}) == 12
    assert all(n <= batching.padded_width(n) < 1.5 * n + 8 for n in range(1, 300))
    for n in (0, 1, 7, 33, 50, 130):
        x = tf.ones([2, n, 3], tf.int32)
        padded = batching.pad_width(x, value=-1).numpy()
        assert padded.shape == (2, batching.padded_width(n), 3)
        assert (padded[:, :n] == 1).all() and (padded[:, n:] == -1).all()
    words = batching.pad_width(tf.constant([["a", "b"]]), value="").numpy()
    assert words.tolist() == [[b"a", b"b"] + [b""] * 6]


def test_pad_rows_fills_a_short_batch():
    padded = batching.pad_rows(tf.constant([[1, 2]]), 3, value=0).numpy()
    assert padded.tolist() == [[1, 2], [0, 0], [0, 0]]
    assert batching.pad_rows(tf.zeros([4, 2]), 4).shape == (4, 2)


def test_bptt_batches_reproduce_the_stream():
    stream = np.arange(103)
    x, y = batching.bptt_batches(stream, batch_size=4, num_steps=5)
    row_len = len(stream) // 4
    assert x.shape == y.shape == ((row_len - 1) // 5, 4, 5)
    for r in range(4):
        row = np.concatenate(list(x[:, r]))
        np.testing.assert_array_equal(row, stream[r * row_len : r * row_len + len(row)])
        np.testing.assert_array_equal(np.concatenate(list(y[:, r])), row + 1)
    with pytest.raises(ValueError, match="too few for batch_size=4 and num_steps=30"):
        batching.bptt_batches(stream, batch_size=4, num_steps=30)


def test_offline_ptb_default_and_raw_reader(tmp_path):
    valid = text.ptb_text("valid")
    assert len(valid.split()) + valid.count("\n") > 70_000  # words + <eos>
    with pytest.raises(ValueError, match="Received: 'dev'"):
        text.ptb_text("dev")
    path = tmp_path / "chars.txt"
    path.write_text("ab\ncd\n", encoding="utf-8")
    assert data.read_raw(str(path)) == "ab\ncd\n"
    assert isinstance(tf.constant(data.read_raw(str(path))), tf.Tensor)
