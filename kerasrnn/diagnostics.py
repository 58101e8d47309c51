"""Seeing why vanilla RNNs forget, and what gates and clipping do about it.

    gradient_flow(layer, inputs)      ‖∂J_T/∂h_t‖ for every step t (how much the past can still
                                      change the loss at the end) and ‖∂h_t/∂h_{t-1}‖ per step
    inspect_gates(layer, inputs)      every step's gate activations, cell and hidden states
    track_gradient_norms(optimizer)   an optimizer that records the global gradient norm before
    GradientNormHistory()             and after clipping; the callback collects it per step

(The training experiment that goes with it, recall of the first of N tokens, is
`benchmarks/long_dependency.py`.)

Backpropagation through time multiplies the gradient by one Jacobian ∂h_t/∂h_{t-1} per step. For
h_t = act(W x_t + U h_{t-1} + b) that is diag(act'(·)) U, so when its norm stays below 1 the
gradient from step T shrinks geometrically with the distance T - t (vanishing), above 1 it can
grow (exploding). An LSTM's cell state c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t has the additive path
∂c_t/∂c_{t-1} = diag(f_t): with forget gates near 1 the gradient survives many steps.
"""


import keras
import numpy as np
from keras import ops

from kerasrnn import _autodiff
from kerasrnn.bidirectional import Bidirectional
from kerasrnn.deep_rnn import _RecurrentStack
from kerasrnn.rnn import RNN


# -- which recurrent layer --------------------------------------------------------------------
def _one_directional(layer):
    """A layer that runs one cell forward in time (kerasrnn's or Keras')."""
    if isinstance(layer, _RecurrentStack):
        if layer.num_layers == 1 and not layer.bidirectional:
            return _one_directional(layer.rnn_layers[0])
        raise ValueError(
            "gradient_flow follows one layer in one direction; pass one of "
            f"`layer.rnn_layers` with its own inputs. Received: {layer.name} with "
            f"num_layers={layer.num_layers}, bidirectional={layer.bidirectional}"
        )
    if hasattr(layer, "cell") and not getattr(layer, "go_backwards", False):
        return layer
    raise ValueError(
        "Expected a recurrent layer (kerasrnn or Keras RNN/LSTM/GRU/SimpleRNN running forward). "
        f"Received: {layer!r}"
    )


def _resolve(layer_or_model, inputs):
    """(the recurrent layer, the float sequences it reads) for a layer or a Functional model
    (its first recurrent layer, fed by the model's own layers before it)."""
    if not isinstance(layer_or_model, keras.Model):
        return _one_directional(layer_or_model), ops.convert_to_tensor(inputs, "float32")
    for layer in layer_or_model.layers:
        if hasattr(layer, "cell") or isinstance(layer, _RecurrentStack):
            upstream = keras.Model(layer_or_model.input, layer.input)
            return _one_directional(layer), ops.convert_to_tensor(upstream(inputs), "float32")
    raise ValueError(f"{layer_or_model.name} has no recurrent layer.")


def _zero_states(cell, batch):
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    return [ops.zeros((batch, s)) for s in sizes]


# -- gradient flow ----------------------------------------------------------------------------
def gradient_flow(layer_or_model, inputs, loss_fn=None, jacobians=True):
    """How strongly the loss at the last step depends on each earlier hidden state.

    The layer's cell is run step by step from zero states; J_T = `loss_fn(h_T)` (default: the sum
    of h_T's units) is differentiated with the backend's autodiff with respect to every h_t
    (t = 1..T, each h_t as it enters step t+1), in one backward pass.

    Args:
        layer_or_model: a recurrent layer running forward (kerasrnn's or Keras'), or a Functional
            model whose first recurrent layer is followed (the layers before it feed it).
        inputs: what the layer (or model) takes, `(batch, T, ...)`.
        loss_fn: `h_T (batch, units) -> (batch,)` per-sample loss at the last step.
        jacobians: also compute the spectral norm of ∂h_t/∂h_{t-1} at every step (other
            states, e.g. an LSTM's c_{t-1}, held fixed).

    Returns:
        dict of numpy arrays: "grad_norms" (batch, T): ‖∂J_T/∂h_t‖ per sample; "mean_grad_norms"
        (T,); "distance" (T,): T - t; and with `jacobians` "jacobian_norms" (batch, T):
        ‖∂h_t/∂h_{t-1}‖₂ (column 0, the step from the initial state, included).
    """
    layer, x = _resolve(layer_or_model, inputs)
    cell = layer.cell
    loss_fn = loss_fn or (lambda h: ops.sum(h, axis=-1))
    batch, steps = x.shape[0], x.shape[1]

    def loss_at_end(deltas):  # deltas (T, batch, units): zeros added to every h_t
        states = _zero_states(cell, batch)
        for t in range(steps):
            _, states = cell(x[:, t], states, training=False)
            states = [states[0] + deltas[t]] + list(states[1:])
        return ops.sum(loss_fn(states[0]))

    units = _zero_states(cell, 1)[0].shape[-1]
    _, (grads,) = _autodiff.value_and_grad(loss_at_end, [np.zeros((steps, batch, units))])
    norms = np.linalg.norm(np.asarray(grads), axis=-1).T  # (batch, T)
    result = {"grad_norms": norms, "mean_grad_norms": norms.mean(axis=0),
              "distance": np.arange(steps)[::-1].copy()}
    if jacobians:
        result["jacobian_norms"] = _step_jacobian_norms(cell, x)
    return result


