"""kerasrnn.diagnostics against direct autodiff, closed forms and the layers' own outputs."""

import os
import sys

import keras
import numpy as np
import pytest
from conftest import assert_close

import kerasrnn
from kerasrnn import _autodiff
from kerasrnn import diagnostics as d


def _direct_grad_norms(layer, x):
    """‖∂J_T/∂h_t‖ the other way: the layer itself (fused kernels) runs the prefix to get the
    states after step t, then the suffix from those states; autodiff w.r.t. the start h."""
    steps, norms = x.shape[1], []
    for t in range(1, steps + 1):
        out = layer(x[:, :t], training=False)
        states = [np.asarray(s) for s in out[1:]]
        if t == steps:
            grad = np.ones_like(states[0])  # J = sum(h_T)
        else:
            def loss(h, states=states, t=t):
                y = layer(x[:, t:], initial_state=[h] + states[1:], training=False)
                return keras.ops.sum(y[1])
            _, (grad,) = _autodiff.value_and_grad(loss, [states[0]])
        norms.append(np.linalg.norm(np.asarray(grad), axis=-1))
    return np.stack(norms, axis=1)


@pytest.mark.parametrize("cell", [kerasrnn.LSTMCell, kerasrnn.GRUCell, kerasrnn.SimpleRNNCell])
def test_gradient_flow_equals_direct_autodiff(cell, rng):
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    layer = kerasrnn.RNN(cell(5), return_state=True)
    layer(x)
    flow = d.gradient_flow(layer, x, jacobians=False)
    assert_close(flow["grad_norms"], _direct_grad_norms(layer, x), atol=1e-4, what="flow")
    assert flow["distance"].tolist() == [6, 5, 4, 3, 2, 1, 0]


def test_gradient_flow_follows_a_models_first_recurrent_layer(rng):
    ids = rng.integers(1, 20, (2, 6))
    inputs = keras.Input((6,), dtype="int32")
    embedded = keras.layers.Embedding(20, 4)(inputs)
    lstm = kerasrnn.LSTM(5, return_state=True)
    outputs = keras.layers.Dense(2)(lstm(embedded)[0])
    model = keras.Model(inputs, outputs)
    flow = d.gradient_flow(model, ids, jacobians=False)
    embedded_x = np.asarray(model.layers[1](ids))  # the Embedding feeding the LSTM
    assert_close(flow["grad_norms"], _direct_grad_norms(lstm, embedded_x), atol=1e-4)


def test_linear_rnn_gradients_decay_at_the_spectral_rate(rng):
    x = rng.normal(size=(3, 15, 4)).astype("float32")
    layer = kerasrnn.RNN(kerasrnn.SimpleRNNCell(6, activation="linear"))
    layer(x)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    layer.cell.recurrent_kernel.assign(0.7 * q)  # every singular value 0.7
    flow = d.gradient_flow(layer, x)
    norms = flow["grad_norms"]
    assert_close(norms[:, :-1] / norms[:, 1:], np.full((3, 14), 0.7), atol=1e-4, what="ratio")
    assert_close(flow["jacobian_norms"], np.full((3, 15), 0.7), atol=1e-5, what="jacobian")
    # A general U with spectral norm 0.9: at most 0.9 per step back.
    u = rng.normal(size=(6, 6))
    layer.cell.recurrent_kernel.assign(0.9 * u / np.linalg.norm(u, 2))
    norms = d.gradient_flow(layer, x, jacobians=False)["grad_norms"]
    bound = norms[:, -1:] * 0.9 ** np.arange(14, -1, -1)[None]
    assert np.all(norms <= bound * (1 + 1e-4))
    assert norms[:, 0].max() < 0.3 * norms[:, -1].min()


