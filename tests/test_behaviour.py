"""Behaviour of kerasrnn layers that has no one-line Keras oracle: masking invariance, mask
propagation, serialization, the cell protocol both ways, training, dropout, state, errors."""

import json

import keras
import numpy as np
import pytest
from conftest import assert_close, gradients, weighted_sum_loss

import kerasrnn

B, T, F, H = 3, 6, 5, 4

KINDS = {
    "lstm": lambda **kw: kerasrnn.LSTMCell(H, **kw),
    "gru": lambda **kw: kerasrnn.GRUCell(H, **kw),
    "gru_reset_before": lambda **kw: kerasrnn.GRUCell(H, reset_after=False, **kw),
    "simple": lambda **kw: kerasrnn.SimpleRNNCell(H, **kw),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_padded_with_mask_equals_unpadded(kind, rng):
    """Each row, padded to T on the right with a mask, gives what it gives alone."""
    layer = kerasrnn.RNN(KINDS[kind](), return_sequences=True, return_state=True)
    lengths = [6, 2, 4]
    x = rng.normal(size=(B, T, F)).astype("float32")
    mask = np.arange(T)[None, :] < np.array(lengths)[:, None]
    x_padded = np.where(mask[..., None], x, 99.0).astype("float32")  # garbage in the padding
    out = layer(x_padded, mask=mask)
    for row, n in enumerate(lengths):
        alone = layer(x[row : row + 1, :n])
        assert_close(out[0][row, :n], alone[0][0], 1e-5, what=f"row {row} outputs")
        for s_pad, s_alone in zip(out[1:], alone[1:]):
            assert_close(s_pad[row], s_alone[0], 1e-5, what=f"row {row} states")


def test_bidirectional_stack_padding_invariant(rng):
    layer = kerasrnn.GRU(H, num_layers=2, bidirectional=True, residual=True,
                         return_sequences=False)
    x = rng.normal(size=(2, T, F)).astype("float32")
    mask = np.array([[True] * T, [True] * 3 + [False] * (T - 3)])
    x_padded = np.where(mask[..., None], x, -7.0).astype("float32")
    out = layer(x_padded, mask=mask)
    assert_close(out[1], layer(x[1:, :3])[0], 1e-5)


def test_all_padding_row_is_finite_and_keeps_initial_state(rng):
    layer = kerasrnn.LSTM(H, return_sequences=True, return_state=True)
    x = rng.normal(size=(B, T, F)).astype("float32")
    mask = np.ones((B, T), bool)
    mask[1] = False
    h0 = rng.normal(size=(B, H)).astype("float32")
    c0 = rng.normal(size=(B, H)).astype("float32")
    y, h, c = layer(x, initial_state=[h0, c0], mask=mask)
    assert_close(h[1], h0[1], 0.0)
    assert_close(c[1], c0[1], 0.0)
    assert_close(y[1], np.zeros((T, H)), 0.0)  # no previous output to repeat: zeros
    _, dx, dw = gradients(layer, weighted_sum_loss, x, mask=mask)
    assert np.all(np.isfinite(dx)) and all(np.all(np.isfinite(g)) for g in dw)
    assert_close(dx[1], np.zeros((T, F)), 0.0)  # padding receives no gradient


def test_embedding_mask_flows_through_stack(rng):
    """Embedding(mask_zero) -> RNN(return_sequences) -> RNN: the mask reaches the second RNN."""
    tokens = keras.Input((None,), dtype="int32")
    y = keras.layers.Embedding(20, F, mask_zero=True)(tokens)
    y = kerasrnn.RNN(kerasrnn.LSTMCell(H), return_sequences=True)(y)
    y = kerasrnn.GRU(H, go_backwards=True, return_sequences=True)(y)
    y = kerasrnn.SimpleRNN(H)(y)
    model = keras.Model(tokens, y)
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]], dtype="int32")
    padded = model.predict(ids, verbose=0)
    alone = model.predict(ids[:1, :3], verbose=0)
    assert_close(padded[0], alone[0], 1e-5)


def test_go_backwards_reverses_output_mask():
    layer = kerasrnn.RNN(kerasrnn.GRUCell(H), return_sequences=True, go_backwards=True)
    mask = np.array([[True, True, False]])
    out_mask = layer.compute_mask(np.zeros((1, 3, F)), mask)
    assert np.array_equal(np.asarray(out_mask), [[False, True, True]])


