"""SavedModel export of a `Translator`: raw source strings in, translations out.

    translate(texts: string[batch])      -> string[batch]   greedy (the default signature)
    translate_beam(texts: string[batch]) -> string[batch]   beam search (the model's beam size
                                                             and length penalty)

The numeric endpoints `greedy_ids(source_ids)` and `beam_ids(source_ids)` hold the whole
decoding loop (encoder, decoder steps with the state as the cache, stopping at [EOS] or at
factor x source length + offset); the string endpoints tokenize and detokenize around them
with the model's vocabularies. Greedy decoding is beam search with one beam, which equals the
Keras model's keras-hub greedy sampler (tested).
"""

import tensorflow as tf

from tasks import serving
from tasks.text import PAD_ID


def export(model, path):
    src, tgt = model.source_tokenizer, model.target_tokenizer
    archive = serving.new_archive(model, src.resource, tgt.resource)
    ids_spec = [tf.TensorSpec((None, None), tf.int32)]
    greedy = serving.numeric_endpoint(archive, "greedy_ids",
                                      lambda ids: model.beam_search(ids, beam_size=1),
                                      ids_spec, polymorphic_shapes=["(batch, s)"])
    beam = serving.numeric_endpoint(archive, "beam_ids", lambda ids: model.beam_search(ids),
                                    ids_spec, polymorphic_shapes=["(batch, s)"])

    def source_ids(texts):
        ids = src.tokenize(texts)[:, : model.settings["max_source_length"]].to_tensor(PAD_ID)
        # At least one column: an empty text still has a (padding) step to encode.
        return tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])

    def detokenize(ids):
        return tgt.detokenize(tf.RaggedTensor.from_tensor(ids, padding=PAD_ID))

    strings = [tf.TensorSpec([None], tf.string)]
    serving.string_endpoint(archive, "translate_beam",
                            lambda texts: detokenize(beam(source_ids(texts))), strings)
    default = serving.string_endpoint(archive, "translate",
                                      lambda texts: detokenize(greedy(source_ids(texts))),
                                      strings)
    return serving.write(archive, path, default)
