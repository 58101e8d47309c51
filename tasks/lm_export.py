"""SavedModel export of a `RNNLanguageModel`: endpoints on raw strings.

    score(texts)     -> {"perplexity": (batch,), "token_log_probs": (batch, time) zero-padded,
                         "num_tokens": (batch,)}      each text from a fresh state, with its end
    generate(texts)  -> (batch,) strings: each prompt and its greedy continuation (the default
                        signature)
    sample(texts, seed, temperature) -> (batch,) strings: seeded sampling, reproducible per seed

Numeric endpoints underneath (`token_log_probs(ids)`, `step(token, state)`) run the model's own
layers; the string endpoints tokenize with the model's vocabulary (a lookup table in the graph)
and loop over `step` in a `tf.while_loop`, one token per step, as `RNNLanguageModel.generate`
does, so greedy outputs equal the Keras model's.
"""

import tensorflow as tf
from keras import ops

from tasks import serving
from tasks.text import EOS_ID, PAD_ID


def export(model, path, max_length=30):
    """Writes the SavedModel to `path`; `max_length` caps the generated tokens per prompt."""
    tokenizer = model.tokenizer
    state_size = sum(model.state_sizes)
    archive = serving.new_archive(model, tokenizer._table)

    def token_log_probs(inputs, targets):  # (batch, time) each, padded with [PAD]
        logits, _ = model.call_with_state(inputs, None, ops.not_equal(inputs, PAD_ID))
        logp = ops.log_softmax(logits, axis=-1)
        picked = ops.take_along_axis(logp, ops.expand_dims(targets, -1), axis=-1)[..., 0]
        return ops.where(ops.not_equal(targets, PAD_ID), picked, ops.zeros_like(picked))

    numeric_scores = serving.numeric_endpoint(
        archive, "token_log_probs", token_log_probs, [tf.TensorSpec((None, None), tf.int32)] * 2,
        polymorphic_shapes=["(batch, t)", "(batch, t)"])
    numeric_step = serving.numeric_endpoint(
        archive, "step", model.step,
        [tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None, state_size), tf.float32)])

    def encode(texts):
        """[EOS] + tokens (+ [EOS] to score) as a padded (batch, time) tensor and lengths."""
        ragged = tokenizer(texts)
        start = tf.fill([ragged.nrows(), 1], EOS_ID)
        return tf.concat([start, ragged], axis=1)

    def score(texts):
        ragged = encode(texts)
        ragged = tf.concat([ragged, tf.fill([ragged.nrows(), 1], EOS_ID)], axis=1)
        ids = ragged.to_tensor(PAD_ID)
        logp = numeric_scores(ids[:, :-1], ids[:, 1:])
        n = tf.cast(ragged.row_lengths() - 1, tf.int32)
        perplexity = tf.exp(-tf.reduce_sum(logp, 1) / tf.cast(n, tf.float32))
        return {"perplexity": perplexity, "token_log_probs": logp, "num_tokens": n}

    def decode_loop(texts, choose):
        ragged = encode(texts)
        lengths = tf.cast(ragged.row_lengths(), tf.int32)
        total = tf.reduce_max(lengths) + max_length
        tokens = ragged.to_tensor(PAD_ID, shape=[None, None])
        tokens = tf.pad(tokens, [[0, 0], [0, total - tf.shape(tokens)[1]]])
        batch = tf.shape(tokens)[0]
        state = tf.zeros([batch, state_size])

        def body(t, tokens, state, done):
            logits, state = numeric_step(tokens[:, t - 1], state)
            chosen = tf.cast(choose(logits, t), tf.int32)
            forced = t < lengths  # still inside this row's prompt
            token = tf.where(forced, tokens[:, t], chosen)
            tokens = tf.tensor_scatter_nd_update(
                tokens, tf.stack([tf.range(batch), tf.fill([batch], t)], axis=1), token)
            done = done | (~forced & tf.equal(token, EOS_ID))
            return t + 1, tokens, state, done

        def cond(t, tokens, state, done):
            return (t < total) & ~tf.reduce_all(done)

        _, tokens, _, _ = tf.while_loop(
            cond, body, (tf.constant(1), tokens, state, tf.zeros([batch], tf.bool)))
        # Keep each prompt and its continuation up to (not including) the first new [EOS].
        position = tf.range(tf.shape(tokens)[1])[None, :]
        generated = position >= lengths[:, None]
        ended = tf.cumsum(tf.cast(generated & tf.equal(tokens, EOS_ID), tf.int32), axis=1) > 0
        keep = ~ended & tf.not_equal(tokens, PAD_ID)
        return tokenizer.detokenize(tf.ragged.boolean_mask(tokens, keep))

    def generate(texts):
        return decode_loop(texts, lambda logits, t: tf.argmax(logits, axis=-1))

    def sample(texts, seed, temperature):
        def choose(logits, t):
            seeds = tf.stack([tf.cast(seed, tf.int32), t])
            return tf.random.stateless_categorical(logits / temperature, 1, seeds)[:, 0]

        return decode_loop(texts, choose)

    strings = tf.TensorSpec([None], tf.string)
    serving.string_endpoint(archive, "score", score, [strings])
    default = serving.string_endpoint(archive, "generate", generate, [strings])
    serving.string_endpoint(archive, "sample", sample, [
        strings, tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
    return serving.write(archive, path, default)
