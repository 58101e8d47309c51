"""SavedModel export of a `Tagger`: tags for raw sentences.

    tag(sentences: string[batch])          -> {"tags": string[batch, T] ("" past each end),
                                               "lengths": int32[batch]}   (the default)
    tag_tokens(tokens: string[batch, T])   -> the same for pre-tokenized input, "" as padding

Sentences are split on whitespace. A numeric endpoint `tag_ids(token_ids, char_ids, case_ids)`
runs the model and the decoder (Viterbi for a CRF head) on the tracked weights; the string
endpoints preprocess with the model's vocabularies (lookup tables in the graph) around it.
"""

import tensorflow as tf
from keras import ops

from tasks import serving
from tasks.text import PAD_ID


def export(model, path):
    pre = model.preprocessor
    archive = serving.new_archive(model, pre._word_table, pre._char_table)

    def tag_ids(token_ids, char_ids, case_ids):
        mask = ops.not_equal(token_ids, PAD_ID)
        features = {"token_ids": token_ids, "char_ids": char_ids, "case_ids": case_ids,
                    "padding_mask": mask}
        return model.decode(model(features), mask)

    words = tf.TensorSpec((None, None), tf.int32)
    numeric = serving.numeric_endpoint(
        archive, "tag_ids", tag_ids,
        [words, tf.TensorSpec((None, None, pre.max_word_length), tf.int32), words],
        polymorphic_shapes=["(batch, t)", f"(batch, t, {pre.max_word_length})", "(batch, t)"])
    names = tf.constant(model.tags)

    def tag_tokens(tokens):
        # At least one column: an all-empty batch still has a (padding) step to run.
        tokens = tf.pad(tokens, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(tokens)[1])]])
        features = pre(tokens)
        ids = numeric(features["token_ids"], features["char_ids"], features["case_ids"])
        mask = features["padding_mask"]
        return {"tags": tf.where(mask, tf.gather(names, ids), ""),
                "lengths": tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)}

    def tag(sentences):
        return tag_tokens(tf.strings.split(sentences).to_tensor(""))

    serving.string_endpoint(archive, "tag_tokens", tag_tokens,
                            [tf.TensorSpec([None, None], tf.string)])
    default = serving.string_endpoint(archive, "tag", tag, [tf.TensorSpec([None], tf.string)])
    return serving.write(archive, path, default)
