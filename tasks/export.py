"""String-input SavedModels for every task: one `export(model, path)`.

A string op cannot live inside a function that JAX's jax2tf converts, so every export has two
layers (see the README's "Export" notes):

1. numeric endpoints (ids in, numbers out) added with `numeric_endpoint`: a Keras
   `ExportArchive` endpoint, converted with jax2tf on JAX, a plain `tf.function` on TF;
2. string endpoints: plain `tf.function`s that preprocess with the model's own vocabularies
   (lookup tables in the graph), call the numeric endpoints and post-process, added with
   `string_endpoint` as they are (no conversion).

What each task model serves is named by its `serving` attribute:

    "language_model"  generate(texts) -> each prompt and its greedy continuation (default);
                      sample(texts, seed, temperature) -> seeded sampling, the same text
                      as `model.generate(texts, sampler="random", seed=...)`;
                      score(texts) -> {"perplexity", "token_log_probs", "tokens",
                      "num_tokens"}: each scored token (the last one [EOS]) and its
                      log-probability given the text before it
    "tagger"          tag(sentences) -> {"tags": string[batch, T], "lengths"} (default);
                      tag_tokens(tokens: string[batch, T]) the same, pre-tokenized
    "classifier"      serve(texts) -> {"label": string[batch], "probabilities", "labels"
                      (the label of each column of the probabilities)} (default);
                      attention(texts) -> {"tokens", "weights"}: how much each token counts
                      (models with pooling="attention" only)
    "translator"      translate(texts) greedy (default); translate_beam(texts) beam search;
                      attention(texts) -> {"translation", "source_tokens", "target_tokens",
                      "weights" (batch, T, S)}: the greedy translation and the attention of
                      each of its tokens over the source (models with attention only)

Every string endpoint pads its batch to a power of two (at least 1) and its length to a power
of two (at least 8) before the numeric endpoints run, and slices the answers back: a served
model compiles one program per (batch bucket, length bucket) it meets, not one per request
shape, and an empty batch gets empty answers on both backends. Lengths are bounded too:
classifiers and the translator cut texts at their preprocessor's maximum, a language model's
prompts keep their last `max_input_length` tokens, and `score`, `tag` and `tag_tokens` refuse
a text longer than `max_input_length` tokens (an InvalidArgumentError naming the limit) rather
than answer for part of it.

A serving process needs only `tensorflow` and `tensorflow_text`: `load(path)`.
"""

import os

import keras
import tensorflow as tf
from keras import ops

from tasks import decoding
from tasks.language_model.embedding import FEATURES as LM_FEATURES
from tasks.tokenizers import BOS_ID, EOS_ID, PAD_ID

STRINGS = tf.TensorSpec([None], tf.string)
ENDPOINTS = {  # what each kind serves, the default first
    "language_model": ("generate", "score", "sample"),
    "tagger": ("tag", "tag_tokens"),
    "classifier": ("serve", "attention"),
    "translator": ("translate", "translate_beam", "attention"),
}


def endpoints(model):
    """The string endpoints `export(model, ...)` writes, the default first."""
    names = ENDPOINTS[model.serving]
    has_attention = {"classifier": getattr(model, "pooling", None) == "attention",
                     "translator": getattr(model, "attention", "none") != "none"}
    if not has_attention.get(model.serving, True):
        names = tuple(n for n in names if n != "attention")
    return names


def export(model, path, **options):
    """Writes `model`'s string-input SavedModel to `path` and returns `path`. `options`:
    `max_length` (language models: tokens generated per prompt, default 30) and
    `max_input_length` (language models and taggers: tokens per text, default 512)."""
    writers = {"language_model": _language_model, "tagger": _tagger,
               "classifier": _classifier, "translator": _translator}
    kind = getattr(model, "serving", None)
    if kind not in writers:
        raise ValueError(f"`model` must be a task model with a `serving` kind in "
                         f"{sorted(writers)}. Received: {type(model).__name__}")
    if not model.built:  # an untrained model (task models build without input shapes)
        model.build()
    archive = keras.export.ExportArchive()
    archive.track(model)  # all the weights, once
    for resource in model.preprocessor.resources:
        if isinstance(resource, keras.layers.Layer) and not resource.built:
            resource.build(None)  # a keras-hub tokenizer (no weights) never called as a layer
        archive.track(resource)
    default = writers[kind](model, archive, **options)
    archive.add_endpoint("serving_default", default)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    archive.write_out(path, verbose=False)
    return path


