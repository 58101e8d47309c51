"""The parallel-in-time cells (minGRU, minLSTM, QRNN, IndRNN): the whole-sequence run equals a
NumPy step-by-step reference written from each paper's equations, and the cell's own step
loop, in outputs, final states and gradients, for every padding pattern, both directions,
stacks and Bidirectional, T = 1 and 4,096; and they save, load and refuse bad arguments."""

import keras
import numpy as np
import pytest
from conftest import assert_close, gradients, weighted_sum_loss
from test_equal_keras import randomize
from test_task_contract import TASKS

import kerasrnn
from kerasrnn import _parallel

B, T, F, U = 5, 7, 4, 3
CELLS = {  # name: (class, options)
    "mingru": (kerasrnn.MinGRUCell, {}),
    "minlstm": (kerasrnn.MinLSTMCell, {}),
    "qrnn": (kerasrnn.QRNNCell, {"window": 3}),
    "qrnn_k1": (kerasrnn.QRNNCell, {"window": 1}),
    "indrnn": (kerasrnn.IndRNNCell, {}),
}


def mixed_mask(batch=B, steps=T):
    """Rows: no padding, right-padded, left-padded, holes, all padding."""
    mask = np.ones((batch, steps), bool)
    mask[1, steps - 3 :] = False
    mask[2, :3] = False
    mask[3, [1, 2, 5]] = False
    mask[4, :] = False
    return mask


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference(name, x, mask, weights, states, window=1):
    """NumPy, float64, one step at a time, from the papers' equations. Outputs at a padded step
    repeat the previous real step's (zeros before the first); states are kept there."""
    x = np.asarray(x, np.float64)
    w = [np.asarray(v, np.float64) for v in weights]
    states = [np.asarray(s, np.float64) for s in states]
    outputs = np.zeros((x.shape[0], x.shape[1], U))
    out = np.zeros((x.shape[0], U))
    for t in range(x.shape[1]):
        xt = x[:, t]
        if name == "mingru":  # Feng et al. 2024, minGRU
            kernel, bias = w
            z = sigmoid(xt @ kernel[:, :U] + bias[:U])
            h_tilde = xt @ kernel[:, U:] + bias[U:]
            new = [(1 - z) * states[0] + z * h_tilde]
            new_out = new[0]
        elif name == "minlstm":  # Feng et al. 2024, minLSTM
            kernel, bias = w
            f = sigmoid(xt @ kernel[:, :U] + bias[:U])
            i = sigmoid(xt @ kernel[:, U : 2 * U] + bias[U : 2 * U])
            h_tilde = xt @ kernel[:, 2 * U :] + bias[2 * U :]
            new = [f / (f + i) * states[0] + i / (f + i) * h_tilde]
            new_out = new[0]
        elif name.startswith("qrnn"):  # Bradbury et al. 2017, fo-pooling
            kernel, bias = w
            inputs = np.concatenate(states[1:] + [xt], axis=-1)  # x_{t-k+1} .. x_t
            a = inputs @ kernel + bias
            z, f, o = np.tanh(a[:, :U]), sigmoid(a[:, U : 2 * U]), sigmoid(a[:, 2 * U :])
            c = f * states[0] + (1 - f) * z
            new = [c] + ([inputs[:, F:]] if window > 1 else [])
            new_out = o * c
        else:  # Li et al. 2018, IndRNN
            kernel, u, bias = w
            new = [np.maximum(xt @ kernel + bias + u * states[0], 0.0)]
            new_out = new[0]
        real = mask[:, t][:, None]
        states = [np.where(real, n, s) for n, s in zip(new, states)]
        out = np.where(real, new_out, out)
        outputs[:, t] = out
    return outputs, states


def make(name, **layer_options):
    cls, options = CELLS[name]
    return kerasrnn.RNN(cls(U, **options), return_sequences=True, return_state=True,
                        **layer_options)


def random_states(name, rng, batch=B):
    window = CELLS[name][1].get("window", 1)
    states = [rng.normal(size=(batch, U))]
    if name.startswith("qrnn") and window > 1:
        states.append(rng.normal(size=(batch, (window - 1) * F)))
    return [s.astype("float32") for s in states]


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_parallel_run_equals_the_papers_equations(name, go_backwards, rng):
    layer = make(name, go_backwards=go_backwards)
    x = rng.normal(size=(B, T, F)).astype("float32")
    mask, states = mixed_mask(), random_states(name, rng)
    layer(x, initial_state=states)
    randomize(layer, rng)
    out = layer(x, initial_state=states, mask=mask)
    step = np.s_[:, ::-1] if go_backwards else np.s_[:, :]
    want, want_states = reference(name, x[step], mask[step], layer.get_weights(), states,
                                  CELLS[name][1].get("window", 1))
    assert_close(out[0], want, 1e-5, "outputs")
    assert len(out) - 1 == len(want_states)
    for i, (got, s) in enumerate(zip(out[1:], want_states)):
        assert_close(got, s, 1e-5, f"state {i}")


