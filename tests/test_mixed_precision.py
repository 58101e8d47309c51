"""Mixed precision (`keras.mixed_precision`): every layer and every task works under the
policies `mixed_bfloat16` and `mixed_float16` — variables stay float32, the layers compute in
the policy's dtype, results are finite and within a stated tolerance of float32 given the same
weights, and `mixed_float16` training goes through Keras' loss scaling."""

import keras
import numpy as np
import pytest
from test_task_contract import TASKS

import kerasrnn

# How far a mixed-precision result may be from float32's, given the same weights: about 4 ulps
# of the compute dtype at values of size 1 (bfloat16 keeps 8 bits of mantissa, float16 11),
# and as much relative to larger values, whose ulps are larger (an IndRNN output of 2.94 came
# out 0.0043 off in float16 on JAX: 2 ulps there).
TOLERANCE = {"mixed_bfloat16": 3e-2, "mixed_float16": 4e-3}
POLICIES = sorted(TOLERANCE)


@pytest.fixture(autouse=True)
def float32_afterwards():
    """The policy is process-wide: every test here puts float32 back, whatever happens, so that
    it never leaks into the next test."""
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def policy(request):
    """The global policy for one test."""
    keras.mixed_precision.set_global_policy(request.param)
    return request.param


def _built(make, policy_name, weights=None):
    keras.mixed_precision.set_global_policy(policy_name)
    keras.utils.set_random_seed(3)
    layer = make()
    layer.build((4, 7, 5))
    if weights is not None:
        layer.set_weights(weights)
    return layer


LAYERS = {
    "lstm": lambda: kerasrnn.LSTM(8, return_sequences=True),
    "lstm_all_variants": lambda: kerasrnn.LSTM(
        8, return_sequences=True, peephole=True, projection_units=6, layer_norm=True,
        zoneout_h=0.1, zoneout_c=0.1, weight_drop=0.2),
    "gru": lambda: kerasrnn.GRU(8, return_sequences=True, layer_norm=True),
    "simple_rnn": lambda: kerasrnn.SimpleRNN(8, return_sequences=True),
    "bidirectional_deep": lambda: kerasrnn.LSTM(8, num_layers=2, bidirectional=True,
                                                residual=True, return_sequences=True),
    "min_gru": lambda: kerasrnn.MinGRU(8, return_sequences=True),
    "qrnn": lambda: kerasrnn.QRNN(8, return_sequences=True),
    "ind_rnn": lambda: kerasrnn.IndRNN(8, return_sequences=True),
}
RANDOM_IN_TRAINING = {"lstm_all_variants"}  # zoneout and weight-drop


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_compute_in_the_policy_dtype_close_to_float32(name, policy_name, rng):
    x = rng.normal(size=(4, 7, 5)).astype("float32")
    mask = np.ones((4, 7), bool)
    mask[1, 4:] = False
    mask[3, 1:] = False
    reference = _built(LAYERS[name], "float32")
    layer = _built(LAYERS[name], policy_name, reference.get_weights())
    assert all(w.dtype == "float32" for w in layer.weights)
    for training in (True, False):  # the fused kernels, the lean inference loop
        expected = np.asarray(reference(x, mask=mask, training=training))
        out = layer(x, mask=mask, training=training)
        assert keras.backend.standardize_dtype(out.dtype) == policy_name[6:], out.dtype
        out = np.asarray(keras.ops.cast(out, "float32"))
        assert np.all(np.isfinite(out))
        if not (training and name in RANDOM_IN_TRAINING):  # their masks are drawn anew
            np.testing.assert_allclose(out, expected, atol=TOLERANCE[policy_name],
                                       rtol=TOLERANCE[policy_name])


