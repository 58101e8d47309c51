"""`StackedRNNCells`: several cells run as one step."""

import keras
from keras import ops

from kerasrnn._cell_base import _flat_sizes, _takes_training, register


@register
class StackedRNNCells(keras.layers.Layer):
    """Several cells stacked into one: the output of cell k is the input of cell k+1.

    Follows the Keras cell protocol: `state_size` is the list of every cell's state sizes,
    and `call(inputs, states)` takes and returns states as one list per cell. Inside
    `kerasrnn.RNN`, a stack of built-in cells runs layer by layer on the fast path (identical
    results: a masked step is skipped by every cell alike).

    Args:
        cells: list of cell instances.

    Call arguments:
        inputs: `(batch, features)`; states: a list with each cell's state list.

    Example:
        >>> cell = kerasrnn.StackedRNNCells([kerasrnn.LSTMCell(8), kerasrnn.GRUCell(8)])
        >>> kerasrnn.RNN(cell)(np.zeros((2, 5, 3))).shape
        (2, 8)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not cells:
            raise ValueError(
                f"`cells` must be a non-empty list of cells. Received: cells={cells!r}"
            )
        for cell in cells:
            if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
                raise ValueError(
                    "Every cell needs a `call` method and a `state_size` attribute. "
                    f"Received: cell={cell!r}"
                )
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, "output_size", _flat_sizes(last)[0])

    def build(self, input_shape):
        for cell in self.cells:
            if not cell.built:
                cell.build(input_shape)
            size = getattr(cell, "output_size", _flat_sizes(cell)[0])
            input_shape = tuple(input_shape[:-1]) + (size,)
        self.built = True

    def get_initial_state(self, batch_size=None):
        states = []
        for cell in self.cells:
            fn = getattr(cell, "get_initial_state", None)
            if fn is not None:
                states.append(list(fn(batch_size=batch_size)))
            else:
                states.append([ops.zeros((batch_size, s)) for s in _flat_sizes(cell)])
        return states

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            single = not isinstance(cell.state_size, (list, tuple))
            if not isinstance(cell_states, (list, tuple)):
                cell_states = [cell_states]
            kwargs = {"training": training} if _takes_training(cell) else {}
            inputs, cell_new = cell(inputs, cell_states[0] if single else cell_states, **kwargs)
            new_states.append(list(cell_new) if isinstance(cell_new, (list, tuple)) else [cell_new])
        return inputs, new_states

    def get_config(self):
        return {
            **super().get_config(),
            "cells": [keras.saving.serialize_keras_object(c) for c in self.cells],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cells = [keras.saving.deserialize_keras_object(c) for c in config.pop("cells")]
        return cls(cells, **config)