def step_by_step_pair(name, rng, **options):
    """The same cell run whole (`kerasrnn.RNN`) and step by step (`unroll=True`: the generic
    loop over `cell.call`), with the same random weights."""
    parallel, steps = make(name, **options), make(name, unroll=True, **options)
    x = rng.normal(size=(B, T, F)).astype("float32")
    parallel(x), steps(x)
    randomize(parallel, rng)
    steps.set_weights(parallel.get_weights())
    return parallel, steps, x


@pytest.mark.parametrize("name", sorted(CELLS))
def test_parallel_run_equals_the_step_loop_in_gradients(name, rng):
    parallel, steps, x = step_by_step_pair(name, rng, go_backwards=True)
    mask = mixed_mask()
    for layer_out, step_out in zip(parallel(x, mask=mask), steps(x, mask=mask)):
        assert_close(layer_out, step_out, 1e-5, "forward")
    loss_p, dx_p, dw_p = gradients(parallel, weighted_sum_loss, x, mask=mask)
    loss_s, dx_s, dw_s = gradients(steps, weighted_sum_loss, x, mask=mask)
    assert abs(loss_p - loss_s) <= 1e-4 * max(1.0, abs(loss_s))
    assert_close(dx_p, dx_s, 1e-5, "d inputs")
    for w, a, b in zip(parallel.trainable_weights, dw_p, dw_s):
        assert np.abs(b).max() > 0, f"the step loop's gradient of {w.path} is zero"
        assert_close(a, b, 1e-5, f"d {w.path}")


@pytest.mark.parametrize("name", ["mingru", "indrnn"])
def test_dropout_masks_are_the_same_in_both_runs(name, rng):
    """Input dropout (and IndRNN's recurrent dropout): one mask per sequence, drawn from the
    same seed, gives the same numbers whole and step by step."""
    options = {"dropout": 0.3, "seed": 7}
    if name == "indrnn":
        options["recurrent_dropout"] = 0.4
    a = kerasrnn.RNN(CELLS[name][0](U, **options), return_sequences=True)
    b = kerasrnn.RNN(CELLS[name][0](U, **options), return_sequences=True, unroll=True)
    x = rng.normal(size=(B, T, F)).astype("float32")
    a(x), b(x)
    b.set_weights(a.get_weights())
    trained, inferred = a(x, training=True), a(x)
    scale = max(1.0, float(np.abs(np.asarray(trained)).max()))  # IndRNN's ReLU grows large
    assert_close(trained, b(x, training=True), 1e-5 * scale, "training")
    assert np.abs(np.asarray(trained) - np.asarray(inferred)).max() > 1e-3  # dropout acted


