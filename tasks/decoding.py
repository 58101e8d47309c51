"""Decoding over a model's one-step function, in `keras.ops` (so it compiles, and is exported
into SavedModels as it is): greedy with keras-hub's sampler, and beam search with GNMT's length
normalization.

Both take `step(tokens, state, context) -> (logits, state)`: `tokens` (rows,) int32, `state`
and `context` tuples of (rows, ...) tensors (the state is the cache; the context, e.g. an
encoder's outputs, does not change), logits (rows, vocabulary). Each row stops at `end_id` or
at its `limits` (the number of tokens it may produce, the end included).
"""

import keras_hub
import numpy as np
from keras import ops


def greedy(step, state, context, start_id, end_id, total, limits, vocabulary_size, model=None):
    """(batch, total) ids: the argmax token at each step, `end_id` at the row's limit, padding
    (0) after each row's end. keras-hub's `GreedySampler` runs the loop (`model`: the Keras
    model whose weights `step` reads, which the sampler needs on JAX)."""
    batch = ops.shape(limits)[0]
    prompt = ops.concatenate([ops.full((batch, 1), start_id, "int32"),
                              ops.zeros((batch, total), "int32")], axis=1)
    end_only = only(end_id, vocabulary_size)

    def next(prompt, cache, index):
        token = ops.take(prompt, index - 1, axis=1)
        logits, cache = step(token, cache, context)
        return ops.where((index >= limits)[:, None], end_only, logits), None, cache

    out = keras_hub.samplers.GreedySampler()(
        next, prompt, cache=state, index=1, mask=ops.arange(total + 1)[None, :] < 1,
        stop_token_ids=(end_id,), model=model)
    return after_end_padded(out[:, 1:], end_id)


def beam_search(step, state, context, start_id, end_id, total, limits, vocabulary_size,
                beam_size, length_penalty):
    """(batch, total) ids of each row's best beam: beams ranked by their summed
    log-probability over ((5 + length) / 6) ** length_penalty (Wu et al. 2016); a beam that
    ended stays as it is. With `beam_size` 1 this is greedy decoding."""
    k, alpha = beam_size, length_penalty
    batch = ops.shape(limits)[0]

    def beams(x):  # (batch, ...) -> (batch * k, ...), each row k times
        return ops.repeat(x, k, axis=0)

    context = tuple(beams(c) for c in context)
    limits = beams(limits)
    end_only, pad_only = only(end_id, vocabulary_size), only(0, vocabulary_size)
    first = ops.convert_to_tensor([0.0] + [-1e9] * (k - 1))  # one live beam to start
    loop_vars = (0, ops.zeros((batch * k, total), "int32"),
                 ops.full((batch * k,), start_id, "int32"), ops.tile(first, [batch]),
                 ops.zeros((batch * k,), "bool"), ops.zeros((batch * k,), "int32"),
                 tuple(beams(s) for s in state))

    def cond(t, tokens, last, scores, finished, lengths, state):
        return ops.logical_and(t < total, ops.logical_not(ops.all(finished)))

    def body(t, tokens, last, scores, finished, lengths, state):
        logits, state = step(last, state, context)
        logp = ops.log_softmax(logits, axis=-1)
        logp = ops.where((t + 1 >= limits)[:, None], end_only, logp)
        logp = ops.where(finished[:, None], pad_only, logp)  # an ended beam stays as is
        candidates = ops.reshape(scores[:, None] + logp, (-1, k * vocabulary_size))
        top, index = top_k(candidates, k)
        parent = ops.reshape(ops.arange(batch)[:, None] * k + index // vocabulary_size, (-1,))
        token = ops.cast(ops.reshape(index % vocabulary_size, (-1,)), "int32")
        ended = ops.take(finished, parent, axis=0)
        tokens = ops.slice_update(ops.take(tokens, parent, axis=0), [0, t], token[:, None])
        lengths = ops.take(lengths, parent, axis=0) + ops.cast(~ended, "int32")
        state = tuple(ops.take(s, parent, axis=0) for s in state)
        return (t + 1, tokens, token, ops.reshape(top, (-1,)),
                ended | ops.equal(token, end_id), lengths, state)

    _, tokens, _, scores, _, lengths, _ = ops.while_loop(cond, body, loop_vars)
    penalty = ((5.0 + ops.cast(lengths, "float32")) / 6.0) ** alpha
    best = ops.argmax(ops.reshape(scores / penalty, (-1, k)), axis=1)
    tokens = ops.reshape(tokens, (-1, k, total))
    return ops.take_along_axis(tokens, best[:, None, None], axis=1)[:, 0]


def only(token, vocabulary_size):
    """(1, vocabulary) log-probabilities that allow only `token`."""
    allowed = ops.equal(ops.arange(vocabulary_size), token)
    return ops.where(allowed, 0.0, -1e9)[None, :]


def top_k(x, k):
    """`ops.top_k` by k argmax passes: JAX 0.10 lowers `top_k` to a StableHLO composite that
    TensorFlow 2.21 cannot load from a SavedModel; argmax lowers to a plain reduction."""
    values, indices = [], []
    positions = ops.arange(ops.shape(x)[1])[None, :]
    for _ in range(k):
        i = ops.argmax(x, axis=1)
        values.append(ops.take_along_axis(x, i[:, None], axis=1)[:, 0])
        indices.append(i)
        x = ops.where(positions == i[:, None], -np.inf, x)
    return ops.stack(values, axis=1), ops.cast(ops.stack(indices, axis=1), "int32")


def after_end_padded(ids, end_id):
    """Padding after each row's first `end_id` (samplers leave other ids there)."""
    ended = ops.cumsum(ops.cast(ops.equal(ids, end_id), "int32"), axis=1)
    after = (ended - ops.cast(ops.equal(ids, end_id), "int32")) > 0
    return ops.where(after, ops.zeros_like(ids), ids)