def _step_jacobian_norms(cell, x):
    batch, steps = x.shape[0], x.shape[1]
    states, norms = _zero_states(cell, batch), []
    for t in range(steps):
        rest = list(states[1:])

        def step(h, t=t, rest=rest):
            return cell(x[:, t], [h] + rest, training=False)[1][0]

        jac = np.asarray(_autodiff.batch_jacobian(step, states[0]))
        norms.append(np.linalg.norm(jac, ord=2, axis=(1, 2)))
        _, states = cell(x[:, t], states, training=False)
    return np.stack(norms, axis=1)


# -- gate inspection --------------------------------------------------------------------------
def inspect_gates(layer, inputs, mask=None):
    """Every step's activations of a kerasrnn recurrent layer (any kerasrnn cell), for heat maps.

    Args:
        layer: `kerasrnn.RNN` over a kerasrnn cell, `kerasrnn.Bidirectional`, or a
            `kerasrnn.LSTM` / `GRU` / `SimpleRNN` layer (any `num_layers`, `bidirectional`,
            `residual`).
        inputs: `(batch, T, features)` floats.
        mask: optional `(batch, T)` bool; at a padded step the states carry over unchanged and
            every activation reported for that step is NaN (the layer computes nothing there).

    Returns:
        For one direction a dict name -> `(batch, T, units)` numpy array: LSTM "input",
        "forget", "output", "candidate", "cell", "hidden"; GRU "update", "reset", "candidate",
        "hidden"; SimpleRNN and IndRNN "hidden"; minGRU "update", "candidate", "hidden";
        minLSTM "forget", "input", "candidate", "hidden"; QRNN "candidate", "forget", "output",
        "cell", "hidden". A bidirectional layer gives `{"forward": ..., "backward":
        ...}` (the backward direction's steps in the original time order); a stack a list with
        one entry per layer. Steps come in the order of the layer's outputs (reversed with
        `go_backwards`); "hidden" equals the layer's own output at every real step.
    """
    x = np.asarray(inputs, "float32")
    m = np.ones(x.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    if isinstance(layer, _RecurrentStack):
        per_layer = []
        for i, sub in enumerate(layer.rnn_layers):
            acts = _inspect_one(sub, x, m)
            y = _merged_hidden(sub, acts)
            if i > 0 and layer.residual and y.shape[-1] == x.shape[-1]:
                y = y + x
            per_layer.append(acts)
            x = np.nan_to_num(y)  # padded steps: never read by the next layer
            if i == 0 and layer.go_backwards:
                m = m[:, ::-1]  # later layers read the reversed sequence
        return per_layer
    return _inspect_one(layer, x, m)


def _inspect_one(layer, x, m):
    if isinstance(layer, Bidirectional):
        return {"forward": _run_cell(layer.forward_layer.cell, x, m),
                "backward": {k: v[:, ::-1] for k, v in
                             _run_cell(layer.backward_layer.cell, x[:, ::-1], m[:, ::-1]).items()}}
    if not isinstance(layer, RNN):
        raise ValueError(f"Expected a kerasrnn recurrent layer. Received: {layer!r}")
    if layer.go_backwards:  # reported in the order it runs, as its outputs come
        return _run_cell(layer.cell, x[:, ::-1], m[:, ::-1])
    return _run_cell(layer.cell, x, m)


def _run_cell(cell, x, m):
    if not hasattr(cell, "step_activations"):
        raise ValueError(
            f"inspect_gates needs a kerasrnn cell (one with `step_activations`). Received: {cell!r}"
        )
    states = _zero_states(cell, x.shape[0])
    steps = []
    for t in range(x.shape[1]):
        acts = {k: np.asarray(v) for k, v in cell.step_activations(x[:, t], states).items()
                if k != "window"}  # (a QRNN's earlier inputs: a state, not an activation)
        keep = m[:, t, None]
        _, new = cell(x[:, t], states, training=False)
        new = new if isinstance(new, (list, tuple)) else [new]
        states = [np.where(keep, np.asarray(n), np.asarray(s)) for n, s in zip(new, states)]
        steps.append({k: np.where(keep, v, np.nan) for k, v in acts.items()})
    return {k: np.stack([s[k] for s in steps], axis=1) for k in steps[0]}


def _merged_hidden(layer, acts):
    if not isinstance(layer, Bidirectional):
        return acts["hidden"]
    f, b = acts["forward"]["hidden"], acts["backward"]["hidden"]
    merge = {"concat": lambda: np.concatenate([f, b], -1), "sum": lambda: f + b,
             "mul": lambda: f * b, "ave": lambda: (f + b) / 2}
    if layer.merge_mode not in merge:
        raise ValueError(f"inspect_gates cannot follow merge_mode={layer.merge_mode!r}")
    return merge[layer.merge_mode]()


# -- gradient norms during fit ----------------------------------------------------------------
def _global_norm(grads):
    return ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))


