"""SavedModel export of a `SentimentClassifier`: labels for raw strings.

    serve(texts: string[batch]) -> {"label": string[batch], "probabilities": float32[batch, k]}

(the default signature). A numeric endpoint `probabilities(token_ids)` runs the model on the
tracked weights; `serve` normalizes, splits, truncates and looks words up with the model's
vocabulary (a lookup table in the graph) around it. An empty text has one padding step and
gets the model's no-evidence prediction; a very long one is truncated to `max_length` tokens.
"""

import tensorflow as tf
from keras import ops

from tasks import serving
from tasks.text import PAD_ID


def export(model, path):
    pre = model.preprocessor
    archive = serving.new_archive(model, pre.tokenizer._table)

    def probabilities(token_ids):
        features = {"token_ids": token_ids, "padding_mask": ops.not_equal(token_ids, PAD_ID)}
        return ops.softmax(model(features), axis=-1)

    numeric = serving.numeric_endpoint(archive, "probabilities", probabilities,
                                       [tf.TensorSpec((None, None), tf.int32)],
                                       polymorphic_shapes=["(batch, t)"])
    names = tf.constant(model.labels)

    def serve(texts):
        p = numeric(pre(texts)["token_ids"])
        return {"label": tf.gather(names, tf.argmax(p, axis=-1, output_type=tf.int32)),
                "probabilities": p}

    default = serving.string_endpoint(archive, "serve", serve, [tf.TensorSpec([None], tf.string)])
    return serving.write(archive, path, default)
