"""The cell variants (peepholes, projection, layer norm, zoneout, weight-drop): outputs, final
states and gradients equal a NumPy float64 step-by-step reference written from the papers'
equations (gradients by central differences of that reference), for every padding pattern and
both directions; the fused kernel equals the generic loop given the same random masks; stacks,
Bidirectional, padding invariance, `.keras` files and bad arguments."""

import functools

import keras
import numpy as np
import pytest
from conftest import assert_close, gradients, weighted_sum_loss
from test_equal_keras import randomize
from test_parallel_cells import (
    assert_padding_changes_nothing,
    assert_reloads_the_same,
    assert_task_round_trip,
    mixed_mask,
    sigmoid,
)

import kerasrnn

B, T, F, H, P = 5, 7, 3, 4, 2
VARIANTS = {  # name: (cell class, options)
    "lstm_peephole": (kerasrnn.LSTMCell, {"peephole": True}),
    "lstm_projection": (kerasrnn.LSTMCell, {"projection_units": P}),
    "lstm_layer_norm": (kerasrnn.LSTMCell, {"layer_norm": True}),
    "lstm_all": (kerasrnn.LSTMCell, {"peephole": True, "projection_units": P,
                                     "layer_norm": True, "zoneout_h": 0.3, "zoneout_c": 0.2,
                                     "weight_drop": 0.4}),
    "lstm_zoneout": (kerasrnn.LSTMCell, {"zoneout_h": 0.3, "zoneout_c": 0.5}),
    "lstm_weight_drop": (kerasrnn.LSTMCell, {"weight_drop": 0.5, "projection_units": P,
                                             "peephole": True}),
    "gru_layer_norm": (kerasrnn.GRUCell, {"layer_norm": True}),
    "gru_layer_norm_reset_before": (kerasrnn.GRUCell, {"layer_norm": True,
                                                       "reset_after": False}),
    "gru_zoneout_weight_drop": (kerasrnn.GRUCell, {"zoneout_h": 0.3, "weight_drop": 0.5}),
    "simple_rnn_zoneout_weight_drop": (kerasrnn.SimpleRNNCell, {"zoneout_h": 0.3,
                                                                "weight_drop": 0.5}),
}


def layer_norm(a, blocks):
    parts = a.reshape(a.shape[:-1] + (blocks, -1))
    mean = parts.mean(-1, keepdims=True)
    var = ((parts - mean) ** 2).mean(-1, keepdims=True)
    return ((parts - mean) / np.sqrt(var + 1e-5)).reshape(a.shape)


def lstm_step(x, h, c, w, o, keep):
    """Hochreiter & Schmidhuber 1997 with forget gate; peepholes as Gers & Schmidhuber 2000,
    projection as Sak et al. 2014, layer norm as Ba et al. 2016, zoneout as Krueger et al."""
    zx, zh = x @ w["kernel"], h @ w["recurrent_kernel"]
    if o.get("layer_norm"):
        zx = layer_norm(zx, 4) * w["input_norm_gain"]
        zh = layer_norm(zh, 4) * w["recurrent_norm_gain"]
    zi, zf, zg, zo = np.split(zx + zh + w["bias"], 4, axis=-1)
    if o.get("peephole"):
        zi, zf = zi + w["peephole_kernel"][0] * c, zf + w["peephole_kernel"][1] * c
    i, f, g = sigmoid(zi), sigmoid(zf), np.tanh(zg)
    c_new = f * c + i * g
    if o.get("peephole"):
        zo = zo + w["peephole_kernel"][2] * c_new
    c_out = c_new
    if o.get("layer_norm"):
        c_out = layer_norm(c_new, 1) * w["cell_norm_gain"] + w["cell_norm_bias"]
    h_new = sigmoid(zo) * np.tanh(c_out)
    if o.get("projection_units"):
        h_new = h_new @ w["projection_kernel"]
    return [keep[0] * h + (1 - keep[0]) * h_new, keep[1] * c + (1 - keep[1]) * c_new]


