"""`SimpleRNN`, `LSTM`, `GRU` (and the parallel `MinGRU`, `MinLSTM`, `QRNN`, `IndRNN`): one call
for a (deep, bidirectional, residual) recurrent stack.

In the spirit of `torch.nn.LSTM(num_layers, bidirectional, dropout)`, with Keras' argument
names and `return_sequences` / `return_state` semantics. With `num_layers=1` the layer has
exactly the weights of `keras.layers.LSTM` (or `Bidirectional(LSTM)` with `bidirectional=True`).
"""

import keras
from keras import ops

from kerasrnn.bidirectional import Bidirectional
from kerasrnn.dropout import Dropout
from kerasrnn.gru_cell import GRUCell
from kerasrnn.ind_rnn_cell import IndRNNCell
from kerasrnn.lstm_cell import LSTMCell
from kerasrnn.min_gru_cell import MinGRUCell
from kerasrnn.min_lstm_cell import MinLSTMCell
from kerasrnn.qrnn_cell import QRNNCell
from kerasrnn.rnn import RNN
from kerasrnn.simple_rnn_cell import SimpleRNNCell

_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast")


class _RecurrentStack(keras.layers.Layer):
    cell_class = None

    def __init__(
        self,
        units,
        num_layers=1,
        bidirectional=False,
        merge_mode="concat",
        residual=False,
        inter_layer_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        layer_kwargs = {k: kwargs.pop(k) for k in _LAYER_KWARGS if k in kwargs}
        super().__init__(**layer_kwargs)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(
                f"`num_layers` must be a positive integer. Received: num_layers={num_layers!r}"
            )
        if not 0.0 <= inter_layer_dropout < 1.0:
            raise ValueError(
                "`inter_layer_dropout` must be a float in [0, 1). "
                f"Received: inter_layer_dropout={inter_layer_dropout!r}"
            )
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.residual = residual
        self.inter_layer_dropout = inter_layer_dropout
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.cell_kwargs = kwargs
        self.supports_masking = True

        seed = kwargs.pop("seed", None)
        self.rnn_layers = []
        for i in range(num_layers):
            cell_seed = None if seed is None else seed + i  # distinct dropout masks per layer
            cell = self.cell_class(units, seed=cell_seed, **kwargs)
            last = i == num_layers - 1
            rnn = RNN(
                cell,
                return_sequences=return_sequences or not last,
                return_state=return_state,
                go_backwards=go_backwards and i == 0,
                stateful=stateful,
                unroll=unroll,
                zero_output_for_mask=zero_output_for_mask,
                name=f"layer_{i}",
            )
            if bidirectional:
                rnn = Bidirectional(rnn, merge_mode=merge_mode, name=f"bidirectional_{i}")
            self.rnn_layers.append(rnn)
        self.dropout_layer = Dropout(inter_layer_dropout, seed=seed)

    @property
    def state_sizes(self):
        return [s for layer in self.rnn_layers for s in layer.state_sizes]

    def build(self, sequences_shape, initial_state_shape=None):
        shape = tuple(sequences_shape)
        for layer in self.rnn_layers:
            layer.build(shape)
            out = layer.compute_output_shape(shape)
            out = out[0] if self.return_state else out
            shape = shape[:2] + (out[-1],)
        self.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = tuple(sequences_shape)
        for layer in self.rnn_layers[:-1]:
            out = layer.compute_output_shape(shape)
            out = out[0] if self.return_state else out
            shape = shape[:2] + (out[-1],)
        return self.rnn_layers[-1].compute_output_shape(shape)

    def compute_mask(self, sequences, mask=None):
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        out_mask = None
        if mask is not None and self.return_sequences:
            out_mask = ops.flip(mask, axis=1) if self.go_backwards else mask
        if self.return_state:
            return [out_mask] + [None] * len(self.state_sizes)
        return out_mask

    def reset_state(self):
        for layer in self.rnn_layers:
            layer.reset_state()

    def call(self, sequences, initial_state=None, mask=None, training=False):
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        if initial_state is not None:
            initial_state = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            if len(initial_state) != len(self.state_sizes):
                raise ValueError(
                    f"`initial_state` must be a list of {len(self.state_sizes)} tensors "
                    f"(every layer's states in order, sizes {self.state_sizes}). "
                    f"Received: {len(initial_state)} tensors"
                )
        x, states, k = sequences, [], 0
        for i, layer in enumerate(self.rnn_layers):
            n = len(layer.state_sizes)
            init = None if initial_state is None else initial_state[k : k + n]
            k += n
            if i > 0 and self.inter_layer_dropout > 0:
                x = self.dropout_layer(x, training=training)
            y = layer(x, initial_state=init, mask=mask, training=training)
            if self.return_state:
                states += list(y[1:])
                y = y[0]
            if i > 0 and self.residual and len(y.shape) == 3 and y.shape[-1] == x.shape[-1]:
                y = y + x
            if i == 0 and self.go_backwards and mask is not None:
                mask = ops.flip(mask, axis=1)  # later layers read the reversed sequence
            x = y
        return [x] + states if self.return_state else x

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "merge_mode": self.merge_mode,
            "residual": self.residual,
            "inter_layer_dropout": self.inter_layer_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            **_cell_config(self.rnn_layers[0]),
        }


