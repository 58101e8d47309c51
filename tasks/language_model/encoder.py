"""Starting a model's encoder from a trained word language model (ULMFiT, Howard & Ruder 2018).

A classifier or a tagger that starts from an LM reads text with the LM's vocabulary (the
tagger adds its training words after it), and its embedding and recurrent layers begin as the
LM's: the LM's knowledge of words and of how a sentence goes on is where its training starts.

    load_encoder_lm(path, data_dir=None, argument="lm")   a saved LM, checked for the purpose
    check_encoder_lm(lm, argument="lm")                   a forward word-level RNNLanguageModel
    copy_encoder(lm, embedding, stack)                    the LM's weights into a model's layers

What `copy_encoder` does with a bidirectional stack: the LM's layer i becomes the forward
direction of layer i; the backward directions keep their own initialization (a backward LM
would have read its own embedding matrix, not the one the model shares), and so do layers
above the LM's. A layer whose input is wider than the LM layer's gets the LM's kernel for the
first input rows and zeros for the rest, so that at the start its forward direction computes
exactly the LM's hidden states, and it learns to use the rest:
- above the first layer, a bidirectional layer reads [forward outputs ; backward outputs];
- the tagger's first layer reads [word embedding ; casing ; characters ; ...].
An embedding with more rows than the LM's (a vocabulary that adds words after the LM's) takes
the LM's matrix as its first rows; the other rows keep their initialization.
"""

import keras
import numpy as np

from tasks import data as data_lib
from tasks.language_model.model import RNNLanguageModel


def check_encoder_lm(lm, argument="lm"):
    """`lm` unchanged if it is a forward, word-level `RNNLanguageModel`; else a ValueError
    naming `argument`."""
    if not isinstance(lm, RNNLanguageModel):
        raise ValueError(f"`{argument}` must be an RNNLanguageModel (a .keras file of python -m "
                         f"tasks.language_model). Received: {type(lm).__name__}")
    tokenizer = lm.tokenizer
    if tokenizer.level != "word" or tokenizer.reverse:
        kind = f"{'backward ' if tokenizer.reverse else ''}{tokenizer.level}-level"
        raise ValueError(f"`{argument}` must be a forward word-level language model (its "
                         f"vocabulary and embedding become the model's). Received: a {kind} "
                         f"model")
    return lm


def load_encoder_lm(path, data_dir=None, argument="lm"):
    """The LM saved at `path` (resolved against `data_dir`), checked by `check_encoder_lm`."""
    model = keras.saving.load_model(data_lib.resolve(path, data_dir), compile=False)
    return check_encoder_lm(model, argument)


def copy_encoder(lm, embedding, stack):
    """Assigns the LM's embedding matrix to the first rows of `embedding` and its recurrent
    layer i to layer i of `stack` (a kerasrnn stack, e.g. `kerasrnn.LSTM(num_layers=...)`, one-
    or bidirectional; its forward direction). Both must be built, with the LM's `embed_dim`,
    cell and units, a vocabulary that starts with the LM's and at least the LM's layers."""
    check_encoder_lm(lm)
    source, target = lm.embedding.embeddings, embedding.embeddings
    if source.shape[1] != target.shape[1] or source.shape[0] > target.shape[0]:
        raise ValueError(f"The LM's embedding is {tuple(source.shape)} (vocabulary, embed_dim); "
                         f"the model's must have its embed_dim and at least its rows. Received: "
                         f"{tuple(target.shape)}")
    if len(stack.rnn_layers) < len(lm.rnns):
        raise ValueError(f"The LM has {len(lm.rnns)} recurrent layers. Received: a stack of "
                         f"num_layers={len(stack.rnn_layers)}")
    matrix = np.array(target)
    matrix[: source.shape[0]] = np.asarray(source)
    target.assign(matrix)
    for i, (lm_layer, layer) in enumerate(zip(lm.rnns, stack.rnn_layers)):
        cell = getattr(layer, "forward_layer", layer).cell
        if type(cell) is not type(lm_layer.cell) or len(cell.weights) != len(lm_layer.cell.weights):
            raise ValueError(f"Layer {i}: the LM's cell is {type(lm_layer.cell).__name__} with "
                             f"{len(lm_layer.cell.weights)} weights. Received: "
                             f"{type(cell).__name__} with {len(cell.weights)}")
        for source, target in zip(lm_layer.cell.weights, cell.weights):
            value, shape = np.asarray(source), tuple(target.shape)
            if value.shape != shape:
                if shape[1:] != value.shape[1:] or shape[0] < value.shape[0]:
                    raise ValueError(f"Layer {i}: the LM's {source.name} is {value.shape}. "
                                     f"Received: {target.name} of shape {shape}")
                # A wider input: the LM's rows for its first part, zeros for the rest.
                value = np.concatenate([value, np.zeros((shape[0] - value.shape[0],
                                                         *shape[1:]), value.dtype)])
            target.assign(value)
