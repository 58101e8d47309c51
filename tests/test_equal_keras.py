"""kerasrnn equals Keras' own layers: outputs, final states and gradients, given the same weights.

Keras' built-in layers are the oracle; gradients come from the backend's autodiff through them.
"""

import keras
import numpy as np
import pytest
from conftest import assert_close, gradients, weighted_sum_loss

import kerasrnn

B, T, F, H = 3, 7, 5, 4

CELLS = {
    "lstm": (keras.layers.LSTM, keras.layers.LSTMCell, kerasrnn.LSTMCell, {}),
    "gru": (keras.layers.GRU, keras.layers.GRUCell, kerasrnn.GRUCell, {}),
    "gru_reset_before": (
        keras.layers.GRU, keras.layers.GRUCell, kerasrnn.GRUCell, {"reset_after": False}
    ),
    "simple": (keras.layers.SimpleRNN, keras.layers.SimpleRNNCell, kerasrnn.SimpleRNNCell, {}),
}


def make_mask(kind):
    mask = np.ones((B, T), bool)
    if kind == "right":
        mask[0, 5:] = False
        mask[1, 2:] = False
    elif kind == "left":
        mask[0, :3] = False
        mask[2, :1] = False
    elif kind == "holes":
        mask[0, [1, 4]] = False
        mask[1, 3:] = False
        mask[2, 0] = False
    elif kind == "full_row":
        mask[1, :] = False  # a row that is entirely padding
        mask[2, 4:] = False
    return mask


def randomize(layer, rng):
    """Random weights (biases included), so every gradient is non-trivial."""
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in layer.get_weights()])


def paired(theirs, ours, rng):
    """Builds both layers on a random input, gives Keras' random weights and copies them to
    kerasrnn's; returns the input."""
    x = rng.normal(size=(B, T, F)).astype("float32")
    theirs(x), ours(x)
    randomize(theirs, rng)
    ours.set_weights(theirs.get_weights())
    return x


class WithInitialState(keras.layers.Layer):
    """Feeds `rnn` an initial state computed from the input, so its gradient is checked too."""

    def __init__(self, rnn, n_states, units, seed=0):
        super().__init__()
        self.rnn = rnn
        self.supports_masking = True
        rng = np.random.default_rng(seed)
        self.projections = [rng.normal(size=(F, units)).astype("float32") for _ in range(n_states)]

    def call(self, x, mask=None, training=False):
        init = [keras.ops.tanh(keras.ops.matmul(x[:, 0, :], p)) for p in self.projections]
        return self.rnn(x, initial_state=init, mask=mask, training=training)


def check_pair(theirs, ours, x, mask=None, atol=1e-5, training=True):
    kwargs = {"training": training} if mask is None else {"mask": mask, "training": training}
    out_k, out_o = theirs(x, **kwargs), ours(x, **kwargs)
    out_k = out_k if isinstance(out_k, (list, tuple)) else [out_k]
    out_o = out_o if isinstance(out_o, (list, tuple)) else [out_o]
    flat_k = [t for o in out_k for t in (o if isinstance(o, (list, tuple)) else [o])]
    assert len(flat_k) == len(out_o)
    for i, (a, b) in enumerate(zip(flat_k, out_o)):
        assert_close(b, a, atol, what=f"output {i}")
    loss_k, dx_k, dw_k = gradients(theirs, weighted_sum_loss, x, **kwargs)
    loss_o, dx_o, dw_o = gradients(ours, weighted_sum_loss, x, **kwargs)
    assert abs(loss_k - loss_o) <= 1e-4 * max(1.0, abs(loss_k))
    assert_close(dx_o, dx_k, atol, what="d inputs")
    assert len(dw_k) == len(dw_o)
    for w, a, b in zip(ours.trainable_weights, dw_k, dw_o):
        assert np.abs(a).max() > 0, f"oracle gradient of {w.path} is zero: weak test"
        assert_close(b, a, atol, what=f"d {w.path}")


CASES = [
    dict(),
    dict(return_sequences=True),
    dict(return_state=True),
    dict(return_sequences=True, return_state=True, go_backwards=True),
    dict(return_sequences=True, mask="right"),
    dict(return_state=True, mask="right"),
    dict(return_sequences=True, mask="left"),
    dict(return_sequences=True, return_state=True, go_backwards=True, mask="holes"),
    dict(return_sequences=True, return_state=True, mask="full_row"),
    dict(return_sequences=True, initial_state=True),
    dict(return_state=True, go_backwards=True, initial_state=True, mask="right"),
    # training=False: kerasrnn's lean inference loop, differentiated by autodiff
    dict(return_sequences=True, return_state=True, mask="holes", training=False),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items())
                         or "default")
@pytest.mark.parametrize("kind", list(CELLS))
def test_layer_equals_keras(kind, case, rng):
    case = dict(case)
    mask_kind = case.pop("mask", None)
    with_init = case.pop("initial_state", False)
    training = case.pop("training", True)
    keras_layer, _, our_cell, cell_kw = CELLS[kind]
    theirs = keras_layer(H, **cell_kw, **case)
    ours = kerasrnn.RNN(our_cell(H, **cell_kw), **case)
    x = paired(theirs, ours, rng)
    if with_init:
        n = 2 if kind == "lstm" else 1
        theirs, ours = WithInitialState(theirs, n, H), WithInitialState(ours, n, H)
    mask = None if mask_kind is None else make_mask(mask_kind)
    check_pair(theirs, ours, x, mask, training=training)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_equals_keras(kind, merge_mode, rng):
    keras_layer, _, our_cell, cell_kw = CELLS[kind]
    theirs = keras.layers.Bidirectional(
        keras_layer(H, return_sequences=True, **cell_kw), merge_mode=merge_mode
    )
    ours = kerasrnn.Bidirectional(
        kerasrnn.RNN(our_cell(H, **cell_kw), return_sequences=True), merge_mode=merge_mode
    )
    x = paired(theirs, ours, rng)
    check_pair(theirs, ours, x, make_mask("right"))