def gru_step(x, h, w, o, keep):
    """Cho et al. 2014 (reset_after: the cuDNN form), layer norm per gate block."""
    ln = (lambda a, n: layer_norm(a, n)) if o.get("layer_norm") else (lambda a, n: a)
    gx = w.get("input_norm_gain", np.ones(3 * H))
    gh = w.get("recurrent_norm_gain", np.ones(3 * H))
    u = w["recurrent_kernel"]
    reset_after = o.get("reset_after", True)
    b_in, b_rec = (w["bias"][0], w["bias"][1]) if reset_after else (w["bias"], 0.0)
    x_z, x_r, x_h = np.split(ln(x @ w["kernel"], 3) * gx + b_in, 3, axis=-1)
    if reset_after:
        r_z, r_r, r_h = np.split(ln(h @ u, 3) * gh + b_rec, 3, axis=-1)
        z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
        hh = np.tanh(x_h + r * r_h)
    else:
        r_z, r_r = np.split(ln(h @ u[:, : 2 * H], 2) * gh[: 2 * H], 2, axis=-1)
        z, r = sigmoid(x_z + r_z), sigmoid(x_r + r_r)
        hh = np.tanh(x_h + ln((r * h) @ u[:, 2 * H :], 1) * gh[2 * H :])
    h_new = z * h + (1 - z) * hh
    return [keep[0] * h + (1 - keep[0]) * h_new]