def _cell_config(layer):
    rnn = getattr(layer, "forward_layer", layer)
    config = rnn.cell.get_config()
    for key in ("name", "trainable", "dtype", "units"):
        config.pop(key, None)
    return config


_STACK_DOC = """{title}

    Args:
        units: size of every layer's hidden state.
        num_layers: layers stacked; the output sequence of layer l is the input of l+1.
        bidirectional: wrap every layer in `kerasrnn.Bidirectional`.
        merge_mode: how the two directions are merged (see `Bidirectional`).
        residual: add each layer's input to its output sequence, for layers 2..n of equal
            width (deep stacks train better with skip connections). A final output that is
            not a sequence (`return_sequences=False`) is not residual.
        inter_layer_dropout: dropout rate on the sequences between layers (torch's
            `dropout`). Keras' `dropout` / `recurrent_dropout` keep their Keras meaning: a
            per-sequence mask on each cell's input / recurrent state, in every layer.
        return_sequences, return_state, go_backwards, stateful, unroll,
        zero_output_for_mask: as `kerasrnn.RNN` (go_backwards reverses the first layer's
            reading; later layers follow its output order).
        **kwargs: options of `kerasrnn.{cell}` ({extra}activation, use_bias, initializers,
            regularizers, constraints, dropout, recurrent_dropout, seed), and `name`/`dtype`.

    Call arguments:
        sequences: `(batch, time, features)`; initial_state: flat list of every layer's states
        (per layer: forward then backward); mask: `(batch, time)`; training.

    Returns the last layer's output, then (with `return_state`) every layer's final states.

    Example:
        >>> lstm = kerasrnn.{name}(16, num_layers=2, bidirectional=True, residual=True,
        ...                      return_sequences=True)
        >>> lstm(np.zeros((2, 5, 8))).shape
        (2, 5, 32)
"""

_register = keras.saving.register_keras_serializable(package="kerasrnn")


@_register
class SimpleRNN(_RecurrentStack):
    __doc__ = _STACK_DOC.format(
        title="A stack of Elman RNN layers (`SimpleRNNCell`).", cell="SimpleRNNCell",
        extra="", name="SimpleRNN",
    )
    cell_class = SimpleRNNCell


@_register
class LSTM(_RecurrentStack):
    __doc__ = _STACK_DOC.format(
        title="A stack of LSTM layers (`LSTMCell`).", cell="LSTMCell",
        extra="recurrent_activation, unit_forget_bias, ", name="LSTM",
    )
    cell_class = LSTMCell


@_register
class GRU(_RecurrentStack):
    __doc__ = _STACK_DOC.format(
        title="A stack of GRU layers (`GRUCell`, either form).", cell="GRUCell",
        extra="recurrent_activation, reset_after, ", name="GRU",
    )
    cell_class = GRUCell


@_register
class MinGRU(_RecurrentStack):
    __doc__ = _STACK_DOC.format(
        title="A stack of minGRU layers (`MinGRUCell`: parallel over time).", cell="MinGRUCell",
        extra="", name="MinGRU",
    )
    cell_class = MinGRUCell


@_register
class MinLSTM(_RecurrentStack):
    __doc__ = _STACK_DOC.format(
        title="A stack of minLSTM layers (`MinLSTMCell`: parallel over time).",
        cell="MinLSTMCell", extra="unit_forget_bias, ", name="MinLSTM",
    )
    cell_class = MinLSTMCell


@_register
class QRNN(_RecurrentStack):
    __doc__ = _STACK_DOC.format(
        title="A stack of quasi-recurrent layers (`QRNNCell`: parallel over time).",
        cell="QRNNCell", extra="window, ", name="QRNN",
    )
    cell_class = QRNNCell


@_register
class IndRNN(_RecurrentStack):
    __doc__ = _STACK_DOC.format(
        title="A stack of IndRNN layers (`IndRNNCell`), the paper's deep, residual setting.",
        cell="IndRNNCell", extra="recurrent_max_abs, ", name="IndRNN",
    )
    cell_class = IndRNNCell
