"""`Bidirectional`: a recurrent layer run forwards and a copy of it backwards, merged."""

import keras
from keras import ops

from kerasrnn._cell_base import register
from kerasrnn.rnn import _as_list

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register
class Bidirectional(keras.layers.Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the two.

    The backward layer has its own weights (a copy of `layer`'s config with `go_backwards`
    flipped, or `backward_layer`). Its outputs are re-reversed before merging, so step t of
    the result sees the whole sequence. With a right-padded mask each direction starts or
    ends at the row's own last real token; padded steps never reach the real ones, and with
    `return_sequences` both directions output zeros there (`zero_output_for_mask` is set).

    Args:
        layer: a `kerasrnn.RNN` (or a convenience layer with `num_layers=1`).
        merge_mode: "concat" (default), "sum", "mul", "ave", or None (a list of both).
        backward_layer: optional layer for the backward direction.

    Call arguments:
        inputs: `(batch, time, features)`; initial_state: forward states then backward
        states; mask: `(batch, time)`; training: enables dropout.

    Returns the merged output, then (with `return_state`) forward then backward states.

    Example:
        >>> bi = kerasrnn.Bidirectional(kerasrnn.RNN(kerasrnn.GRUCell(8), return_sequences=True))
        >>> bi(np.zeros((2, 5, 3))).shape
        (2, 5, 16)
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"`merge_mode` must be one of {_MERGE_MODES}. Received: merge_mode={merge_mode!r}"
            )
        if not isinstance(layer, keras.layers.Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(
                f"`layer` must be a recurrent layer with `go_backwards`. Received: layer={layer!r}"
            )
        self.forward_layer = layer
        if backward_layer is None:
            config = layer.get_config()
            config["go_backwards"] = not layer.go_backwards
            config["name"] = "backward_" + layer.name
            backward_layer = layer.__class__.from_config(config)
        elif backward_layer.return_sequences != layer.return_sequences:
            raise ValueError(
                "`backward_layer` must have the same `return_sequences` as `layer`. Received: "
                f"return_sequences={layer.return_sequences} and {backward_layer.return_sequences}"
            )
        self.backward_layer = backward_layer
        # Padded steps give zeros in both directions (as Keras does), so a merged output never
        # mixes a real state of one direction with a repeated one of the other.
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self.go_backwards = False

    @property
    def state_sizes(self):
        return self.forward_layer.state_sizes + self.backward_layer.state_sizes

    def reset_state(self):
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def build(self, sequences_shape, initial_state_shape=None):
        self.forward_layer.build(sequences_shape)
        self.backward_layer.build(sequences_shape)
        self.built = True

    def _merge(self, y_f, y_b):
        if self.merge_mode == "concat":
            return ops.concatenate([y_f, y_b], axis=-1)
        if self.merge_mode == "sum":
            return y_f + y_b
        if self.merge_mode == "mul":
            return y_f * y_b
        if self.merge_mode == "ave":
            return (y_f + y_b) / 2
        return [y_f, y_b]

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        f = self.forward_layer.compute_output_shape(sequences_shape)
        out = f[0] if self.return_state else f
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (2 * out[-1],)
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            batch = sequences_shape[0]
            return outs + [(batch, s) for s in self.state_sizes]
        return outs if self.merge_mode is None else out

    def compute_mask(self, sequences, mask=None):
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        out_mask = mask if self.return_sequences else None
        outs = [out_mask, out_mask] if self.merge_mode is None else [out_mask]
        if self.return_state:
            return outs + [None] * len(self.state_sizes)
        return outs if self.merge_mode is None else out_mask

    def call(self, sequences, initial_state=None, mask=None, training=False):
        f_init = b_init = None
        if initial_state is not None:
            initial_state = _as_list(initial_state)
            n_f = len(self.forward_layer.state_sizes)
            if len(initial_state) != len(self.state_sizes):
                raise ValueError(
                    f"`initial_state` must hold {len(self.state_sizes)} tensors: the forward "
                    f"layer's {n_f} states, then the backward layer's. "
                    f"Received: {len(initial_state)} tensors"
                )
            f_init, b_init = initial_state[:n_f], initial_state[n_f:]
        kwargs = {"mask": mask, "training": training}
        y_f = self.forward_layer(sequences, initial_state=f_init, **kwargs)
        y_b = self.backward_layer(sequences, initial_state=b_init, **kwargs)
        states = []
        if self.return_state:
            states = list(y_f[1:]) + list(y_b[1:])
            y_f, y_b = y_f[0], y_b[0]
        if self.return_sequences:
            y_b = ops.flip(y_b, axis=1)
        y = self._merge(y_f, y_b)
        if self.return_state:
            return (y if isinstance(y, list) else [y]) + states
        return y

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "layer": ser(self.forward_layer),
            "backward_layer": ser(self.backward_layer),
            "merge_mode": self.merge_mode,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        des = keras.saving.deserialize_keras_object
        config["layer"] = des(config["layer"])
        config["backward_layer"] = des(config["backward_layer"])
        return cls(**config)
