"""The language-model task on tiny fixtures written here (never the network or ../shared)."""

import dataclasses
import os
import re

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_close, serve_in_fresh_process, with_new_weights

from tasks import export
from tasks import language_model as lm
from tasks.batching import bptt_batches
from tasks.language_model import baselines as lm_baselines
from tasks.tokenizers import EOS_ID

SUBJECTS = ["the cat", "a dog", "my bird"]
VERBS = ["sat on the mat", "ran to the park"]


def corpus(n_lines, seed):
    """Sentences that are nearly deterministic after their first word."""
    rng = np.random.default_rng(seed)
    return [f"{SUBJECTS[rng.integers(3)]} {VERBS[rng.integers(2)]}" for _ in range(n_lines)]


TINY = dataclasses.replace(lm.PRESETS["tiny"], epochs=6, learning_rate=0.02)


@pytest.fixture(scope="module")
def trained():
    """A tiny BPTT-trained LSTM LM, shared by the tests that only read it."""
    return lm.train(TINY, corpus(200, 0), corpus(40, 1), verbose=0)


def test_fit_learns_the_toy_language(trained):
    model, history, results = trained
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    # The unigram perplexity of this corpus is about 9; the sentences are determined by their
    # first two words, so a working model gets close to the entropy of the choices (~1.3).
    assert results["perplexity"] < 2.0, results
    completions = model.generate(["a dog", "my bird sat"], max_length=8)
    assert completions[0] in ("a dog sat on the mat", "a dog ran to the park"), completions
    assert completions[1] == "my bird sat on the mat", completions


def test_perplexity_metric_is_exp_of_the_masked_cross_entropy():
    config = dataclasses.replace(TINY, batching="sentences", epochs=1)
    model, _, _ = lm.train(config, corpus(60, 0), corpus(20, 1), verbose=0)
    ids = lm.token_stream(model.tokenizer, ["the cat", "a dog sat", "my bird ran to the park"] * 4)
    features, targets, weights = next(iter(lm.make_dataset(ids, config)))
    assert float(tf.reduce_min(weights)) == 0.0, "the fixture must contain padding"
    logits = np.asarray(model(features)).astype("float64")
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    ce = -np.take_along_axis(logp, np.asarray(targets)[..., None], -1)[..., 0]
    w = np.asarray(weights)
    by_hand = np.exp((ce * w).sum() / w.sum())
    metric = keras_hub.metrics.Perplexity(from_logits=True)
    metric.update_state(targets, logits, sample_weight=weights)
    assert np.isclose(float(metric.result()), by_hand, rtol=1e-5)
    evaluated = model.evaluate(features, targets, sample_weight=weights, verbose=0,
                               return_dict=True)
    assert np.isclose(evaluated["perplexity"], by_hand, rtol=1e-5)
    assert np.isclose(evaluated["loss"], np.log(by_hand), rtol=1e-5)


def test_carried_state_equals_running_each_row_whole(trained):
    model = trained[0]
    rng = np.random.default_rng(0)
    stream = rng.integers(4, model.tokenizer.vocabulary_size, TINY.batch_size * 25)
    x, y = bptt_batches(stream, TINY.batch_size, TINY.num_steps)
    model.reset_state()
    carried = np.concatenate([np.asarray(model({"token_ids": b})) for b in x], axis=1)
    whole, _ = model.call_with_state(np.concatenate(list(x), axis=1))
    assert_close(carried, whole, atol=1e-4, what="carried vs whole rows")
    # ... and fit/evaluate start every pass from zeros: evaluate is repeatable.
    data = tf.data.Dataset.from_tensor_slices(({"token_ids": x}, y))
    first = model.evaluate(data, verbose=0)
    assert np.allclose(model.evaluate(data, verbose=0), first)


def test_cached_generation_equals_rerunning_the_prefix(trained):
    check_cached_generation(trained[0])