@pytest.mark.parametrize("name", ["mingru", "minlstm", "qrnn"])
@pytest.mark.parametrize("steps", [1, 4096])
def test_one_step_and_4096_steps(name, steps, rng):
    """float32 against the float64 reference: the gates are contractions, so rounding does not
    grow with T (measured max difference ~1e-6 at T = 4,096); 1e-5 holds at both lengths."""
    layer = make(name)
    x = rng.normal(size=(2, steps, F)).astype("float32")
    mask = np.ones((2, steps), bool)
    mask[1, steps // 2 :] = False
    states = random_states(name, rng, batch=2)
    layer(x, initial_state=states)
    randomize(layer, rng)
    out = layer(x, initial_state=states, mask=mask)
    want, want_states = reference(name, x, mask, layer.get_weights(), states,
                                  CELLS[name][1].get("window", 1))
    assert_close(out[0], want, 1e-5, "outputs")
    for got, s in zip(out[1:], want_states):
        assert_close(got, s, 1e-5, "final state")


@pytest.mark.parametrize("method", ["sequential", "associative"])
def test_both_scan_methods_and_their_gradient(method, rng):
    """`linear_recurrence` by either method equals the loop, and its hand-written gradient
    equals autodiff through the loop."""
    a = rng.uniform(0.2, 1.0, size=(33, 2, 3)).astype("float32")
    b = rng.normal(size=(33, 2, 3)).astype("float32")
    h0 = rng.normal(size=(2, 3)).astype("float32")
    m = (rng.uniform(size=(33, 2, 1)) > 0.3).astype("float32")
    h, want = np.asarray(_parallel.linear_recurrence(a, b, h0, m, method)), []
    prev = h0
    for t in range(33):
        prev = np.where(m[t] > 0.5, a[t] * prev + b[t], prev)
        want.append(prev)
    assert_close(h, np.stack(want), 1e-5, "h")

    from kerasrnn import _autodiff

    def loss(a, b, h0, run):
        return weighted_sum_loss(run(a, b, h0))

    def loop(a, b, h0):
        hs, prev = [], h0
        for t in range(33):
            prev = keras.ops.where(m[t] > 0.5, a[t] * prev + b[t], prev)
            hs.append(prev)
        return keras.ops.stack(hs)

    _, ours = _autodiff.value_and_grad(
        lambda *v: loss(*v, lambda *w: _parallel.linear_recurrence(*w, m, method)), [a, b, h0])
    _, oracle = _autodiff.value_and_grad(lambda *v: loss(*v, loop), [a, b, h0])
    for got, want_grad, what in zip(ours, oracle, ("da", "db", "dh0")):
        assert_close(got, want_grad, 1e-4, what)


@pytest.mark.parametrize("cls", [kerasrnn.MinGRU, kerasrnn.MinLSTM, kerasrnn.QRNN,
                                 kerasrnn.IndRNN])
def test_deep_bidirectional_residual_stacks_equal_their_step_loops(cls, rng, tmp_path):
    options = dict(num_layers=2, bidirectional=True, residual=True, return_sequences=True,
                   return_state=True)
    fast, slow = cls(U, **options), cls(U, unroll=True, **options)
    x = rng.normal(size=(B, T, 2 * U)).astype("float32")
    mask = mixed_mask()
    fast(x), slow(x)
    randomize(fast, rng)
    slow.set_weights(fast.get_weights())
    for a, b in zip(fast(x, mask=mask), slow(x, mask=mask)):
        assert_close(a, b, 1e-5, "stack")
    _, dx_f, dw_f = gradients(fast, weighted_sum_loss, x, mask=mask)
    _, dx_s, dw_s = gradients(slow, weighted_sum_loss, x, mask=mask)
    assert_close(dx_f, dx_s, 1e-5, "d inputs")
    for a, b in zip(dw_f, dw_s):
        assert_close(a, b, 1e-5, "d weights")
    assert_reloads_the_same(fast, x, tmp_path)


def assert_reloads_the_same(layer, x, tmp_path):
    """A .keras round trip under safe_mode of a model around `layer` (return_state: its first
    output) gives the same outputs on `x`."""
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs)[0])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert_close(loaded(x), model(x), 1e-6, "reloaded")


@pytest.mark.parametrize("name", sorted(CELLS))
def test_padding_changes_nothing_on_real_steps(name, rng):
    assert_padding_changes_nothing(make(name), rng, F)


def assert_padding_changes_nothing(layer, rng, features):
    """A sequence padded on the right or on the left (or with holes) gives, at its real steps
    and in its final states, what the same sequence alone gives (`layer`: return_state)."""
    x = rng.normal(size=(1, 4, features)).astype("float32")
    layer(x)
    randomize(layer, rng)
    alone = layer(x)
    for positions in ([0, 1, 2, 3], [3, 4, 5, 6], [0, 2, 3, 6]):
        padded = rng.normal(size=(1, T, features)).astype("float32")  # garbage when padded
        mask = np.zeros((1, T), bool)
        padded[0, positions], mask[0, positions] = x[0], True
        out = layer(padded, mask=mask)
        assert_close(np.asarray(out[0])[0, positions], np.asarray(alone[0])[0], 1e-5, "outputs")
        for a, b in zip(out[1:], alone[1:]):
            assert_close(a, b, 1e-5, "final states")


def test_cells_work_inside_keras_rnn_and_generate_step_by_step(rng):
    """The Keras cell protocol: inside keras.layers.RNN, and a step at a time with the states
    carried by hand (generation), both equal to the whole-sequence run."""
    for name in sorted(CELLS):
        cls, options = CELLS[name]
        cell = cls(U, **options)
        ours = kerasrnn.RNN(cell, return_sequences=True, return_state=True)
        x = rng.normal(size=(B, T, F)).astype("float32")
        out = ours(x)
        theirs = keras.layers.RNN(cell, return_sequences=True, return_state=True)(x)
        for a, b in zip(out, theirs):
            assert_close(a, b, 1e-5, f"{name} in keras.layers.RNN")
        states = cell.get_initial_state(B)
        for t in range(T):
            y, states = cell(x[:, t], states)
            assert_close(y, np.asarray(out[0])[:, t], 1e-5, f"{name} step {t}")