def bucket(n, smallest=1):
    """The smallest power of two that is at least `n` and `smallest` (int32 tensors)."""
    n = tf.maximum(tf.cast(n, tf.int32), smallest) - 1
    for shift in (1, 2, 4, 8, 16):
        n = tf.bitwise.bitwise_or(n, tf.bitwise.right_shift(n, shift))
    return n + 1


def pad_to_buckets(x, value=0, rows=None, width=None):
    """(batch, T, ...) padded with `value` to (`rows`, `width`, ...), by default the buckets of
    batch and T (at least 8 steps)."""
    shape = tf.shape(x)
    rows = bucket(shape[0]) if rows is None else rows
    width = bucket(shape[1], 8) if width is None else width
    paddings = [[0, rows - shape[0]], [0, width - shape[1]]] + [[0, 0]] * (len(x.shape) - 2)
    return tf.pad(x, paddings, constant_values=value)


def check_max_input_length(max_input_length):
    if not isinstance(max_input_length, int) or max_input_length < 1:
        raise ValueError(f"`max_input_length` must be a positive integer. Received: "
                         f"max_input_length={max_input_length!r}")
    return max_input_length


def assert_at_most(lengths, limit, endpoint):
    """An InvalidArgumentError at serving time when a length is above `limit`."""
    return tf.debugging.assert_less_equal(
        tf.reduce_max(tf.concat([tf.reshape(tf.cast(lengths, tf.int32), [-1]), [0]], 0)), limit,
        message=f"{endpoint}: a text has more tokens than this export takes "
                f"(max_input_length={limit}, set when exporting)")


def load(path):
    """What a serving process does: only TensorFlow (and TF Text for its ops)."""
    import tensorflow_text  # noqa: F401  registers the ops a WordPiece model uses

    return tf.saved_model.load(path)


def numeric_endpoint(archive, name, fn, input_signature, polymorphic_shapes=None):
    """Adds `fn(*tensors)` (Keras ops on tracked weights) and returns the callable endpoint.

    On JAX every `None` dimension becomes a symbol for jax2tf: the first dimension of every
    input is "batch", the others distinct symbols unless `polymorphic_shapes` (one string per
    input, e.g. "(batch, t)") says which dimensions are equal."""
    def in_float32(*tensors):
        """`fn` with its floating outputs in float32: a model trained under a mixed-precision
        policy computes in 16 bits, its SavedModel answers in float32."""
        def cast(t):
            floating = "float" in keras.backend.standardize_dtype(t.dtype)
            return ops.cast(t, "float32") if floating else t

        return keras.tree.map_structure(cast, fn(*tensors))

    kwargs = {}
    if keras.backend.backend() == "jax":
        # No gradient in a serving graph: no load-time warning and a smaller file.
        kwargs["jax2tf_kwargs"] = {"with_gradient": False}
        if polymorphic_shapes:
            kwargs["jax2tf_kwargs"]["polymorphic_shapes"] = polymorphic_shapes
    return archive.add_endpoint(name, in_float32, input_signature=input_signature, **kwargs)


def string_endpoint(archive, name, fn, input_signature):
    """Adds a string-level function as is: `fn` only calls numeric endpoints and TF ops."""
    traced = tf.function(fn, input_signature=input_signature, autograph=False)
    traced.get_concrete_function()
    archive.add_endpoint(name, traced)
    return traced