def simple_step(x, h, w, o, keep):
    h_new = np.tanh(x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"])
    return [keep[0] * h + (1 - keep[0]) * h_new]


def reference(name, x, mask, w, states, keep=None, u_mask=None):
    """Outputs (B, T, out) and final states, float64, one step at a time in loop order. `keep`:
    per state the (T, B, size) zoneout masks (or the rates: the expectation); `u_mask`: the
    weight-drop mask on U. A padded step keeps the states; its output repeats the previous real
    step's (zeros before the first)."""
    cls, o = VARIANTS[name]
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    if u_mask is not None:
        w["recurrent_kernel"] = w["recurrent_kernel"] * u_mask
    step = {kerasrnn.LSTMCell: lstm_step, kerasrnn.GRUCell: gru_step,
            kerasrnn.SimpleRNNCell: simple_step}[cls]
    states = [np.asarray(s, np.float64) for s in states]
    out, outputs = np.zeros_like(states[0]), []
    for t in range(x.shape[1]):
        keep_t = [0.0 if k is None else (k if np.isscalar(k) else k[t])
                  for k in (keep or [None] * len(states))]
        args = (x[:, t], *states, w, o, keep_t)
        new = step(*args)
        real = mask[:, t][:, None]
        states = [np.where(real, n, s) for n, s in zip(new, states)]
        out = np.where(real, states[0], out)
        outputs.append(out)
    return np.stack(outputs, 1), states


def numpy_loss(values):
    """`conftest.weighted_sum_loss` in NumPy, with the very weights it uses (float32 cosines
    computed by the backend: computed in NumPy they differ in the last bits)."""
    return sum(np.sum(v.reshape(-1) * loss_weights(v.size, k)) for k, v in enumerate(values))


@functools.lru_cache
def loss_weights(size, k):
    w = keras.ops.cos(keras.ops.arange(size, dtype="float32") * (0.37 + k))
    return np.asarray(w, np.float64)


def numeric_gradient(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (f(up) - f(down)) / (2 * eps)
    return grad


def assert_gradient(got, want, what, tolerance=1e-5):
    """float32 against float64: `tolerance`, relative to the largest entry where it exceeds 1
    (a sum over 35 steps and rows of products of order 1 rounds at a few 1e-6 of its size)."""
    assert_close(got, want, tolerance * max(1.0, float(np.abs(want).max())), what)


def make(name, **layer_options):
    cls, options = VARIANTS[name]
    return kerasrnn.RNN(cls(H, seed=3, **options), return_sequences=True, return_state=True,
                        **layer_options)


def fixed_masks(layer, rng):
    """Replaces the cell's random draws by fixed masks (returned): zoneout's per step and state,
    weight-drop's on U; both only at training, as the cell's own."""
    cell = layer.cell
    sizes = [s for s in (cell.state_size if isinstance(cell.state_size, list)
                         else [cell.state_size])]
    keep = [None if r <= 0 else (rng.uniform(size=(T, B, s)) < r).astype("float32")
            for r, s in zip(cell.zoneout_rates(), sizes)]
    u_mask = None
    if cell.weight_drop > 0:
        u_mask = (rng.uniform(size=cell.recurrent_kernel.shape) >= cell.weight_drop) / (
            1 - cell.weight_drop)
        u_mask = u_mask.astype("float32")
    if any(k is not None for k in keep):
        cell.zoneout_masks = lambda steps, batch, training, dtype: keep if training else None
    cell.weight_drop_mask = lambda training: u_mask if training else None
    return keep, u_mask


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_equals_the_papers_equations(name, go_backwards, training, rng):
    """Outputs, final states and the gradients of the inputs and every weight.
    At inference zoneout is its expectation and weight-drop the identity."""
    layer = make(name, go_backwards=go_backwards)
    cell = layer.cell
    x = rng.normal(size=(B, T, F)).astype("float32")
    sizes = cell.state_size if isinstance(cell.state_size, list) else [cell.state_size]
    states = [rng.normal(size=(B, s)).astype("float32") for s in sizes]
    layer(x, initial_state=states)
    randomize(layer, rng)
    keep, u_mask = fixed_masks(layer, rng)
    if not training:
        keep, u_mask = [r if r > 0 else None for r in cell.zoneout_rates()], None
    mask = mixed_mask()
    order = np.s_[:, ::-1] if go_backwards else np.s_[:, :]
    names = [v.name for v in cell.weights]
    weights = dict(zip(names, layer.get_weights()))

    def run(xv, w, s):
        return reference(name, xv[order], mask[order], w, s, keep, u_mask)

    want, want_states = run(x.astype(np.float64), weights, states)
    got = layer(x, initial_state=states, mask=mask, training=training)
    assert_close(got[0], want, 1e-5, "outputs")
    for i, (a, b) in enumerate(zip(got[1:], want_states)):
        assert_close(a, b, 1e-5, f"final state {i}")

    def loss_of(xv=x, w=weights, s=states):
        outputs, final = run(np.asarray(xv, np.float64), w, s)
        return numpy_loss([outputs] + final)

    _, dx, dw = gradients(layer, weighted_sum_loss, x, initial_state=states, mask=mask,
                          training=training)
    # Layer norm over 4 units divides by a small, rounded standard deviation: its float32
    # gradients were measured up to 3e-5 (relative) from the float64 reference.
    tolerance = 1e-4 if getattr(cell, "layer_norm", False) else 1e-5
    assert_gradient(dx, numeric_gradient(lambda v: loss_of(xv=v), x.astype(np.float64)),
                    "d inputs", tolerance)
    for variable, grad in zip(layer.trainable_weights, dw):
        value = weights[variable.name].astype(np.float64)
        want_grad = numeric_gradient(
            lambda v, key=variable.name: loss_of(w={**weights, key: v}), value)
        assert np.abs(want_grad).max() > 0, f"{variable.name}: the reference's gradient is 0"
        assert_gradient(grad, want_grad, f"d {variable.name}", tolerance)
        if variable.name == "recurrent_kernel" and u_mask is not None:
            assert np.all(grad[u_mask == 0] == 0)  # dropped weights get no gradient


@pytest.mark.parametrize("name", ["lstm_all", "lstm_layer_norm", "lstm_zoneout",
                                  "lstm_weight_drop", "gru_layer_norm",
                                  "gru_zoneout_weight_drop", "simple_rnn_zoneout_weight_drop"])
def test_fused_kernel_equals_the_generic_loop_with_the_same_masks(name, rng):
    """Dropout, recurrent dropout, weight-drop and zoneout masks drawn once, given to both
    runs: the fused kernel (hand-written gradient) and the generic loop (autodiff) agree."""
    cls, options = VARIANTS[name]
    cell = cls(H, dropout=0.3, recurrent_dropout=0.2, seed=5, **options)
    fused = kerasrnn.RNN(cell, return_sequences=True, return_state=True)
    generic = kerasrnn.RNN(cell, return_sequences=True, return_state=True, unroll=True)
    x = rng.normal(size=(B, T, F)).astype("float32")
    fused(x), generic(x)
    randomize(fused, rng)
    assert cell.fused_spec(None, None, False, 2) is not None  # really fused
    masks = cell.dropout_masks(x[:, 0], training=True)
    u_mask = cell.weight_drop_mask(training=True)
    keep = cell.zoneout_masks(T, B, True, "float32")
    cell.dropout_masks = lambda step_input, training: masks
    cell.weight_drop_mask = lambda training: u_mask
    cell.zoneout_masks = lambda steps, batch, training, dtype: keep
    mask = mixed_mask()
    gf = gradients(fused, weighted_sum_loss, x, mask=mask)
    gg = gradients(generic, weighted_sum_loss, x, mask=mask)
    assert abs(gf[0] - gg[0]) <= 1e-4 * max(1.0, abs(gg[0]))
    tolerance = 1e-4 if getattr(cell, "layer_norm", False) else 1e-5  # as above
    assert_gradient(gf[1], gg[1], "d inputs", tolerance)
    for v, a, b in zip(fused.trainable_weights, gf[2], gg[2]):
        assert_gradient(a, b, f"d {v.name}", tolerance)


@pytest.mark.parametrize("cls,options", [
    (kerasrnn.LSTM, {"projection_units": P, "peephole": True}),
    (kerasrnn.LSTM, {"layer_norm": True, "zoneout_c": 0.1}),
    (kerasrnn.GRU, {"layer_norm": True}),
])
def test_deep_bidirectional_stacks_equal_their_step_loops_and_reload(cls, options, rng,
                                                                     tmp_path):
    stack = dict(num_layers=2, bidirectional=True, return_sequences=True, return_state=True)
    fast, slow = cls(H, **stack, **options), cls(H, unroll=True, **stack, **options)
    x = rng.normal(size=(B, T, F)).astype("float32")
    mask = mixed_mask()
    fast(x), slow(x)
    randomize(fast, rng)
    slow.set_weights(fast.get_weights())
    for a, b in zip(fast(x, mask=mask), slow(x, mask=mask)):
        assert_close(a, b, 1e-5, "stack")
    _, dx_f, dw_f = gradients(fast, weighted_sum_loss, x, mask=mask, training=False)
    _, dx_s, dw_s = gradients(slow, weighted_sum_loss, x, mask=mask, training=False)
    assert_gradient(dx_f, dx_s, "d inputs")
    for a, b in zip(dw_f, dw_s):
        assert_gradient(a, b, "d weights")
    assert_reloads_the_same(fast, x, tmp_path)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_padding_changes_nothing_on_real_steps(name, rng):
    assert_padding_changes_nothing(make(name), rng, F)


def test_random_variants_act_at_training_only(rng):
    """Zoneout and weight-drop change the training run, differ between calls, and leave
    inference deterministic; weight-drop alone is the identity at inference."""
    x = rng.normal(size=(B, T, F)).astype("float32")
    plain = kerasrnn.RNN(kerasrnn.LSTMCell(H))
    dropped = kerasrnn.RNN(kerasrnn.LSTMCell(H, weight_drop=0.5))
    zoned = kerasrnn.RNN(kerasrnn.LSTMCell(H, zoneout_h=0.5, zoneout_c=0.5))
    for layer in (plain, dropped, zoned):
        layer(x)
    dropped.set_weights(plain.get_weights())
    zoned.set_weights(plain.get_weights())
    assert_close(dropped(x), plain(x), 0.0, "weight-drop at inference")
    for layer in (dropped, zoned):
        a, b = np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))
        assert np.abs(a - b).max() > 1e-3
        assert_close(layer(x), layer(x), 0.0, "inference")