def test_gate_inspection_reproduces_the_layer(rng):
    x = rng.normal(size=(3, 9, 4)).astype("float32")
    mask = np.ones((3, 9), bool)
    mask[1, 6:] = False
    mask[2, :2] = False  # left padding too
    for layer in (kerasrnn.LSTM(5, num_layers=2, bidirectional=True, return_sequences=True),
                  kerasrnn.GRU(4, num_layers=2, residual=True, return_sequences=True,
                               reset_after=False),
                  kerasrnn.SimpleRNN(4, go_backwards=True, return_sequences=True)):
        out = np.asarray(layer(x, mask=mask))
        acts = d.inspect_gates(layer, x, mask)
        last = acts[-1]
        if "forward" in last:
            hidden = np.concatenate([last["forward"]["hidden"], last["backward"]["hidden"]], -1)
        else:
            hidden = last["hidden"]
            if layer.residual:
                hidden = hidden + np.nan_to_num(acts[0]["hidden"])
        valid = mask[:, ::-1] if layer.go_backwards else mask
        assert_close(hidden[valid], out[valid], atol=1e-5, what=layer.name)
        assert np.all(np.isnan(hidden[~valid]))
    lstm = kerasrnn.RNN(kerasrnn.LSTMCell(5), return_sequences=True)
    lstm(x)
    a = d.inspect_gates(lstm, x)
    for gate in ("input", "forget", "output"):
        assert np.all((a[gate] > 0) & (a[gate] < 1))
    c_prev = np.concatenate([np.zeros_like(a["cell"][:, :1]), a["cell"][:, :-1]], axis=1)
    assert_close(a["cell"], a["forget"] * c_prev + a["input"] * a["candidate"], atol=1e-5)


def _exploding_fit(optimizer, rng):
    x = rng.normal(size=(16, 10, 3)).astype("float32")
    y = 50.0 * rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([
        keras.Input((10, 3)),
        kerasrnn.SimpleRNN(8, recurrent_initializer=keras.initializers.Orthogonal(2.0)),
        keras.layers.Dense(1)])
    model.compile(d.track_gradient_norms(optimizer), "mse")
    norms = d.GradientNormHistory()
    model.fit(x, y, batch_size=4, epochs=2, callbacks=[norms], verbose=0)
    return model, norms.history


def test_clipping_tracker_records_what_the_optimizer_applies(rng):
    _, history = _exploding_fit(keras.optimizers.SGD(1e-3, global_clipnorm=1.0), rng)
    assert len(history["norm"]) == 8
    assert max(history["norm"]) > 10.0, "the fixture must explode"
    assert max(history["clipped_norm"]) <= 1.0 * (1 + 1e-6)
    _, history = _exploding_fit(keras.optimizers.SGD(1e-3, clipnorm=0.5), rng)
    assert max(history["max_clipped_variable_norm"]) <= 0.5 * (1 + 1e-6)
    # SGD without momentum moves the weights by exactly lr x the clipped gradient.
    model, _ = _exploding_fit(keras.optimizers.SGD(1.0, global_clipnorm=0.25), rng)
    before = [np.asarray(w) for w in model.trainable_weights]
    norms = d.GradientNormHistory()
    model.fit(rng.normal(size=(4, 10, 3)), np.full((4, 1), 40.0), batch_size=4, epochs=1,
              callbacks=[norms], verbose=0)
    step = np.sqrt(sum(np.sum((np.asarray(w) - b) ** 2)
                       for w, b in zip(model.trainable_weights, before)))
    assert np.isclose(step, norms.history["clipped_norm"][0], rtol=1e-4)
    assert np.isclose(step, 0.25, rtol=1e-4)


def test_history_needs_a_tracking_optimizer():
    model = keras.Sequential([keras.Input((3, 2)), kerasrnn.SimpleRNN(2)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="track_gradient_norms"):
        model.fit(np.zeros((2, 3, 2)), np.zeros((2, 2)), callbacks=[d.GradientNormHistory()],
                  verbose=0)


def test_recall_task_and_a_short_experiment():
    # The experiment lives beside its benchmark script, outside the library.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.long_dependency import accuracy_table, long_dependency, recall_task

    ids, labels = recall_task(6, 100, num_classes=4, vocabulary_size=12, seed=0)
    assert ids.shape == (100, 6) and np.all(ids[:, 0] == labels + 1)
    assert np.all(ids[:, 1:] > 4) and set(labels.tolist()) == {0, 1, 2, 3}
    rows = long_dependency(cells=("lstm",), lengths=(3,), units=16, train_size=512,
                           dev_size=128, epochs=8, num_classes=4)
    assert rows[0]["accuracy"] > 0.9, rows  # 3 steps back is easy; chance is 0.25
    assert "N = 3" in accuracy_table(rows)


def test_unsupported_layers_are_named(rng):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    with pytest.raises(ValueError, match="bidirectional=True"):
        d.gradient_flow(kerasrnn.LSTM(3, bidirectional=True), x)
    keras_lstm = keras.layers.LSTM(3)
    keras_lstm(x)
    with pytest.raises(ValueError, match="kerasrnn recurrent layer"):
        d.inspect_gates(keras_lstm, x)
    # Keras' own layers do work for gradient flow (its cells follow the same protocol).
    assert d.gradient_flow(keras_lstm, x, jacobians=False)["grad_norms"].shape == (2, 4)