def _language_model(model, archive, max_length=30, max_input_length=512):
    tokenizer = model.tokenizer
    vocabulary = tf.constant(tokenizer.vocabulary)
    max_input_length = check_max_input_length(max_input_length)
    ids_spec = tf.TensorSpec((None, None), tf.int32)

    def token_log_probs(inputs, targets):  # (batch, time) each, padded with [PAD]
        logits, _ = model.call_with_state(inputs, None, ops.not_equal(inputs, PAD_ID))
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        picked = ops.take_along_axis(logp, ops.expand_dims(targets, -1), axis=-1)[..., 0]
        return ops.where(ops.not_equal(targets, PAD_ID), picked, ops.zeros_like(picked))

    def continue_ids(prompt, lengths, seed=0, temperature=1.0, sampler="greedy"):
        state = model.initial_state(ops.shape(prompt)[0])
        return decoding.sample(model.step, prompt, lengths, state, sampler, seed=seed,
                               temperature=temperature, end_id=EOS_ID)

    numeric_scores = numeric_endpoint(archive, "token_log_probs", token_log_probs,
                                      [ids_spec] * 2, ["(batch, t)", "(batch, t)"])
    greedy_ids = numeric_endpoint(archive, "greedy_ids", continue_ids,
                                  [ids_spec, tf.TensorSpec((None,), tf.int32)],
                                  ["(batch, t)", "(batch,)"])
    sample_ids = numeric_endpoint(
        archive, "sample_ids", lambda *args: continue_ids(*args, sampler="random"),
        [ids_spec, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32),
         tf.TensorSpec((), tf.float32)], ["(batch, t)", "(batch,)", "()", "()"])

    def encode(texts, keep=None):
        """[EOS] + tokens (the last `keep` of them), ragged."""
        ragged = tokenizer(texts)
        if keep is not None:
            ragged = ragged[:, -keep:]
        return tf.concat([tf.fill([ragged.nrows(), 1], EOS_ID), ragged], axis=1)

    def score(texts):
        ragged = encode(texts)
        with tf.control_dependencies([assert_at_most(ragged.row_lengths() - 1,
                                                     max_input_length, "score")]):
            ragged = tf.concat([ragged, tf.fill([ragged.nrows(), 1], EOS_ID)], axis=1)
        ids = ragged.to_tensor(PAD_ID)
        batch, width = tf.shape(ids)[0], tf.shape(ids)[1] - 1
        padded = pad_to_buckets(ids, PAD_ID, width=bucket(width, 8) + 1)
        logp = numeric_scores(padded[:, :-1], padded[:, 1:])[:batch, :width]
        n = tf.cast(ragged.row_lengths() - 1, tf.int32)
        perplexity = tf.exp(-tf.reduce_sum(logp, 1) / tf.cast(n, tf.float32))
        targets = padded[:batch, 1 : width + 1]
        tokens = tf.where(tf.equal(targets, PAD_ID), "", tf.gather(vocabulary, targets))
        return {"perplexity": perplexity, "token_log_probs": logp, "tokens": tokens,
                "num_tokens": n}

    def continuations(texts, run):
        """Prompts padded to their longest + `max_length`, continued by `run`, detokenized up
        to (not including) each row's first new [EOS]."""
        ragged = encode(texts, keep=max_input_length)
        batch = tf.shape(texts)[0]
        lengths = tf.cast(ragged.row_lengths(), tf.int32)
        tokens = ragged.to_tensor(PAD_ID, shape=[None, None])
        total = bucket(tf.shape(tokens)[1], 8) + max_length
        tokens = pad_to_buckets(tokens, PAD_ID, width=total)
        # Rows added to fill the batch bucket are all prompt: they generate nothing.
        lengths = tf.pad(lengths, [[0, tf.shape(tokens)[0] - batch]], constant_values=total)
        tokens = run(tokens, lengths)[:batch]
        lengths = lengths[:batch]
        generated = tf.range(tf.shape(tokens)[1])[None, :] >= lengths[:, None]
        ended = tf.cumsum(tf.cast(generated & tf.equal(tokens, EOS_ID), tf.int32), axis=1) > 0
        within = tf.range(tf.shape(tokens)[1])[None, :] < lengths[:, None] + max_length
        keep = ~ended & within & tf.not_equal(tokens, PAD_ID)
        return tokenizer.detokenize(tf.ragged.boolean_mask(tokens, keep))

    def generate(texts):
        return continuations(texts, greedy_ids)

    def sample(texts, seed, temperature):
        tf.debugging.assert_greater(temperature, 0.0, message="sample: `temperature` must be a "
                                    "finite number above 0 (it divides the logits)")
        return continuations(texts, lambda t, n: sample_ids(t, n, seed, temperature))

    string_endpoint(archive, "score", score, [STRINGS])
    default = string_endpoint(archive, "generate", generate, [STRINGS])
    string_endpoint(archive, "sample", sample, [
        STRINGS, tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
    return default


def _tagger(model, archive, max_input_length=512):
    pre = model.preprocessor
    max_input_length = check_max_input_length(max_input_length)
    # The numeric endpoint's inputs: the preprocessor's features but the mask, in this order.
    names = ["token_ids", "char_ids", "case_ids"]
    specs = [tf.TensorSpec((None, None), tf.int32),
             tf.TensorSpec((None, None, pre.max_word_length), tf.int32),
             tf.TensorSpec((None, None), tf.int32)]
    shapes = ["(batch, t)", f"(batch, t, {pre.max_word_length})", "(batch, t)"]
    if pre.lm_tokenizers:  # CharLMEmbedding's: the text as characters, the words' positions
        names += list(LM_FEATURES)
        specs += [tf.TensorSpec((None, None), tf.int32)] * 4
        shapes += ["(batch, c)", "(batch, t)", "(batch, c)", "(batch, t)"]

    def tag_ids(*features):
        features = dict(zip(names, features))
        features["padding_mask"] = mask = ops.not_equal(features["token_ids"], PAD_ID)
        return model.decode(model(features), mask)

    numeric = numeric_endpoint(archive, "tag_ids", tag_ids, specs, polymorphic_shapes=shapes)
    tags = tf.constant(model.tags)

    def tag_tokens(tokens):
        batch, width = tf.shape(tokens)[0], tf.shape(tokens)[1]
        with tf.control_dependencies([assert_at_most(width, max_input_length, "tag")]):
            tokens = tf.identity(tokens)
        features = pre(pad_to_buckets(tokens, ""))
        ids = numeric(*[features[name] for name in names])
        ids, mask = ids[:batch, :width], features["padding_mask"][:batch, :width]
        return {"tags": tf.where(mask, tf.gather(tags, ids), ""),
                "lengths": tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)}

    def tag(sentences):
        return tag_tokens(tf.strings.split(sentences).to_tensor(""))

    string_endpoint(archive, "tag_tokens", tag_tokens, [tf.TensorSpec([None, None], tf.string)])
    default = string_endpoint(archive, "tag", tag, [STRINGS])
    return default


def _classifier(model, archive):
    pre = model.preprocessor

    def probabilities(token_ids):
        features = {"token_ids": token_ids, "padding_mask": ops.not_equal(token_ids, PAD_ID)}
        return ops.softmax(ops.cast(model(features), "float32"), axis=-1)

    numeric = numeric_endpoint(archive, "probabilities", probabilities,
                               [tf.TensorSpec((None, None), tf.int32)],
                               polymorphic_shapes=["(batch, t)"])
    names = tf.constant(model.labels)

    def serve(texts):
        p = numeric(pad_to_buckets(pre(texts)["token_ids"], PAD_ID))[: tf.size(texts)]
        return {"label": tf.gather(names, tf.argmax(p, axis=-1, output_type=tf.int32)),
                "probabilities": p,
                "labels": tf.tile(names[None], [tf.shape(p)[0], 1])}  # what each column is

    default = string_endpoint(archive, "serve", serve, [STRINGS])
    if "attention" in endpoints(model):
        def token_weights(token_ids):
            mask = ops.not_equal(token_ids, PAD_ID)
            return model.encode({"token_ids": token_ids, "padding_mask": mask})[1]

        numeric_weights = numeric_endpoint(archive, "attention_weights", token_weights,
                                           [tf.TensorSpec((None, None), tf.int32)],
                                           polymorphic_shapes=["(batch, t)"])

        def attention(texts):
            tokens = pre.tokens(texts).to_tensor("")
            ids = pre.features(tokens)["token_ids"]
            weights = numeric_weights(pad_to_buckets(ids, PAD_ID))
            return {"tokens": tokens,
                    "weights": weights[: tf.shape(tokens)[0], : tf.shape(tokens)[1]]}

        string_endpoint(archive, "attention", attention, [STRINGS])
    return default


def _translator(model, archive):
    tgt = model.target_tokenizer
    ids_spec = [tf.TensorSpec((None, None), tf.int32)]
    greedy = numeric_endpoint(archive, "greedy_ids",
                              lambda ids: model.beam_search(ids, beam_size=1),
                              ids_spec, polymorphic_shapes=["(batch, s)"])
    beam = numeric_endpoint(archive, "beam_ids", lambda ids: model.beam_search(ids),
                            ids_spec, polymorphic_shapes=["(batch, s)"])

    def translate_with(search):
        def translate(texts):
            ids = pad_to_buckets(model.preprocessor.source_ids(texts).to_tensor(PAD_ID), PAD_ID)
            ids = search(ids)[: tf.size(texts)]
            return tgt.detokenize(tf.RaggedTensor.from_tensor(ids, padding=PAD_ID))

        return translate

    string_endpoint(archive, "translate_beam", translate_with(beam), [STRINGS])
    default = string_endpoint(archive, "translate", translate_with(greedy), [STRINGS])
    if "attention" in endpoints(model):
        _translator_attention(model, archive, greedy)
    return default


def _translator_attention(model, archive, greedy):
    """attention(texts): the greedy translation, teacher-forced through the decoder once more,
    gives the attention each produced token paid to each source token (the same numbers as
    during decoding: the same inputs reach every step)."""
    def weights(source_ids, decoder_ids):
        features = {"encoder_token_ids": source_ids,
                    "encoder_padding_mask": ops.not_equal(source_ids, PAD_ID),
                    "decoder_token_ids": decoder_ids}
        return model.call_with_attention(features)[1]

    ids_spec = tf.TensorSpec((None, None), tf.int32)
    numeric = numeric_endpoint(archive, "attention_weights", weights, [ids_spec] * 2,
                               polymorphic_shapes=["(batch, s)", "(batch, t)"])
    source_vocabulary = tf.constant(model.source_tokenizer.vocabulary)
    target_vocabulary = tf.constant(model.target_tokenizer.vocabulary)

    def attention(texts):
        batch = tf.size(texts)
        source = model.preprocessor.source_ids(texts).to_tensor(PAD_ID)
        source = tf.pad(source, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(source)[1])]])
        width = tf.shape(source)[1]
        source = pad_to_buckets(source, PAD_ID)
        target = greedy(source)  # each row: its tokens, [EOS], then padding
        decoder = tf.concat([tf.fill([tf.shape(target)[0], 1], BOS_ID), target[:, :-1]], 1)
        # Each row's tokens up to its first [EOS] (all of them if it has none); the steps
        # after the longest row's are cut.
        ended = tf.cumsum(tf.cast(tf.equal(target, EOS_ID), tf.int32), axis=1, exclusive=True)
        shown = tf.equal(ended, 0)[:batch]
        steps = tf.reduce_max(tf.reduce_sum(tf.cast(shown, tf.int32), axis=1))
        weights = numeric(source, decoder)[:batch, :steps, :width]
        target, shown, source = target[:batch, :steps], shown[:, :steps], source[:batch, :width]
        return {
            "translation": model.target_tokenizer.detokenize(tf.ragged.boolean_mask(target, shown)),
            "source_tokens": tf.where(tf.equal(source, PAD_ID), "",
                                      tf.gather(source_vocabulary, source)),
            "target_tokens": tf.where(shown, tf.gather(target_vocabulary, target), ""),
            "weights": weights * tf.cast(shown, weights.dtype)[:, :, None]}

    string_endpoint(archive, "attention", attention, [STRINGS])