def test_cell_works_step_by_step_outside_kerasrnn(rng):
    """The Keras cell protocol: inside keras.layers.RNN the variants give kerasrnn.RNN's
    numbers (inference: zoneout's expectation, no weight-drop)."""
    cell_options = {"peephole": True, "projection_units": P, "layer_norm": True,
                    "zoneout_h": 0.2, "zoneout_c": 0.1, "weight_drop": 0.3}
    ours = kerasrnn.RNN(kerasrnn.LSTMCell(H, **cell_options), return_sequences=True)
    theirs = keras.layers.RNN(kerasrnn.LSTMCell(H, **cell_options), return_sequences=True)
    x = rng.normal(size=(B, T, F)).astype("float32")
    ours(x), theirs(x)
    randomize(ours, rng)
    theirs.set_weights(ours.get_weights())
    assert_close(theirs(x), ours(x), 1e-5, "keras.layers.RNN")
    assert np.all(np.isfinite(np.asarray(theirs(x, training=True))))


@pytest.mark.parametrize("cls,options,name", [
    (kerasrnn.LSTMCell, {"projection_units": 0}, "projection_units"),
    (kerasrnn.LSTMCell, {"projection_units": 2.5}, "projection_units"),
    (kerasrnn.LSTMCell, {"zoneout_c": 1.0}, "zoneout_c"),
    (kerasrnn.GRUCell, {"zoneout_h": -0.1}, "zoneout_h"),
    (kerasrnn.SimpleRNNCell, {"weight_drop": 1.5}, "weight_drop"),
    (kerasrnn.MinGRUCell, {"weight_drop": 0.5}, "weight_drop"),
    (kerasrnn.IndRNNCell, {"zoneout_h": 0.1}, "zoneout_h"),
])
def test_bad_arguments_name_the_argument(cls, options, name):
    with pytest.raises(ValueError, match=f"Received: {name}="):
        cls(H, **options)