def test_indrnn_constraint_and_bad_arguments(rng):
    cell = kerasrnn.IndRNNCell(U, recurrent_max_abs=0.5)
    layer = kerasrnn.RNN(cell)
    model = keras.Sequential([keras.Input((T, F)), layer])
    model.compile(keras.optimizers.SGD(100.0), "mse")
    model.fit(rng.normal(size=(8, T, F)), rng.normal(size=(8, U)) * 10, verbose=0)
    u = np.asarray(cell.recurrent_kernel)
    assert np.abs(u).max() <= 0.5 + 1e-7 and np.isclose(np.abs(u).max(), 0.5)
    config = cell.get_config()
    assert config["recurrent_max_abs"] == 0.5 and config["recurrent_constraint"] is None
    assert kerasrnn.IndRNNCell.from_config(config).recurrent_constraint.max_abs == 0.5
    for make_bad, message in [
        (lambda: kerasrnn.MinGRUCell(0), "Received: units=0"),
        (lambda: kerasrnn.QRNNCell(3, window=0), "Received: window=0"),
        (lambda: kerasrnn.MinLSTMCell(3, recurrent_dropout=0.2),
         "no `recurrent_dropout`. Received: recurrent_dropout=0.2"),
        (lambda: kerasrnn.MinGRU(3, recurrent_initializer="zeros"),
         "Received: recurrent_initializer='zeros'"),
        (lambda: kerasrnn.IndRNNCell(3, recurrent_max_abs=-1),
         "Received: recurrent_max_abs=-1"),
        (lambda: _parallel.linear_recurrence(1, 1, 1, method="fast"),
         "Received: method='fast'"),
    ]:
        with pytest.raises(ValueError, match=message):
            make_bad()


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["mingru", "qrnn"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_trains_saves_and_reloads_with_a_parallel_cell(task, cell, tmp_path):
    """`cell` in every task's Config (the scripts' --cell): a training epoch, then the .keras
    file predicts the same."""
    assert_task_round_trip(task, cell, tmp_path)


def assert_task_round_trip(task, cell, tmp_path):
    """The task's tiny model with `cell` trains an epoch; its .keras file predicts the same.
    Returns the trained model."""
    model, x, y = TASKS[task](cell=cell)
    model.fit(x, y, epochs=1, verbose=0) if y is not None else model.fit(x, epochs=1, verbose=0)
    assert model.get_config()["cell"] == cell
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    inputs = [s for s, _ in x] if task == "translator" else x
    if task == "language_model":
        assert loaded.generate(inputs[:2], max_length=4) == model.generate(inputs[:2], max_length=4)
    elif task == "translator":
        assert loaded.translate(inputs) == model.translate(inputs)
    elif task == "tagger":
        assert loaded.predict(inputs, verbose=0) == model.predict(inputs, verbose=0)
    else:
        assert_close(loaded.predict(inputs, verbose=0)["probabilities"],
                     model.predict(inputs, verbose=0)["probabilities"], 1e-6, task)
    return model


def test_diagnostics_follow_the_parallel_cells(rng):
    """gradient_flow of a minGRU is the product of its (1 - z) gates (∂h_T/∂h_t = Π_{s>t}
    diag(1 - z_s)), and inspect_gates' "hidden" is every cell's output."""
    from kerasrnn import diagnostics

    x = rng.normal(size=(2, 6, F)).astype("float32")
    layer = kerasrnn.RNN(kerasrnn.MinGRUCell(U), return_sequences=True)
    layer(x)
    randomize(layer, rng)
    kernel, bias = layer.get_weights()
    z = sigmoid(x @ kernel[:, :U] + bias[:U])  # (batch, T, U)
    keep = np.concatenate([np.cumprod((1 - z)[:, ::-1], axis=1)[:, ::-1][:, 1:],
                           np.ones((2, 1, U))], axis=1)  # Π_{s>t} (1 - z_s)
    flow = diagnostics.gradient_flow(layer, x)
    assert_close(flow["grad_norms"], np.linalg.norm(keep, axis=-1), 1e-5, "gradient norms")
    assert_close(flow["jacobian_norms"], (1 - z).max(axis=-1), 1e-5, "step Jacobians")
    for name in sorted(CELLS):
        rnn = make(name)
        out = rnn(x)[0]
        acts = diagnostics.inspect_gates(rnn, x)
        assert_close(acts["hidden"], out, 1e-5, f"{name} hidden")