class _TracksGradientNorms:
    """Mixed into an optimizer class: records the gradient norms of the last `apply`."""

    def build(self, variables):
        super().build(variables)
        self.gradient_norm = self.add_variable((), initializer="zeros", name="gradient_norm")
        self.clipped_gradient_norm = self.add_variable(
            (), initializer="zeros", name="clipped_gradient_norm")
        self.max_clipped_variable_norm = self.add_variable(
            (), initializer="zeros", name="max_clipped_variable_norm")

    def apply(self, grads, trainable_variables=None):
        real = [g for g in grads if g is not None]
        clipped = real  # the same rule as Keras' optimizers apply next
        if self.clipnorm:
            clipped = [g * ops.minimum(1.0, self.clipnorm / ops.maximum(
                ops.sqrt(ops.sum(ops.square(g))), 1e-12)) for g in real]
        elif self.global_clipnorm:
            norm = _global_norm(real)
            clipped = [g * (self.global_clipnorm / ops.maximum(norm, self.global_clipnorm))
                       for g in real]
        elif self.clipvalue:
            clipped = [ops.clip(g, -self.clipvalue, self.clipvalue) for g in real]
        if not self.built:
            self.build(trainable_variables)
        self.gradient_norm.assign(_global_norm(real))
        self.clipped_gradient_norm.assign(_global_norm(clipped))
        self.max_clipped_variable_norm.assign(
            ops.max(ops.stack([ops.sqrt(ops.sum(ops.square(g))) for g in clipped])))
        return super().apply(grads, trainable_variables)


def track_gradient_norms(optimizer):
    """A copy of `optimizer` (same class and config) that records, at every step, the global
    gradient norm before clipping, after clipping (`clipnorm` per weight, `global_clipnorm`,
    or `clipvalue`, as Keras applies them) and the largest per-weight norm after clipping.
    Read them with `GradientNormHistory`."""
    optimizer = keras.optimizers.get(optimizer)
    cls = type(f"GradientNormTracking{type(optimizer).__name__}",
               (_TracksGradientNorms, type(optimizer)), {})
    return cls.from_config(optimizer.get_config())


class GradientNormHistory(keras.callbacks.Callback):
    """Collects the norms a `track_gradient_norms` optimizer records, one entry per step.

    Attributes:
        history: dict "norm", "clipped_norm", "max_clipped_variable_norm" -> lists of floats.

    Example:
        >>> model.compile(optimizer=track_gradient_norms(keras.optimizers.SGD(0.1, clipnorm=1)),
        ...               loss="mse")  # doctest: +SKIP
        >>> norms = GradientNormHistory(); model.fit(x, y, callbacks=[norms])  # doctest: +SKIP
    """

    def on_train_begin(self, logs=None):
        if not isinstance(self.model.optimizer, _TracksGradientNorms):
            raise ValueError("compile the model with `track_gradient_norms(optimizer)` first")
        self.history = {"norm": [], "clipped_norm": [], "max_clipped_variable_norm": []}

    def on_train_batch_end(self, batch, logs=None):
        opt = self.model.optimizer  # on JAX, `self.model` syncs the step's state first
        self.history["norm"].append(float(opt.gradient_norm.numpy()))
        self.history["clipped_norm"].append(float(opt.clipped_gradient_norm.numpy()))
        self.history["max_clipped_variable_norm"].append(
            float(opt.max_clipped_variable_norm.numpy()))
