"""kerasrnn: recurrent layers for Keras 3, written from the equations in `keras.ops`."""

from kerasrnn import ops
from kerasrnn.bidirectional import Bidirectional
from kerasrnn.deep_rnn import GRU, LSTM, SimpleRNN
from kerasrnn.gru_cell import GRUCell
from kerasrnn.lstm_cell import LSTMCell
from kerasrnn.rnn import RNN
from kerasrnn.simple_rnn_cell import SimpleRNNCell
from kerasrnn.stacked_rnn_cells import StackedRNNCells

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
    "ops",
]