@pytest.mark.parametrize("policy", POLICIES, indirect=True)
def test_training_keeps_float32_variables_and_scales_float16_losses(policy, rng):
    x = rng.normal(size=(16, 6, 5)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((None, 5)), kerasrnn.LSTM(16, num_layers=2),
                              keras.layers.Dense(1, dtype="float32")])
    model.compile(keras.optimizers.Adam(1e-2, clipnorm=1.0), "mse")
    losses = model.fit(x, y, batch_size=8, epochs=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    assert all(w.dtype == "float32" for w in model.weights if "seed" not in w.path)
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES, indirect=True)
@pytest.mark.parametrize("task", sorted(TASKS))
def test_each_task_trains_predicts_and_reloads_under_the_policy(task, policy, tmp_path):
    """The task built under the policy evaluates close to its float32 twin with the same
    weights, trains to finite losses, answers raw inputs (generates, translates) and comes back
    from its .keras file computing in the same dtype."""
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    reference, x, y = TASKS[task]()
    expected = reference.evaluate(x, y, verbose=0, return_dict=True)
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model, x, y = TASKS[task]()
    model.evaluate(x[:1], None if y is None else y[:1], verbose=0)  # builds it
    model.set_weights(reference.get_weights())
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert np.isclose(results["loss"], expected["loss"], rtol=5 * TOLERANCE[policy]), \
        (results, expected)
    losses = model.fit(x, y, epochs=2, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)), losses
    answers = model.predict(x, verbose=0)
    answered = len(next(iter(answers.values())) if isinstance(answers, dict) else answers)
    assert answered == len(x)
    if task == "language_model":
        for sampler in ("greedy", "beam"):
            assert all(isinstance(s, str) for s in model.generate(x[:2], 4, sampler=sampler))
    path = str(tmp_path / "model.keras")
    model.save(path)
    keras.mixed_precision.set_global_policy("float32")  # the file carries the policy itself
    loaded = keras.saving.load_model(path)
    recurrent = [la for la in loaded._flatten_layers() if isinstance(la, kerasrnn.RNN)]
    assert recurrent and all(la.compute_dtype == policy[6:] for la in recurrent)
    again = loaded.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["loss"],
                               model.evaluate(x, y, verbose=0, return_dict=True)["loss"],
                               rtol=1e-3)


@pytest.mark.parametrize("policy", ["mixed_bfloat16"], indirect=True)
def test_the_language_model_carries_a_float32_state_across_batches(policy):
    """BPTT batches (the default): the state carried from batch to batch is a float32
    variable that the 16-bit loop reads and writes; training stays finite."""
    from tasks import language_model as lm

    keras.utils.set_random_seed(0)
    lines = ["the cat sat on the mat", "a dog ran", "my bird sat on the mat now"] * 8
    model = lm.build_model(lm.PRESETS["tiny"], lm.make_tokenizer(lines))
    assert model.carry_batch_size
    losses = model.fit(lines, epochs=2, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)), losses
    assert model.carried.dtype == "float32"
    carried = np.asarray(model.carried)
    assert np.all(np.isfinite(carried)) and np.abs(carried).max() > 0


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize("task", sorted(TASKS))
def test_each_task_exports_a_saved_model_that_answers_in_float32(task, policy, tmp_path):
    import tensorflow as tf

    from tasks import export

    keras.utils.set_random_seed(0)
    model, x, y = TASKS[task]()
    model.fit(x, y, epochs=1, verbose=0)
    served = tf.saved_model.load(export.export(model, str(tmp_path / "saved")))
    texts = [" ".join(item) if task == "tagger" else item[0] if task == "translator" else item
             for item in x]
    answers = served.signatures["serving_default"](tf.constant(texts))
    for name, value in answers.items():
        assert value.dtype in (tf.string, tf.int32, tf.int64, tf.float32), (name, value.dtype)
        assert value.shape[0] == len(texts), (name, value.shape)
    if task == "language_model":
        scores = served.score(tf.constant(texts))  # tokens (strings) and their scores
        assert scores["perplexity"].dtype == tf.float32
        assert np.all(np.isfinite(scores["perplexity"])) and np.all(scores["perplexity"] > 1)


def test_the_cli_sets_the_policy_and_rejects_unknown_ones(capsys):
    from tasks import cli, language_model

    parser = cli.parser("language_model", "doc", ["train"], language_model.PRESETS, "tiny")
    args = cli.arguments(parser, ["train", "--precision", "mixed_bfloat16"])
    assert args.precision == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    cli.arguments(parser, ["train"])  # each run states its own: float32 by default
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(SystemExit):
        cli.arguments(parser, ["train", "--precision", "float8"])
    assert "float8" in capsys.readouterr().err