@pytest.mark.parametrize("cell", ["mingru", "minlstm", "qrnn", "indrnn"])
def test_cached_generation_with_the_parallel_cells(cell):
    """Trained whole-sequence (the associative-scan path), generated step by step with the
    states as the cache (a QRNN's window of earlier inputs included): the same logits."""
    config = dataclasses.replace(TINY, cell=cell, num_layers=2, epochs=2)
    check_cached_generation(lm.train(config, corpus(60, 0), corpus(10, 1), verbose=0)[0])


def test_init_scale_is_for_weight_matrices_not_indrnn_s_gains():
    """Zaremba's ±init_scale for every kernel and bias; IndRNN's recurrent weight (one gain
    per unit) keeps the cell's own [0, 1]: from ±0.1, half of its units would flip their
    state's sign every step, and none would keep more than a tenth of it."""
    tokenizer = lm.make_tokenizer(corpus(5, 0))
    for cell in ("lstm", "indrnn"):
        model = lm.RNNLanguageModel(tokenizer, cell=cell, embed_dim=8, units=64, num_layers=1,
                                    init_scale=0.1, seed=0)
        model({"token_ids": np.zeros((1, 3), "int32")})
        rnn_cell = model.rnns[0].cell
        for weight in (rnn_cell.kernel, model.embedding.embeddings):
            assert np.abs(keras.ops.convert_to_numpy(weight)).max() <= 0.1, (cell, weight.path)
        bias = keras.ops.convert_to_numpy(rnn_cell.bias)
        if cell == "lstm":  # blocks [i, f, c, o]; f starts at 1 (Keras' unit_forget_bias)
            assert np.all(bias[64:128] == 1.0)
            bias = np.delete(bias, np.s_[64:128])
        assert np.abs(bias).max() <= 0.1
        recurrent = keras.ops.convert_to_numpy(rnn_cell.recurrent_kernel)
        if cell == "lstm":
            assert np.abs(recurrent).max() <= 0.1
        else:
            assert recurrent.min() >= 0.0 and recurrent.max() > 0.5


def check_cached_generation(model):
    prompt = model.encode(["the cat"])[0]
    ids, state = list(prompt), model.initial_state(1)
    for token in prompt[:-1]:
        _, state = model.step(np.array([token], "int32"), state)
    for _ in range(6):  # one token per step from the cache vs the whole prefix again
        step_logits, state = model.step(np.array([ids[-1]], "int32"), state)
        full_logits, _ = model.call_with_state(np.array([ids], "int32"))
        allowed = model._never == 0  # generation never emits [PAD] or [BOS]
        assert_close(np.asarray(step_logits)[0, allowed], np.asarray(full_logits)[0, -1, allowed],
                     atol=1e-4, what="step vs prefix")
        ids.append(int(np.argmax(np.asarray(step_logits)[0])))
    naive = model._detokenize([ids[: ids.index(EOS_ID, 1)] if EOS_ID in ids[1:] else ids])[0]
    assert model.generate(["the cat"], max_length=6)[0] == naive


def test_batched_prompts_of_different_lengths_equal_each_alone(trained):
    model = trained[0]
    prompts = ["my", "the cat ran to", "", "a dog sat"]
    for sampler in ("greedy", "beam", "top_k"):
        batched = model.generate(prompts, max_length=7, sampler=sampler, num_beams=3, seed=4)
        alone = [model.generate([p], max_length=7, sampler=sampler, num_beams=3, seed=4)[0]
                 for p in prompts]
        assert batched == alone, sampler  # seeded draws do not depend on the batch either


def test_each_prompt_gets_at_most_max_length_new_tokens(trained):
    model = trained[0]
    prompts = ["the", "the cat sat on the mat the cat sat on the mat the cat"]  # 1 and 13 words
    for sampler in ("random", "beam"):  # hot sampling rarely ends a sentence early
        out = model.generate(prompts, max_length=3, sampler=sampler, temperature=20.0, seed=0)
        new = [len(o.split()) - len(p.split()) for o, p in zip(out, prompts)]
        assert max(new) <= 3, (sampler, out)
        assert sampler == "beam" or new[0] == 3, out  # the short prompt reached the limit


