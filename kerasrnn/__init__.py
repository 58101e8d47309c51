"""kerasrnn: recurrent layers for Keras 3, written from the equations in `keras.ops`."""

from kerasrnn.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from kerasrnn.rnn import RNN, Bidirectional

__version__ = "0.1.0"

__all__ = [
    "RNN",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "SimpleRNNCell",
    "StackedRNNCells",
]