LAYERS = {
    "rnn_stacked_cells": lambda: kerasrnn.RNN(
        [kerasrnn.LSTMCell(H), kerasrnn.GRUCell(H, reset_after=False)], return_sequences=True
    ),
    "bidirectional": lambda: kerasrnn.Bidirectional(
        kerasrnn.RNN(kerasrnn.SimpleRNNCell(H, activation="relu")), merge_mode="sum"
    ),
    "lstm_stack": lambda: kerasrnn.LSTM(
        H, num_layers=2, bidirectional=True, residual=True, inter_layer_dropout=0.1,
        recurrent_dropout=0.2, unit_forget_bias=False, seed=3,
    ),
    "gru_stack": lambda: kerasrnn.GRU(H, num_layers=2, reset_after=False, return_sequences=True),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_keras_file_round_trip(name, rng, tmp_path):
    inputs = keras.Input((T, F))
    model = keras.Model(inputs, LAYERS[name]()(inputs))
    x = rng.normal(size=(B, T, F)).astype("float32")
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert_close(loaded.predict(x, verbose=0), expected, 1e-6)
    # Same config (through JSON, as it is stored: tuples become lists).
    assert json.loads(json.dumps(loaded.layers[-1].get_config())) == json.loads(
        json.dumps(model.layers[-1].get_config())
    )


class RunningMeanCell(keras.layers.Layer):
    """A user-written cell: state = (sum, count); output = running mean of the inputs."""

    state_size = [F, 1]
    output_size = F

    def call(self, inputs, states):
        total, count = states[0] + inputs, states[1] + 1.0
        return total / count, [total, count]


def test_user_cell_inside_kerasrnn_rnn(rng):
    x = rng.normal(size=(B, T, F)).astype("float32")
    mask = np.ones((B, T), bool)
    mask[0, 2] = False  # a hole: the running mean skips it
    y = kerasrnn.RNN(RunningMeanCell(), return_sequences=True)(x, mask=mask)
    expected = np.cumsum(x, axis=1) / np.arange(1, T + 1)[None, :, None]
    assert_close(y[1:], expected[1:], 1e-5)
    x0 = np.delete(x[0], 2, axis=0)
    mean0 = np.cumsum(x0, axis=0) / np.arange(1, T)[:, None]
    assert_close(y[0, 3:], mean0[2:], 1e-5)
    assert_close(y[0, 2], y[0, 1], 0.0)  # the masked step repeats the previous output


@pytest.mark.parametrize("kind", list(KINDS))
def test_kerasrnn_cell_inside_keras_rnn(kind, rng):
    x = rng.normal(size=(B, T, F)).astype("float32")
    ours = kerasrnn.RNN(KINDS[kind](), return_sequences=True)
    theirs = keras.layers.RNN(KINDS[kind](), return_sequences=True)
    ours(x), theirs(x)
    theirs.set_weights(ours.get_weights())
    assert_close(theirs(x), ours(x), 1e-5)
    bi_theirs = keras.layers.Bidirectional(keras.layers.RNN(KINDS[kind]()))
    bi_ours = kerasrnn.Bidirectional(kerasrnn.RNN(KINDS[kind]()))
    bi_ours(x), bi_theirs(x)
    bi_theirs.set_weights(bi_ours.get_weights())
    assert_close(bi_theirs(x), bi_ours(x), 1e-5)


@pytest.mark.parametrize("layer", ["lstm", "gru"])
def test_fit_with_clipnorm_lowers_loss(layer, rng):
    """Learn to output the sign of the sum of a padded sequence (needs memory across steps)."""
    keras.utils.set_random_seed(0)
    n = 128
    ids = rng.integers(1, 9, size=(n, 8))
    lengths = rng.integers(3, 9, size=n)
    ids[np.arange(8)[None, :] >= lengths[:, None]] = 0
    values = np.where(ids > 0, ids - 4.5, 0.0)
    labels = (values.sum(axis=1) > 0).astype("float32")
    inputs = keras.Input((8,), dtype="int32")
    y = keras.layers.Embedding(9, 8, mask_zero=True)(inputs)
    rnn = kerasrnn.LSTM if layer == "lstm" else kerasrnn.GRU
    y = rnn(16, bidirectional=True)(y)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(y))
    model.compile(keras.optimizers.Adam(0.01, clipnorm=1.0), "binary_crossentropy")
    before = model.evaluate(ids, labels, verbose=0)
    model.fit(ids, labels, epochs=15, batch_size=32, verbose=0)
    after = model.evaluate(ids, labels, verbose=0)
    assert after < 0.6 * before, (before, after)


def test_dropout_mask_is_reused_at_every_step():
    """With U = 0, b = 0 and a constant input, every step sees x * mask: if the mask is the
    same at every step, every step's output is the same."""
    cell = kerasrnn.SimpleRNNCell(H, dropout=0.5, activation="linear", use_bias=False,
                                  recurrent_initializer="zeros", seed=1)
    layer = kerasrnn.RNN(cell, return_sequences=True)
    x = np.ones((8, T, F), "float32")
    y = np.asarray(layer(x, training=True))
    assert_close(y - y[:, :1], np.zeros_like(y), 1e-6)
    assert not np.allclose(y, np.asarray(layer(x, training=False)))  # dropout did act
    assert not np.allclose(y[0], y[1])  # masks differ between sequences