def test_greedy_equals_beam_search_of_width_one(trained):
    model = trained[0]
    prompts = ["the", "a dog ran", "my bird"]
    greedy = model.generate(prompts, max_length=7, sampler="greedy")
    beam = model.generate(prompts, max_length=7, sampler="beam", num_beams=1)
    assert greedy == beam


def test_seeded_sampling_is_reproducible(trained):
    model = trained[0]
    prompts = ["the", "a", "my"] * 3

    def sample(seed, kind):
        return model.generate(prompts, max_length=7, sampler=kind, seed=seed, temperature=3.0,
                              top_k=4, top_p=0.99)

    for kind in ("top_k", "top_p", "random"):
        assert sample(1, kind) == sample(1, kind), kind
    outputs = {tuple(sample(seed, "random")) for seed in range(4)}
    assert len(outputs) > 1, "at temperature 3 different seeds must give different samples"


@pytest.mark.parametrize("kwargs,message", [
    (dict(sampler="random", temperature=0), "temperature=0"),
    (dict(sampler="random", temperature=-1.0), "temperature=-1.0"),
    (dict(sampler="top_p", temperature=float("nan")), "temperature=nan"),
    (dict(sampler="top_k", top_k=0), "top_k=0"),
    (dict(sampler="top_k", top_k=10**6), "top_k=1000000"),
    (dict(sampler="top_p", top_p=1.5), "top_p=1.5"),
    (dict(sampler="beam", num_beams=0), "num_beams=0"),
    (dict(max_length=0), "max_length=0"),
    (dict(sampler="nucleus"), "sampler='nucleus'"),
])
def test_generation_arguments_are_checked(trained, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(f"Received: {message}")):
        trained[0].generate(["the"], **kwargs)


def test_texts_must_be_a_list_of_strings(trained):
    model = trained[0]
    with pytest.raises(ValueError, match="not one string. Received: texts='the company'"):
        model.score("the company")  # not each character as a text
    with pytest.raises(ValueError, match=r"Received: prompts\[1\]=3 \(int\)"):
        model.generate(["a", 3])
    assert model.generate([]) == [] and model.score([])[0].shape == (0,)


def test_score_is_independent_of_the_batch(trained):
    model = trained[0]
    texts = ["the cat sat on the mat", "park", "a dog ran to the park now"]
    together, logps = model.score(texts)
    alone = [model.score([t])[0][0] for t in texts]
    assert_close(together, alone, atol=1e-3, what="perplexity in a batch vs alone")
    assert [len(lp) for lp in logps] == [7, 2, 8]  # tokens + [EOS]
    assert together[0] < 3.0 < together[1]


