"""kerasrnn: recurrent layers for Keras 3, written from the equations in `keras.ops`."""

from kerasrnn.cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from kerasrnn.layers import GRU, LSTM, SimpleRNN
from kerasrnn.rnn import RNN, Bidirectional

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SimpleRNN",
    "Bidirectional",
    "GRUCell",
    "LSTMCell",
    "SimpleRNNCell",
    "StackedRNNCells",
]