def test_recurrent_dropout_trains_and_is_off_at_inference(rng):
    layer = kerasrnn.LSTM(H, recurrent_dropout=0.5, dropout=0.2, seed=0)
    x = rng.normal(size=(B, T, F)).astype("float32")
    assert_close(layer(x), layer(x), 0.0)
    a, b = layer(x, training=True), layer(x, training=True)
    assert not np.allclose(np.asarray(a), np.asarray(b))
    _, dx, dw = gradients(layer, weighted_sum_loss, x, training=True)
    assert np.all(np.isfinite(dx)) and all(np.abs(g).max() > 0 for g in dw)


def test_fused_recurrent_dropout_equals_generic_loop(rng):
    """The fused kernel's dropout (masks folded into the hand-written gradient) equals the
    generic per-step loop given the same masks."""
    x = rng.normal(size=(B, T, F)).astype("float32")
    for kind in KINDS:
        cell = KINDS[kind](dropout=0.3, recurrent_dropout=0.4)
        fused = kerasrnn.RNN(cell, return_sequences=True)
        generic = kerasrnn.RNN(cell, return_sequences=True, unroll=True)  # same cell, weights
        fused(x), generic(x)
        masks = cell.dropout_masks(x[:, 0], training=True)
        cell.dropout_masks = lambda step_input, training, masks=masks: masks
        gf = gradients(fused, weighted_sum_loss, x, training=True)
        gg = gradients(generic, weighted_sum_loss, x, training=True)
        assert_close(gf[1], gg[1], 1e-5, what=f"{kind} d inputs")
        for a, b in zip(gf[2], gg[2]):
            assert_close(a, b, 1e-5, what=f"{kind} d weights")


def test_stateful_carries_state_across_calls(rng):
    x = rng.normal(size=(2, 2 * T, F)).astype("float32")
    whole = kerasrnn.RNN(kerasrnn.LSTMCell(H), return_sequences=True)
    inputs = keras.Input((T, F), batch_size=2)
    stateful = kerasrnn.RNN(kerasrnn.LSTMCell(H), return_sequences=True, stateful=True)
    stateful(inputs)
    whole(x)
    for ours, theirs in zip(stateful.trainable_weights, whole.trainable_weights):
        ours.assign(theirs)
    first, second = stateful(x[:, :T]), stateful(x[:, T:])
    expected = np.asarray(whole(x))
    assert_close(np.concatenate([first, second], axis=1), expected, 1e-5)
    stateful.reset_state()
    assert_close(stateful(x[:, :T]), expected[:, :T], 1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: kerasrnn.LSTMCell(0), "units=0"),
        (lambda: kerasrnn.GRU(-1), "units=-1"),
        (lambda: kerasrnn.SimpleRNNCell(4, dropout=1.5), "dropout=1.5"),
        (lambda: kerasrnn.LSTM(4, num_layers=0), "num_layers=0"),
        (lambda: kerasrnn.Bidirectional(kerasrnn.RNN(kerasrnn.GRUCell(4)), merge_mode="max"),
         "merge_mode='max'"),
        (lambda: kerasrnn.RNN("lstm"), "cell='lstm'"),
    ],
)
def test_bad_arguments_name_argument_and_value(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make()


def test_bad_call_inputs(rng):
    layer = kerasrnn.RNN(kerasrnn.LSTMCell(H))
    with pytest.raises(ValueError, match=r"\(batch, time, features\).*shape=\(3, 5\)"):
        layer(np.zeros((3, 5), "float32"))
    x = rng.normal(size=(B, T, F)).astype("float32")
    with pytest.raises(ValueError, match="list of 2 tensors.*Received: 1"):
        layer(x, initial_state=[np.zeros((B, H), "float32")])
    with pytest.raises(ValueError, match=r"initial_state\[1\].*shape \(batch, 4\).*\(3, 7\)"):
        layer(x, initial_state=[np.zeros((B, H), "float32"), np.zeros((B, 7), "float32")])
    # Token ids given straight to a recurrent layer (a missing Embedding): said so, not a
    # type error from inside the loop.
    for ints in (kerasrnn.RNN(kerasrnn.GRUCell(H)), kerasrnn.LSTM(H, bidirectional=True)):
        with pytest.raises(ValueError, match="Embedding.*Received: sequences.dtype=int32"):
            ints(np.zeros((B, T, F), "int32"))


def test_stacked_cells_with_dropout_on_the_generic_loop(rng):
    """Each cell of a stack gets an input-dropout mask of its own input width."""
    x = rng.normal(size=(B, T, F)).astype("float32")
    cells = [kerasrnn.LSTMCell(H, dropout=0.3), kerasrnn.GRUCell(H + 2, dropout=0.3)]
    layer = kerasrnn.RNN(cells, unroll=True)  # unroll: the generic loop
    y = layer(x, training=True)
    assert tuple(y.shape) == (B, H + 2) and np.all(np.isfinite(np.asarray(y)))
    assert_close(layer(x), layer(x), 0.0)  # no dropout at inference