def test_keras_file_round_trip(trained, tmp_path):
    model = trained[0]
    path = str(tmp_path / "lm.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    texts = ["the cat sat", "my bird ran to the park"]
    assert_close(loaded.score(texts)[0], model.score(texts)[0], atol=1e-5, what="score")
    assert loaded.generate(texts, max_length=6) == model.generate(texts, max_length=6)
    assert loaded.tokenizer.vocabulary == model.tokenizer.vocabulary
    assert loaded.carry_batch_size == model.carry_batch_size


def test_saved_model_in_a_fresh_process_equals_the_keras_model(trained, tmp_path):
    model = trained[0]
    path = export.export(model, str(tmp_path / "lm_savedmodel"), max_length=6)
    texts = ["the cat sat", "a dog ran to the park", "", "unseen words here"]
    code = f"""
import json, tensorflow as tf, tensorflow_text
m = tf.saved_model.load({path!r})
t = tf.constant({texts!r})
s = m.score(t)
try:
    m.sample(t, 5, 0.0)
    zero = "no error"
except tf.errors.InvalidArgumentError as error:
    zero = error.message
print(json.dumps({{
    "perplexity": s["perplexity"].numpy().tolist(),
    "num_tokens": s["num_tokens"].numpy().tolist(),
    "generate": [x.decode() for x in m.generate(t).numpy()],
    "default": [x.decode() for x in m.signatures["serving_default"](t)["output_0"].numpy()],
    "sample": [[x.decode() for x in m.sample(t, seed, 2.0).numpy()] for seed in (5, 5, 6)],
    "zero": zero,
}}))
"""
    served = serve_in_fresh_process(code)
    perplexity, logps = model.score(texts)
    assert_close(served["perplexity"], perplexity, atol=1e-3 * perplexity.max(), what="ppl")
    assert served["num_tokens"] == [len(lp) for lp in logps]
    assert served["generate"] == model.generate(texts, max_length=6)
    assert served["default"] == served["generate"]
    assert "`temperature` must be a finite number above 0" in served["zero"]
    first, again, other = served["sample"]
    assert first == again
    assert all(s.startswith(t) for s, t in zip(first[:3], texts))  # the 4th has [UNK]s
    assert first[3].startswith("[UNK] [UNK] [UNK]")
    # One decoding implementation: seeded sampling gives the Keras model's texts exactly.
    for seed, served_texts in ((5, first), (6, other)):
        assert served_texts == model.generate(texts, max_length=6, sampler="random", seed=seed,
                                              temperature=2.0)


def test_max_train_tokens_trains_on_the_first_tokens_with_the_whole_vocabulary():
    # the `tiny` preset's cap: the first N ids of the stream, the vocabulary from every line
    lines = corpus(200, 0) + ["zebras graze"]
    config = dataclasses.replace(TINY, epochs=1, max_train_tokens=320)
    model, _, results = lm.train(config, lines, corpus(40, 1), verbose=0)
    assert results["train_tokens"] == 320
    assert "zebras" in model.tokenizer.vocabulary


def test_char_level_model_reports_bits_per_character():
    config = dataclasses.replace(TINY, level="char", epochs=2, num_steps=16)
    model, _, results = lm.train(config, corpus(80, 0), corpus(20, 1), verbose=0)
    assert "e" in model.tokenizer.vocabulary and " " in model.tokenizer.vocabulary
    assert np.isclose(results["bits_per_character"], np.log2(results["perplexity"]), rtol=1e-5)
    assert model.generate(["the c"], max_length=5)[0].startswith("the c")


def test_kneser_ney_is_a_distribution_and_matches_the_formula():
    ids = [4, 5, 6, 4, 5, 7, 4, 6, 6, 5, EOS_ID, 4, 5, 6]
    kn = lm_baselines.KneserNeyLM(order=3, vocabulary_size=10).fit(ids)
    for context in ([4, 5], [6, 6], [9, 9], [EOS_ID, EOS_ID], [5, 4]):
        assert np.isclose(kn.distribution(context).sum(), 1.0), context
    # Bigram level by hand for P(6 | 5): continuation counts of "x 5 6" contexts.
    uni = kn.probability(6, [])
    d2 = kn.discount[2]
    c_56 = kn.counts[2][(5, 6)]  # distinct tokens seen before "5 6"
    total_5 = kn.context_total[2][(5,)]
    types_5 = kn.context_types[2][(5,)]
    expected_bigram = max(c_56 - d2, 0) / total_5 + d2 * types_5 / total_5 * uni
    kn2 = lm_baselines.KneserNeyLM(order=2, vocabulary_size=10).fit(ids)
    assert np.isclose(kn.probability(6, [9, 5]), expected_bigram)  # context 9 5 unseen
    assert kn2.probability(6, [5]) > kn2.probability(7, [5])


def test_window_lm_and_compare_table():
    rows = lm_baselines.compare(dataclasses.replace(TINY, epochs=2), corpus(120, 0),
                                corpus(30, 1))
    names = [r["model"] for r in rows]
    assert names[0].startswith("3-gram") and names[1].startswith("fixed window")
    assert [n.split()[0] for n in names[2:]] == ["SimpleRNN", "GRU", "LSTM"]
    assert all(np.isfinite(r["perplexity"]) and r["perplexity"] > 1 for r in rows)
    # Everything learns the toy language far below its unigram perplexity (about 9).
    assert max(r["perplexity"] for r in rows) < 5.0, lm_baselines.table(rows)
    x, y = lm_baselines.windows([7, 8, 9], 3)
    assert x.tolist() == [[EOS_ID, EOS_ID], [EOS_ID, 7], [7, 8]] and y.tolist() == [7, 8, 9]


def test_a_one_line_corpus_gets_a_true_message(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("the cat sat\n\n")
    with pytest.raises(ValueError, match="one.txt: the last tenth .* found 1 non-empty line"):
        lm.load_corpus(str(one))


def test_bad_arguments_are_named():
    tokenizer = lm.make_tokenizer(corpus(5, 0))
    with pytest.raises(ValueError, match="cell='rnn'"):
        lm.RNNLanguageModel(tokenizer, cell="rnn")
    with pytest.raises(ValueError, match="units=0"):
        lm.RNNLanguageModel(tokenizer, units=0)
    model = lm.RNNLanguageModel(tokenizer, embed_dim=4, units=4, num_layers=1,
                                carry_batch_size=3)
    with pytest.raises(ValueError, match="batches of 3 rows"):
        model({"token_ids": np.zeros((2, 5), "int32")})
    with pytest.raises(ValueError, match="too few"):
        lm.make_dataset(np.arange(10), TINY)


def test_training_resumes_after_an_interruption(tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    config = dataclasses.replace(TINY, epochs=3)
    backup = str(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        lm.train(config, corpus(60, 0), corpus(20, 1), verbose=0,
                 callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt()])
    _, history, _ = lm.train(config, corpus(60, 0), corpus(20, 1), verbose=0,
                             callbacks=[keras.callbacks.BackupAndRestore(backup)])
    assert history.epoch == [2], "only the epoch left after the two that finished runs"


@pytest.mark.slow
def test_script_trains_evaluates_generates_and_exports(tmp_path, capsys):
    text = tmp_path / "toy.txt"
    text.write_text("\n".join(corpus(200, 0)) + "\n")
    model_path = str(tmp_path / "lm.keras")
    common = ["--data", str(text), "--model", model_path]
    results = lm.main(["train", "--preset", "tiny", "--epochs", "2",
                       "--backup-dir", str(tmp_path / "backup"), *common])
    assert os.path.exists(model_path) and results["perplexity"] < 20
    out = capsys.readouterr().out
    assert "dev perplexity" in out and "greedy: the " in out and "top-p 0.9 (seed 0): the " in out
    # evaluate reads the batching it needs from the model (no --preset to repeat)
    evaluated = lm.main(["evaluate", *common])
    assert np.isclose(evaluated["perplexity"], results["perplexity"], rtol=1e-4)
    whole = lm.main(["evaluate", "--split", "all", *common])
    assert whole["perplexity"] < evaluated["perplexity"] * 2  # mostly training text
    folder = tmp_path / "corpus"
    folder.mkdir()
    for split, seed in (("train", 0), ("valid", 1), ("test", 2)):
        (folder / f"toy.{split}.txt").write_text("\n".join(corpus(60, seed)) + "\n")
    test = lm.main(["evaluate", "--data", str(folder), "--split", "test", "--model", model_path])
    assert np.isfinite(test["perplexity"]) and test["perplexity"] != evaluated["perplexity"]
    with pytest.raises(ValueError, match="no test split"):
        lm.main(["evaluate", "--split", "test", *common])
    texts = lm.main(["generate", "the cat", "a", "--sampler", "top_k", "--seed", "3", *common])
    again = lm.main(["generate", "the cat", "a", "--sampler", "top_k", "--seed", "3", *common])
    assert texts == again and texts[0].startswith("the cat")
    path = lm.main(["export", "--out", str(tmp_path / "sm"), *common])
    assert os.path.exists(os.path.join(path, "saved_model.pb"))


def test_activation_regularization_is_merity_s_ar_and_tar():
    """AR (α·mean h², after the last dropout) and TAR (β·mean (h_t - h_{t-1})², over
    consecutive real tokens) are added to the loss at training only; with no dropout both see
    the same h, computed here layer by layer."""
    tokenizer = lm.make_tokenizer(corpus(30, 0))
    model = lm.RNNLanguageModel(tokenizer, embed_dim=6, units=5, num_layers=2,
                                activation_regularization=2.0,
                                temporal_activation_regularization=1.0, seed=0)
    ids = np.array([[3, 4, 5, 6, 7], [4, 5, 6, 0, 0]], "int32")
    mask = ids > 0
    features = {"token_ids": ids, "padding_mask": mask}
    model(features)
    assert not model.losses  # inference adds nothing
    model(features, training=True)
    x = model.embedding(ids)
    for rnn in model.rnns:
        x = rnn(x, mask=mask)[0]
    h, real = np.asarray(x, "float64"), mask[..., None].astype("float64")
    ar = 2.0 * (h ** 2 * real).sum() / (real.sum() * 5)
    both = real[:, 1:] * real[:, :-1]
    tar = 1.0 * ((h[:, 1:] - h[:, :-1]) ** 2 * both).sum() / (both.sum() * 5)
    assert len(model.losses) == 1
    assert_close(float(model.losses[0]), ar + tar, 1e-5, "AR + TAR")
    assert lm.PRESETS["awd"].activation_regularization > 0  # the preset uses it
    config = dataclasses.replace(lm.PRESETS["tiny"], cell="lstm:weight_drop=0.5",
                                 activation_regularization=2.0,
                                 temporal_activation_regularization=1.0)
    _, history, results = lm.train(config, corpus(60, 0), corpus(20, 1), verbose=0)
    assert np.isfinite(history.history["loss"][-1]) and np.isfinite(results["perplexity"])


def test_ema_momentum_averages_the_weights_that_are_validated_and_kept():
    """The kept weights are the exponential moving average of every step's weights, computed
    here from the raw weights seen after each batch; validation sees them too."""
    config = dataclasses.replace(TINY, epochs=2, ema_momentum=0.9)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append([np.array(w) for w in self.model.trainable_weights])

    model, history, results = lm.train(config, corpus(60, 0), corpus(20, 1), verbose=0,
                                       callbacks=[Record()])
    average = seen[0]  # the first step's weights (Keras starts the average there)
    for weights in seen[1:]:
        average = [0.9 * a + 0.1 * w for a, w in zip(average, weights)]
    for got, want in zip(model.trainable_weights, average):
        assert_close(got, want, 1e-5, "averaged weights")
    assert any(not np.allclose(a, r) for a, r in zip(average, seen[-1]))  # really averaged
    np.testing.assert_allclose(history.history["val_loss"][-1], results["loss"], rtol=1e-5)
    with pytest.raises(ValueError, match="ema_momentum=1.0"):
        lm.make_optimizer(dataclasses.replace(TINY, ema_momentum=1.0))


def test_compiled_generation_reads_the_weights_the_model_has_now(trained, tmp_path):
    model = trained[0]
    texts = ["the cat sat", "a dog"]
    before = (model.score(texts)[0], model.generate(texts, max_length=6),
              model.generate(texts, max_length=6, sampler="beam", num_beams=2))
    fresh, weights = with_new_weights(model)
    try:
        model.set_weights(fresh.get_weights())  # after the model's functions were compiled
        after = (model.score(texts)[0], model.generate(texts, max_length=6),
                 model.generate(texts, max_length=6, sampler="beam", num_beams=2))
        assert_close(after[0], fresh.score(texts)[0], atol=1e-5, what="score")
        assert not np.allclose(after[0], before[0], atol=1e-3)
        assert after[1] == fresh.generate(texts, max_length=6)
        assert after[2] == fresh.generate(texts, max_length=6, sampler="beam", num_beams=2)
        # The compiled functions are not state: the model still saves and exports.
        assert os.path.isdir(export.export(model, str(tmp_path / "savedmodel"), max_length=3))
    finally:
        model.set_weights(weights)
    assert model.generate(texts, max_length=6) == before[1]
