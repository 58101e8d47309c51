"""The recurrent cells every task can use, by name (`Config.cell`, `--set cell=NAME`).

    lstm, gru, simple_rnn            kerasrnn.LSTMCell, GRUCell, SimpleRNNCell (fused kernels)
    mingru, minlstm, qrnn, indrnn    the parallel-in-time cells (kerasrnn._parallel)

`cell_class(name)` and `stack_class(name)` (the deep layer: `kerasrnn.LSTM`, ...) check the
name; `cell_options(name, **options)` keeps the options the cell has (a cell without a
recurrent matmul has no recurrent initializer, so a task's `init_scale` reaches only its
input kernel and bias there).
"""

import kerasrnn

CELLS = {  # name: (cell, deep layer)
    "lstm": (kerasrnn.LSTMCell, kerasrnn.LSTM),
    "gru": (kerasrnn.GRUCell, kerasrnn.GRU),
    "simple_rnn": (kerasrnn.SimpleRNNCell, kerasrnn.SimpleRNN),
    "mingru": (kerasrnn.MinGRUCell, kerasrnn.MinGRU),
    "minlstm": (kerasrnn.MinLSTMCell, kerasrnn.MinLSTM),
    "qrnn": (kerasrnn.QRNNCell, kerasrnn.QRNN),
    "indrnn": (kerasrnn.IndRNNCell, kerasrnn.IndRNN),
}


def check_cell(cell):
    if cell not in CELLS:
        raise ValueError(f"`cell` must be one of {sorted(CELLS)}. Received: cell={cell!r}")
    return cell


def cell_class(cell):
    return CELLS[check_cell(cell)][0]


def stack_class(cell):
    return CELLS[check_cell(cell)][1]


def cell_options(cell, **options):
    """`options` less the initializers the cell has no weight for."""
    accepted = getattr(cell_class(cell), "recurrent_options", None)
    if accepted is not None and "recurrent_initializer" not in accepted:
        options.pop("recurrent_initializer", None)
    return options
