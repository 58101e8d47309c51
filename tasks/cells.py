"""The recurrent cells every task can use, by name (`Config.cell`, `--cell NAME`).

    lstm, gru, simple_rnn            kerasrnn.LSTMCell, GRUCell, SimpleRNNCell (fused kernels)
    mingru, minlstm, qrnn, indrnn    the parallel-in-time cells (kerasrnn._parallel)

A name may carry the variants of `VARIANTS` after a colon, comma-separated:

    --cell lstm:layer_norm=true
    --cell lstm:weight_drop=0.5,zoneout_c=0.1
    --cell gru:layer_norm=true,zoneout_h=0.05

`cell_class(cell)` and `stack_class(cell)` (the deep layer: `kerasrnn.LSTM`, ...) check the
name; `cell_options(cell, **options)` adds the variants to the task's own options and keeps
only those the cell has (a cell without a recurrent matmul has no recurrent initializer, so a
task's `init_scale` reaches only its input kernel and bias there).
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
# The variants a task's cell may take (a projection changes the layers' widths, which the
# tasks' models fix: use `kerasrnn.LSTMCell(projection_units=...)` in your own model).
VARIANTS = {
    "lstm": {"layer_norm": bool, "peephole": bool, "zoneout_h": float, "zoneout_c": float,
             "weight_drop": float},
    "gru": {"layer_norm": bool, "zoneout_h": float, "weight_drop": float},
    "simple_rnn": {"zoneout_h": float, "weight_drop": float},
}


def parse(cell):
    """`"lstm:layer_norm=true,weight_drop=0.5"` -> `("lstm", {"layer_norm": True, ...})`;
    one ValueError naming what was received otherwise."""
    if not isinstance(cell, str):
        raise ValueError(f"`cell` must be a string. Received: cell={cell!r}")
    name, _, rest = cell.partition(":")
    if name not in CELLS:
        raise ValueError(f"`cell` must be one of {sorted(CELLS)}, optionally followed by "
                         f"':option=value,...'. Received: cell={cell!r}")
    accepted, options = VARIANTS.get(name, {}), {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip().lower()
        if not sep or key not in accepted:
            raise ValueError(f"`cell` {name!r} takes the options {sorted(accepted)} as "
                             f"'{name}:option=value,...'. Received: cell={cell!r}")
        if accepted[key] is bool:
            if value not in ("true", "false"):
                raise ValueError(f"`cell` option {key} takes true or false. "
                                 f"Received: cell={cell!r}")
            options[key] = value == "true"
        else:
            try:
                options[key] = float(value)
            except ValueError:
                raise ValueError(f"`cell` option {key} takes a number. "
                                 f"Received: cell={cell!r}") from None
            if not 0.0 <= options[key] < 1.0:  # every numeric variant is a rate
                raise ValueError(f"`{key}` must be a float in [0, 1). "
                                 f"Received: {key}={options[key]!r}")
    return name, options


def check_cell(cell):
    """`cell` if it names a cell and valid variants, else one ValueError."""
    parse(cell)
    return cell


def cell_class(cell):
    return CELLS[parse(cell)[0]][0]


def stack_class(cell):
    return CELLS[parse(cell)[0]][1]


def cell_options(cell, **options):
    """The variants named in `cell` and `options`, less the initializers the cell has no
    weight for."""
    options = {**options, **parse(cell)[1]}
    accepted = getattr(cell_class(cell), "recurrent_options", None)
    if accepted is not None and "recurrent_initializer" not in accepted:
        options.pop("recurrent_initializer", None)
    return options