def test_bidirectional_return_state_equals_keras(rng):
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(H, return_state=True))
    ours = kerasrnn.Bidirectional(kerasrnn.RNN(kerasrnn.LSTMCell(H), return_state=True))
    x = paired(theirs, ours, rng)
    check_pair(theirs, ours, x, make_mask("holes"))


@pytest.mark.parametrize("mask_kind", [None, "right", "holes"])
def test_stacked_cells_equal_keras(mask_kind, rng):
    theirs = keras.layers.RNN(
        keras.layers.StackedRNNCells([keras.layers.LSTMCell(H), keras.layers.GRUCell(H + 1)]),
        return_sequences=True,
        return_state=True,
    )
    ours = kerasrnn.RNN(
        [kerasrnn.LSTMCell(H), kerasrnn.GRUCell(H + 1)], return_sequences=True, return_state=True
    )
    x = paired(theirs, ours, rng)
    check_pair(theirs, ours, x, None if mask_kind is None else make_mask(mask_kind))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_zero_output_for_mask_equals_keras(kind, rng):
    _, keras_cell, our_cell, cell_kw = CELLS[kind]
    theirs = keras.layers.RNN(keras_cell(H, **cell_kw), return_sequences=True,
                              zero_output_for_mask=True)
    ours = kerasrnn.RNN(our_cell(H, **cell_kw), return_sequences=True, zero_output_for_mask=True)
    x = paired(theirs, ours, rng)
    check_pair(theirs, ours, x, make_mask("holes"))


@pytest.mark.parametrize("kind", list(CELLS))
def test_weights_copy_both_ways(kind, rng):
    keras_layer, _, our_cell, cell_kw = CELLS[kind]
    theirs, ours = keras_layer(H, **cell_kw), kerasrnn.RNN(our_cell(H, **cell_kw))
    x = rng.normal(size=(B, T, F)).astype("float32")
    theirs(x), ours(x)
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    randomize(ours, rng)
    theirs.set_weights(ours.get_weights())  # kerasrnn -> Keras
    assert_close(theirs(x), ours(x), 1e-5)


def test_generic_loop_equals_keras(rng):
    """A cell with an activation the fused path does not cover runs on the generic loop."""
    theirs = keras.layers.LSTM(H, activation="softsign", return_sequences=True)
    ours = kerasrnn.RNN(kerasrnn.LSTMCell(H, activation="softsign"), return_sequences=True)
    x = paired(theirs, ours, rng)
    assert ours.cell.fused_spec(None, None, False, 2) is None  # really the generic loop
    check_pair(theirs, ours, x, make_mask("holes"))


def test_unroll_equals_keras(rng):
    theirs = keras.layers.GRU(H, return_sequences=True, unroll=True)
    ours = kerasrnn.RNN(kerasrnn.GRUCell(H), return_sequences=True, unroll=True)
    x = paired(theirs, ours, rng)
    check_pair(theirs, ours, x, make_mask("right"))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_convenience_stack_equals_keras_layers(bidirectional, rng):
    """kerasrnn.LSTM(num_layers=2) equals two Keras LSTM layers (each maybe Bidirectional)."""

    def wrap(layer):
        return keras.layers.Bidirectional(layer) if bidirectional else layer

    inputs = keras.Input((T, F))
    y = wrap(keras.layers.LSTM(H, return_sequences=True))(inputs)
    y = wrap(keras.layers.LSTM(H, return_sequences=True))(y)
    theirs = keras.Model(inputs, y)
    ours = kerasrnn.LSTM(H, num_layers=2, bidirectional=bidirectional, return_sequences=True)
    x = rng.normal(size=(B, T, F)).astype("float32")
    ours(x)
    randomize(theirs, rng)
    ours.set_weights(theirs.get_weights())
    check_pair(theirs, ours, x)


def test_single_layer_convenience_has_keras_weights(rng):
    theirs, ours = keras.layers.GRU(H, reset_after=False), kerasrnn.GRU(H, reset_after=False)
    x = rng.normal(size=(B, T, F)).astype("float32")
    theirs(x), ours(x)
    randomize(ours, rng)
    theirs.set_weights(ours.get_weights())
    check_pair(theirs, ours, x, make_mask("right"))


class BidirectionalWithInitialState(keras.layers.Layer):
    """Forward states then backward states, computed from the input (so their gradients count)."""

    def __init__(self, bi, units):
        super().__init__()
        self.bi = bi
        rng = np.random.default_rng(7)
        self.projections = [rng.normal(size=(F, units)).astype("float32") for _ in range(4)]

    def call(self, x, training=False):
        init = [keras.ops.tanh(keras.ops.matmul(x[:, 1, :], p)) for p in self.projections]
        return self.bi(x, initial_state=init, training=training)


def test_bidirectional_initial_state_split_in_halves_equals_keras(rng):
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(H, return_sequences=True))
    ours = kerasrnn.Bidirectional(kerasrnn.RNN(kerasrnn.LSTMCell(H), return_sequences=True))
    x = paired(theirs, ours, rng)
    check_pair(BidirectionalWithInitialState(theirs, H), BidirectionalWithInitialState(ours, H), x)