def test_config_round_trip_keeps_the_variants():
    cell = kerasrnn.LSTMCell(H, peephole=True, projection_units=P, layer_norm=True,
                             zoneout_h=0.1, zoneout_c=0.2, weight_drop=0.3)
    again = kerasrnn.LSTMCell.from_config(cell.get_config())
    for key in ("peephole", "projection_units", "layer_norm", "zoneout_h", "zoneout_c",
                "weight_drop"):
        assert getattr(again, key) == getattr(cell, key)
    assert again.state_size == [P, H] and again.output_size == P


@pytest.mark.slow
def test_diagnostics_follow_the_variants(rng):
    """inspect_gates' "hidden" is the layer's output (inference: zoneout's expectation), and
    gradient_flow follows a projected h (its own width) to finite, non-zero norms."""
    from kerasrnn import diagnostics

    x = rng.normal(size=(2, T, F)).astype("float32")
    for name in sorted(VARIANTS):
        layer = make(name)
        layer(x)
        randomize(layer, rng)
        acts = diagnostics.inspect_gates(layer, x)
        assert_close(acts["hidden"], layer(x)[0], 1e-5, f"{name} hidden")
        flow = diagnostics.gradient_flow(kerasrnn.RNN(layer.cell, return_sequences=True), x)
        norms = np.asarray(flow["grad_norms"])
        assert np.all(np.isfinite(norms)) and norms.max() > 0, name


@pytest.mark.parametrize("cell", ["lstm:layer_norm=true,zoneout_c=0.1,weight_drop=0.3",
                                  "gru:layer_norm=true,zoneout_h=0.05"])
@pytest.mark.slow
@pytest.mark.parametrize("task", ["language_model", "tagger", "sentiment", "translator"])
def test_every_task_trains_saves_and_reloads_with_a_variant(task, cell, tmp_path):
    """A variant named in the task's `cell` (the scripts' --cell NAME:option=value) reaches
    every recurrent cell of the model, trains, and comes back from the .keras file."""
    model = assert_task_round_trip(task, cell, tmp_path)
    cells = [layer for layer in model._flatten_layers()
             if isinstance(layer, (kerasrnn.LSTMCell, kerasrnn.GRUCell))]
    assert cells and all(c.layer_norm for c in cells), cells


@pytest.mark.parametrize("cell,message", [
    ("lstm:layer_norm=yes", "takes true or false"),
    ("lstm:projection_units=4", "takes the options"),
    ("gru:peephole=true", "takes the options"),
    ("mingru:layer_norm=true", "takes the options"),
    ("lstm:weight_drop=1.5", "Received: weight_drop=1.5"),
    ("lstm:zoneout_h=much", "takes a number"),
    ("lstmx", "must be one of"),
])
def test_task_cell_names_are_checked(cell, message):
    from tasks.cells import check_cell, parse

    assert parse("lstm:layer_norm=true, weight_drop=0.5") == (
        "lstm", {"layer_norm": True, "weight_drop": 0.5})
    with pytest.raises(ValueError, match=message):
        check_cell(cell)
