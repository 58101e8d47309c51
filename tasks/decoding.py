"""Decoding over a model's one-step function, written once in `keras.ops`: the Keras models
call it and the SavedModels compile it as it is.

    sample(step, prompt, lengths, state, ...)   continue prompts of any lengths: greedy, or
                                                seeded sampling (temperature, top-k, top-p)
                                                that gives the same tokens on every backend
                                                and in a SavedModel (a counter-based hash,
                                                not a stateful generator)
    sample_continue(model, ids, ...)            the same from id lists, compiled with the
    beam_continue(model, ids, ...)              prompts' first pass (and beam search)
    greedy(step, state, context, ...)           from a start token, with keras-hub's
                                                `GreedySampler`
    beam_search(step, state, context, ...)      beam search with GNMT's length normalization

`step(tokens, state[, context]) -> (logits, state)`: `tokens` (rows,) int32, `state` and
`context` tuples of (rows, ...) tensors (the state is the cache; the context, e.g. an encoder's
outputs, does not change), logits (rows, vocabulary). A row stops at `end_id` or at its
`limits` (the number of tokens it may produce, the end included).
"""

import keras_hub
import numpy as np
from keras import ops

from tasks.batching import round_up

SAMPLERS = ("greedy", "random", "top_k", "top_p")


def sample(step, prompt, lengths, state, sampler="greedy", seed=0, temperature=1.0, top_k=0,
           top_p=1.0, end_id=3, start=1, stop=None):
    """Continues each row's prompt, one token per step, the state as the cache.

    Args:
        step: `step(tokens, state) -> (logits, state)`.
        prompt: (batch, total) int32: each row's prompt, then anything (it is written over).
        lengths: (batch,) int32 prompt lengths (at least 1).
        state: the state after `prompt[:, : start - 1]`.
        sampler: "greedy" (argmax), "random" (the softmax at `temperature`), "top_k" (only
            the `top_k` likeliest tokens), "top_p" (the fewest likeliest tokens whose
            probabilities sum to `top_p`, Holtzman et al. 2020).
        seed: int or int32 scalar tensor; equal seeds give equal samples.
        start: the first position to feed from (every row's prompt is at least this long).
        stop: the position to stop before (default: `total`; a tensor too, so that prompts
            padded wider than needed compile once for several lengths).

    Returns:
        (batch, total) tokens: each prompt and its continuation; after a row's first new
        `end_id` the values are unspecified (the loop ends once every row has ended).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"`sampler` must be one of {SAMPLERS}. Received: sampler={sampler!r}")
    total = ops.shape(prompt)[1] if stop is None else ops.convert_to_tensor(stop, "int32")
    positions = ops.arange(ops.shape(prompt)[1])[None, :]

    def cond(t, tokens, state, done):
        return ops.logical_and(t < total, ops.logical_not(ops.all(done)))

    def body(t, tokens, state, done):
        last = ops.take(tokens, t - 1, axis=1)
        logits, state = step(last, state)
        chosen = _choose(logits, sampler, seed, t, temperature, top_k, top_p)
        forced = t < lengths  # still inside this row's prompt
        token = ops.where(forced, ops.take(tokens, t, axis=1), ops.cast(chosen, "int32"))
        tokens = ops.where(positions == t, token[:, None], tokens)
        done = ops.logical_or(done, ops.logical_and(ops.logical_not(forced),
                                                    ops.equal(token, end_id)))
        return t + 1, tokens, state, done

    # A row whose prompt fills `total` has nothing to generate: done from the start.
    done = ops.greater_equal(ops.cast(lengths, "int32"), total)
    loop_vars = (ops.convert_to_tensor(start, "int32"), ops.cast(prompt, "int32"), state, done)
    _, tokens, _, _ = ops.while_loop(cond, body, loop_vars)
    return tokens


def sample_continue(model, ids, max_length, sampler, end_id, seed=0, temperature=1.0,
                    top_k=10, top_p=0.9):
    """Id lists (prompts of any lengths) -> each continued by `sample` up to `max_length` ids
    and its first new `end_id`, with `model`'s `call_with_state(ids, state, mask) -> (logits,
    state)` and `step`: the prompts' shared prefix is read in one pass, then the loop runs,
    both in one function compiled by `model.compiled_function`."""
    lengths = [len(row) for row in ids]
    stop = max(lengths) + max_length
    prompt, _ = _pad(ids, stop, 16)
    index = min(lengths)

    def run(prefix, prefix_mask, prompt, lengths, start, stop, seed, temperature, top_k, top_p):
        _, state = model.call_with_state(prefix, None, prefix_mask)
        return sample(model.step, prompt, lengths, state, sampler, seed, temperature, top_k,
                      top_p, end_id, start, stop)

    out = np.asarray(model.compiled_function(("sample", sampler), run)(
        *_pad([row[: index - 1] for row in ids], index - 1, 8), prompt,
        np.asarray(lengths, "int32"), np.int32(index), np.int32(stop), np.int32(seed),
        np.float32(temperature), np.int32(top_k), np.float32(top_p)))
    return [until_end(row, n, max_length, end_id) for row, n in zip(out, lengths)]


def beam_continue(model, ids, max_length, num_beams, end_id):
    """Id lists of one length -> each continued by `beam_search` (`num_beams` beams ranked by
    summed log-probability over `model.preprocessor.vocabulary_size` tokens), as
    `sample_continue` continues them."""
    prompt = np.asarray(ids, "int32")
    length = prompt.shape[1]
    limits = np.full(len(ids), max_length + 1, "int32")  # no forced end

    def step(token, state, context):
        logits, state = model.step(token, state[0])
        return logits, (state,)

    def run(prefix, prefix_mask, last, limits):
        _, state = model.call_with_state(prefix, None, prefix_mask)
        return beam_search(step, (state,), (), last, end_id, max_length, limits,
                           model.preprocessor.vocabulary_size, num_beams, length_penalty=0.0)

    out = np.asarray(model.compiled_function(("beam", max_length, num_beams), run)(
        *_pad([row[:-1] for row in ids], length - 1, 8), prompt[:, -1], limits))
    rows = np.concatenate([prompt, out], axis=1)
    return [until_end(row, length, max_length, end_id) for row in rows]


def _pad(rows, width, multiple):
    """Id lists -> (ids, mask), padded with 0 to `width` rounded up to a `multiple` (at least
    one): a few shapes compile, and a masked step keeps the state."""
    width = round_up(width, multiple)
    ids, mask = np.zeros((len(rows), width), "int32"), np.zeros((len(rows), width), bool)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, True
    return ids, mask


def check_sampling(sampler, vocabulary_size, temperature=1.0, top_k=10, top_p=0.9,
                   num_beams=5, max_length=30):
    """Raises a ValueError naming the argument when a generation setting cannot work."""
    samplers = (*SAMPLERS, "beam")
    if sampler not in samplers:
        raise ValueError(f"`sampler` must be one of {samplers}. Received: sampler={sampler!r}")

    def positive_int(name, value, most=None):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1 or (
                most is not None and value > most):
            bound = f" and at most {most} (the vocabulary)" if most else ""
            raise ValueError(f"`{name}` must be a positive integer{bound}. "
                             f"Received: {name}={value!r}")

    positive_int("max_length", max_length)
    if sampler in ("random", "top_k", "top_p") and not (
            isinstance(temperature, (int, float)) and np.isfinite(temperature)
            and temperature > 0):
        raise ValueError(f"`temperature` must be a finite number above 0 (it divides the "
                         f"logits). Received: temperature={temperature!r}")
    if sampler == "top_k":
        positive_int("top_k", top_k, vocabulary_size)
    if sampler == "top_p" and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"`top_p` must be in (0, 1]. Received: top_p={top_p!r}")
    if sampler == "beam":
        positive_int("num_beams", num_beams, vocabulary_size)


def _choose(logits, sampler, seed, t, temperature, top_k, top_p):
    if sampler == "greedy":
        return ops.argmax(logits, axis=-1)
    logits = ops.cast(logits, "float32") / temperature
    if sampler == "top_k":
        kth = ops.take(ops.sort(logits, axis=-1), ops.shape(logits)[-1] - top_k, axis=1)
        logits = ops.where(logits >= kth[:, None], logits, -1e9)
    if sampler == "top_p":
        probabilities = ops.softmax(logits, axis=-1)
        descending = ops.flip(ops.sort(probabilities, axis=-1), axis=-1)
        before = ops.cumsum(descending, axis=-1) - descending  # mass of the likelier ones
        keep = ops.maximum(ops.sum(ops.cast(before < top_p, "int32"), axis=-1), 1)
        smallest = ops.take_along_axis(descending, keep[:, None] - 1, axis=1)
        logits = ops.where(probabilities >= smallest, logits, -1e9)
    return ops.argmax(logits + _gumbel(seed, t, ops.shape(logits)), axis=-1)


def _gumbel(seed, t, shape):
    """Gumbel(0, 1) noise for each token at position t: argmax(logits + noise) draws from the
    softmax. A counter-based integer hash of (seed, t, token) in int32 arithmetic (wrapping),
    so that every backend and a SavedModel draw exactly the same numbers, and a text's sample
    does not depend on the batch it is in (one prompt twice in a batch gets one continuation:
    vary the seed for several)."""
    tokens = ops.arange(shape[1], dtype="int32")[None, :]
    h = (ops.cast(seed, "int32") * 374761393 + ops.cast(t, "int32") * 668265263
         + tokens * 1103515245 + ops.zeros(shape, "int32"))
    for multiplier in (2146121005, 1822487147, 1540483477):  # avalanche rounds
        h = ops.bitwise_xor(h, ops.right_shift(h, 15)) * multiplier
    h = ops.bitwise_xor(h, ops.right_shift(h, 16))
    uniform = (ops.cast(ops.bitwise_and(h, 0x7FFFFF), "float32") + 0.5) / 8388608.0
    return -ops.log(-ops.log(uniform))


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
    ended stays as it is. With `beam_size` 1 this is greedy decoding. `start_id`: one token
    for every row, or a (batch,) tensor of them."""
    k, alpha = beam_size, length_penalty
    batch = ops.shape(limits)[0]

    def beams(x):  # (batch, ...) -> (batch * k, ...), each row k times
        return ops.repeat(x, k, axis=0)

    context = tuple(beams(c) for c in context)
    limits = beams(limits)
    end_only, pad_only = only(end_id, vocabulary_size), only(0, vocabulary_size)
    first = ops.convert_to_tensor([0.0] + [-1e9] * (k - 1))  # one live beam to start
    start = beams(ops.broadcast_to(ops.cast(start_id, "int32"), (batch,)))
    loop_vars = (0, ops.zeros((batch * k, total), "int32"), start, ops.tile(first, [batch]),
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


def until_end(row, length, max_length, end_id):
    """A prompt of `length` ids and its continuation of at most `max_length` ids, up to (not
    including) the first new `end_id`."""
    new = list(row[length : length + max_length])
    return list(row[:length]) + (new[: new.index(end_id)] if end_id in new else new)
