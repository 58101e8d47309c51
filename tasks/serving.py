"""SavedModels that take raw strings, from a model built on either backend.

A string op cannot live inside a function that JAX's jax2tf converts, so every export has two
layers (see the notes in the README's "Export" section):

1. numeric endpoints (ids in, numbers out) added with `numeric_endpoint`: a Keras
   `ExportArchive` endpoint, converted with jax2tf on JAX, a plain `tf.function` on TF;
2. string endpoints: plain `tf.function`s that tokenize, call the numeric endpoints and
   post-process, added with `string_endpoint` as they are (no conversion).

A serving process needs only `tensorflow` and `tensorflow_text`: `load(path)`.
"""

import os

import keras
import tensorflow as tf


def new_archive(model, *resources):
    """An ExportArchive tracking `model` (all its weights, once) and lookup tables."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in resources:
        archive.track(resource)
    return archive


def numeric_endpoint(archive, name, fn, input_signature, polymorphic_shapes=None):
    """Adds `fn(*tensors)` (Keras ops on tracked weights) and returns the callable endpoint.

    On JAX every `None` dimension becomes a symbol for jax2tf: the first dimension of every
    input is "batch", the others distinct symbols unless `polymorphic_shapes` (one string per
    input, e.g. "(batch, t)") says which dimensions are equal."""
    kwargs = {}
    if keras.backend.backend() == "jax":
        # No gradient in a serving graph: no load-time warning and a smaller file.
        kwargs["jax2tf_kwargs"] = {"with_gradient": False}
        if polymorphic_shapes:
            kwargs["jax2tf_kwargs"]["polymorphic_shapes"] = polymorphic_shapes
    return archive.add_endpoint(name, fn, input_signature=input_signature, **kwargs)


def string_endpoint(archive, name, fn, input_signature):
    """Adds a string-level function as is: `fn` only calls numeric endpoints and TF ops."""
    traced = tf.function(fn, input_signature=input_signature, autograph=False)
    traced.get_concrete_function()
    archive.add_endpoint(name, traced)
    return traced


def write(archive, path, default):
    """Writes the SavedModel with the string endpoint `default` as `serving_default`."""
    archive.add_endpoint("serving_default", default)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    archive.write_out(path, verbose=False)
    return path


def load(path):
    """What a serving process does: only TensorFlow (and TF Text for its ops)."""
    import tensorflow_text  # noqa: F401  registers the ops a WordPiece model uses

    return tf.saved_model.load(path)
