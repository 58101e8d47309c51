"""`RNN`: runs any cell over time, with masking, on a fused kernel where one applies."""

import keras
from keras import ops

from kerasrnn import _scan
from kerasrnn._cell_base import _BaseCell, _flat_sizes, _takes_training, register
from kerasrnn.stacked_rnn_cells import StackedRNNCells


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _output_size(cell):
    size = getattr(cell, "output_size", None)
    return size if size is not None else _flat_sizes(cell)[0]


def _cells_of(cell):
    return cell.cells if isinstance(cell, StackedRNNCells) else [cell]


@register
class RNN(keras.layers.Layer):
    """Runs any cell over the time axis of `(batch, time, features)` inputs.

    A built-in cell (or a `StackedRNNCells` of them) with a supported activation (tanh,
    sigmoid, relu, linear) runs on a fused fast path with a hand-written gradient; any other
    cell runs on a generic differentiable loop. Both give the same numbers.

    Masking (from `Embedding(mask_zero=True)`, a `Masking` layer or `mask=`): at a masked step
    the cell's states are carried over unchanged, and the output repeats the previous step's
    output (zeros before the first valid step), or is zeros when `zero_output_for_mask=True`.
    Any padding pattern works (right, left, holes, all padding: the states stay the initial
    ones and outputs are finite). With `return_sequences=True` the mask is passed on (reversed
    with `go_backwards`, matching the reversed outputs).

    Args:
        cell: a cell, or a list of cells (stacked with `StackedRNNCells`).
        return_sequences: return the output of every step, not only the last.
        return_state: also return the final states (a flat list).
        go_backwards: read the sequence from the end; outputs come in that reversed order.
        stateful: carry the final states of one batch into the next (fixed batch size);
            `reset_state()` zeroes them.
        unroll: unroll the generic loop in Python (short, fixed-length sequences only).
        zero_output_for_mask: zeros instead of repeated outputs at masked steps.

    Call arguments:
        sequences: `(batch, time, features)`.
        initial_state: list of `(batch, size)` tensors, one per state.
        mask: `(batch, time)` booleans, True at real steps.
        training: enables the cells' dropout.

    Example:
        >>> rnn = kerasrnn.RNN(kerasrnn.LSTMCell(16), return_sequences=True, return_state=True)
        >>> y, h, c = rnn(np.zeros((2, 5, 8)))
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(list(cell))
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise ValueError(
                "`cell` must have a `call` method and a `state_size` attribute. "
                f"Received: cell={cell!r}"
            )
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True
        self.states = None

    # -- shapes -------------------------------------------------------------------------------
    @property
    def state_sizes(self):
        """Sizes of the flat list of states (stacked cells: every cell's states in order)."""
        return [s for c in _cells_of(self.cell) for s in _flat_sizes(c)]

    @property
    def output_size(self):
        return _output_size(self.cell)

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(
                "RNN expects inputs of shape (batch, time, features). "
                f"Received: sequences.shape={tuple(sequences_shape)}"
            )
        if not self.cell.built:
            self.cell.build((sequences_shape[0], sequences_shape[-1]))
        if self.stateful:
            batch = sequences_shape[0]
            if batch is None:
                raise ValueError(
                    "A stateful RNN needs a fixed batch size: give the Input a `batch_size`. "
                    f"Received: sequences.shape={tuple(sequences_shape)}"
                )
            self.states = [
                self.add_weight(shape=(batch, s), initializer="zeros", trainable=False,
                                name=f"state_{i}")
                for i, s in enumerate(self.state_sizes)
            ]
        self.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, time = sequences_shape[0], sequences_shape[1]
        out = (batch, time) if self.return_sequences else (batch,)
        out = out + (self.output_size,)
        if self.return_state:
            return [out] + [(batch, s) for s in self.state_sizes]
        return out

    def compute_mask(self, sequences, mask=None):
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        if mask is None or not self.return_sequences:
            return [None] * (1 + len(self.state_sizes)) if self.return_state else None
        out_mask = ops.flip(mask, axis=1) if self.go_backwards else mask
        if self.return_state:
            return [out_mask] + [None] * len(self.state_sizes)
        return out_mask

    def reset_state(self):
        for v in self.states or []:
            v.assign(ops.zeros(v.shape, v.dtype))

    reset_states = reset_state

    # -- running ------------------------------------------------------------------------------
    def _initial_states(self, batch, dtype, initial_state):
        sizes = self.state_sizes
        if initial_state is None:
            if self.stateful:
                return [ops.convert_to_tensor(v) for v in self.states]
            return [ops.zeros((batch, s), dtype=dtype) for s in sizes]
        initial_state = _as_list(initial_state)
        if len(initial_state) != len(sizes):
            raise ValueError(
                f"`initial_state` must be a list of {len(sizes)} tensors of sizes {sizes}. "
                f"Received: {len(initial_state)} tensors"
            )
        states = []
        for i, (s, size) in enumerate(zip(initial_state, sizes)):
            s = ops.cast(s, dtype)
            if len(s.shape) != 2 or (s.shape[-1] is not None and s.shape[-1] != size):
                raise ValueError(
                    f"`initial_state[{i}]` must have shape (batch, {size}). "
                    f"Received: initial_state[{i}].shape={tuple(s.shape)}"
                )
            states.append(s)
        return states

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if len(sequences.shape) != 3:
            raise ValueError(
                "RNN expects inputs of shape (batch, time, features). "
                f"Received: sequences.shape={tuple(sequences.shape)}"
            )
        dtype = keras.backend.standardize_dtype(sequences.dtype)
        if "float" not in dtype:
            raise ValueError(
                "A recurrent layer takes float sequences (batch, time, features); embed token "
                "ids first (e.g. with keras.layers.Embedding) or cast them. "
                f"Received: sequences.dtype={dtype}"
            )
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        states = self._initial_states(ops.shape(sequences)[0], sequences.dtype, initial_state)
        x = ops.transpose(sequences, (1, 0, 2))  # (T, B, F): the loops run over axis 0
        m = None
        if mask is not None:
            m = ops.transpose(ops.cast(mask, x.dtype), (1, 0))[..., None]  # (T, B, 1)
        if self.go_backwards:
            x = ops.flip(x, axis=0)
            m = None if m is None else ops.flip(m, axis=0)

        # Without return_sequences the fused kernels return only the last output (B, H).
        fused = self._run_fused(x, states, m, training)
        if fused:
            outputs, states = fused
        else:
            outputs, states = self._run_generic(x, states, m, training)
            outputs = outputs if self.return_sequences else outputs[-1]
        if m is not None and not self.zero_output_for_mask:
            # Before a row's first valid step there is no previous output to repeat: zeros.
            seen = ops.cumsum(m, axis=0) > 0.5
            seen = seen if self.return_sequences else seen[-1]
            outputs = ops.where(seen, outputs, ops.zeros_like(outputs))

        if self.stateful:
            for v, s in zip(self.states, states):
                v.assign(ops.cast(s, v.dtype))
        output = ops.transpose(outputs, (1, 0, 2)) if self.return_sequences else outputs
        if self.return_state:
            return [output] + list(states)
        return output

    def _run_fused(self, x, states, m, training):
        cells = _cells_of(self.cell)
        if self.unroll or not all(isinstance(c, _BaseCell) for c in cells):
            return None
        if any(c.fused_spec(m, None, False, 2) is None for c in cells):
            return None  # an activation without a fused kernel: the generic loop runs all
        new_states, i = [], 0
        for k, cell in enumerate(cells):
            n = len(_flat_sizes(cell))
            input_mask, rec_mask = cell.dropout_masks(x[0], training)
            last = k == len(cells) - 1
            spec = cell.fused_spec(
                m, rec_mask, self.zero_output_for_mask, 2, bool(training),
                sequences=self.return_sequences or not last,
            )
            x_in = x if input_mask is None else x * input_mask[None]
            cell._weight_mask = cell.weight_drop_mask(training)
            cell._zoneout_masks = cell.zoneout_masks(
                ops.shape(x)[0], ops.shape(x)[1], training, x.dtype)
            try:
                x, cell_states = cell.fused_sequence(x_in, states[i : i + n], spec)
            finally:
                cell._weight_mask = cell._zoneout_masks = None
            new_states += cell_states
            i += n
        return x, new_states

    def _run_generic(self, x, states, m, training):
        """The cells' own `call` step by step. Random masks are drawn here, before the loop:
        dropout and weight-drop once per sequence, zoneout's for every step (fed to the loop
        with the inputs, one slice per step)."""
        cells = _cells_of(self.cell)
        step_input = x[0]  # (B, F): shape and dtype of the first cell's step input
        steps, batch = ops.shape(x)[0], ops.shape(x)[1]
        zoneout = []  # (cell, its per-state (T, B, size) masks)
        for c in cells:
            if isinstance(c, _BaseCell):
                c._step_masks = c.dropout_masks(step_input, training)
                c._weight_mask = c.weight_drop_mask(training)
                masks = c.zoneout_masks(steps, batch, training, x.dtype)
                if masks is not None:
                    zoneout.append((c, masks))
            # the next cell's step input is this cell's output
            step_input = ops.zeros((ops.shape(x)[1], _output_size(c)), dtype=x.dtype)
        try:
            return self._generic_loop(x, states, m, training, zoneout)
        finally:
            for c in cells:
                if isinstance(c, _BaseCell):
                    c._step_masks = c._weight_mask = c._zoneout_step = None

    def _nest(self, flat):
        """Flat state list -> the structure the cell's `call` expects."""
        if isinstance(self.cell, StackedRNNCells):
            nested, i = [], 0
            for c in self.cell.cells:
                n = len(_flat_sizes(c))
                nested.append(flat[i : i + n])
                i += n
            return nested
        if isinstance(self.cell.state_size, (list, tuple)):
            return list(flat)
        return flat[0]

    def _generic_loop(self, x, states, m, training, zoneout=()):
        kwargs = {"training": training} if _takes_training(self.cell) else {}
        n = len(states)
        zero_out = ops.zeros((ops.shape(x)[1], _output_size(self.cell)), dtype=x.dtype)
        noise = [t for _, masks in zoneout for t in masks if t is not None]

        def step(carry, xs):
            old, prev_out = list(carry[:n]), carry[n]
            k = 2 if m is not None else 1
            for cell, masks in zoneout:  # this step's slices of the zoneout masks
                cell._zoneout_step = []
                for t in masks:
                    cell._zoneout_step.append(None if t is None else xs[k])
                    k += t is not None
            out, new = self.cell(xs[0], self._nest(old), **kwargs)
            new = [t for s in _as_list(new) for t in _as_list(s)]
            if m is not None:
                mt = xs[1] > 0.5
                new = [ops.where(mt, a, b) for a, b in zip(new, old)]
                kept = ops.zeros_like(out) if self.zero_output_for_mask else prev_out
                out = ops.where(mt, out, kept)
            return tuple(new) + (out,), (out,)

        xs = ((x,) if m is None else (x, m)) + tuple(noise)
        carry = tuple(states) + (zero_out,)
        if self.unroll:
            outs = []
            for t in range(x.shape[0]):
                carry, (out,) = step(carry, tuple(a[t] for a in xs))
                outs.append(out)
            return ops.stack(outs), list(carry[:n])
        carry, (outs,) = _scan.scan(step, carry, xs, n_ys=1, unroll=1)
        return outs, list(carry[:n])

    def get_config(self):
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = keras.saving.deserialize_keras_object(config["cell"])
        return cls(**config)
