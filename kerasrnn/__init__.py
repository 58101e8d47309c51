"""kerasrnn: recurrent layers for Keras 3, written from the equations in `keras.ops`."""

from kerasrnn import ops
from kerasrnn.bidirectional import Bidirectional
from kerasrnn.deep_rnn import GRU, LSTM, QRNN, IndRNN, MinGRU, MinLSTM, SimpleRNN
from kerasrnn.dropout import Dropout
from kerasrnn.gru_cell import GRUCell
from kerasrnn.ind_rnn_cell import IndRNNCell
from kerasrnn.lstm_cell import LSTMCell
from kerasrnn.min_gru_cell import MinGRUCell
from kerasrnn.min_lstm_cell import MinLSTMCell
from kerasrnn.qrnn_cell import QRNNCell
from kerasrnn.rnn import RNN
from kerasrnn.simple_rnn_cell import SimpleRNNCell
from kerasrnn.stacked_rnn_cells import StackedRNNCells

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SimpleRNN",
    "MinGRU",
    "MinLSTM",
    "QRNN",
    "IndRNN",
    "Bidirectional",
    "Dropout",
    "GRUCell",
    "LSTMCell",
    "SimpleRNNCell",
    "MinGRUCell",
    "MinLSTMCell",
    "QRNNCell",
    "IndRNNCell",
    "StackedRNNCells",
    "ops",
]
