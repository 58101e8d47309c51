"""A linear-chain conditional random field as a Keras 3 layer (keras.ops, both backends).

For potentials φ (batch, T, K) from a tagger and a tag sequence y of a sentence of length n,

    score(y) = start[y_1] + Σ_{t=1..n} φ[t, y_t] + Σ_{t=2..n} A[y_{t-1}, y_t] + end[y_n]
    log p(y | x) = score(y) - log Σ_{y'} exp score(y')          (forward algorithm)
    ŷ = argmax_y score(y)                                        (Viterbi)

Each sentence uses its own length: `mask` (batch, T) marks the real tokens, which must come
first (right padding). At padded steps the forward and Viterbi recursions carry their state
over unchanged, and decoded tags there are 0.
"""

import keras
from keras import ops

from kerasrnn._scan import scan


@keras.saving.register_keras_serializable(package="kerasrnn")
class CRF(keras.layers.Layer):
    """Linear-chain CRF: transition weights, negative log-likelihood and Viterbi decoding.

    Args:
        num_tags: K, the number of tags.

    Call arguments:
        potentials: `(batch, T, K)`; returned unchanged (the layer owns the transition weights
            that `log_likelihood` and `decode` add).

    Example:
        >>> crf = CRF(5)
        >>> nll = -crf.log_likelihood(potentials, tags, mask)  # doctest: +SKIP
        >>> best = crf.decode(potentials, mask)                # doctest: +SKIP
    """

    def __init__(self, num_tags, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_tags, int) or num_tags < 1:
            raise ValueError(f"`num_tags` must be a positive integer. Received: "
                             f"num_tags={num_tags!r}")
        self.num_tags = num_tags

    def build(self, input_shape=None):
        k = self.num_tags
        self.transitions = self.add_weight(shape=(k, k), initializer="zeros", name="transitions")
        self.start = self.add_weight(shape=(k,), initializer="zeros", name="start")
        self.end = self.add_weight(shape=(k,), initializer="zeros", name="end")

    def call(self, potentials):
        return potentials

    def _time_major(self, potentials, mask):
        potentials = ops.convert_to_tensor(potentials, "float32")
        if mask is None:
            mask = ops.ones(ops.shape(potentials)[:2])
        m = ops.cast(mask, "float32")
        return ops.transpose(potentials, (1, 0, 2)), ops.transpose(m, (1, 0))[..., None], m

    def log_likelihood(self, potentials, tags, mask=None):
        """log p(tags | potentials) per sentence, (batch,); 0 for a sentence with no tokens."""
        phi, m, mask_bm = self._time_major(potentials, mask)
        trans = ops.convert_to_tensor(self.transitions)
        alpha0 = ops.convert_to_tensor(self.start) + phi[0]

        def step(carry, xs):
            (alpha,), (phi_t, m_t) = carry, xs
            new = ops.logsumexp(alpha[:, :, None] + trans[None], axis=1) + phi_t
            alpha = m_t * new + (1.0 - m_t) * alpha
            return (alpha,), (alpha,)

        (alpha,), _ = scan(step, (alpha0,), (phi[1:], m[1:]), n_ys=1)
        log_z = ops.logsumexp(alpha + ops.convert_to_tensor(self.end)[None], axis=-1)
        return self._score(potentials, tags, mask_bm) - log_z * ops.max(mask_bm, axis=1)

    def _score(self, potentials, tags, m):
        tags = ops.cast(tags, "int32")
        k = self.num_tags
        one_hot = ops.one_hot(tags, k)  # (batch, T, K)
        emissions = ops.sum(ops.sum(one_hot * potentials, -1) * m, axis=1)
        pairs = ops.einsum("bti,ij,btj->bt", one_hot[:, :-1], ops.convert_to_tensor(
            self.transitions), one_hot[:, 1:])
        transitions = ops.sum(pairs * m[:, 1:], axis=1)
        lengths = ops.cast(ops.sum(m, axis=1), "int32")
        last = ops.take_along_axis(tags, ops.maximum(lengths - 1, 0)[:, None], axis=1)[:, 0]
        start = ops.take(ops.convert_to_tensor(self.start), tags[:, 0])
        end = ops.take(ops.convert_to_tensor(self.end), last)
        return (emissions + transitions + start + end) * ops.max(m, axis=1)

    def decode(self, potentials, mask=None):
        """The highest-scoring tag sequence of each sentence (Viterbi), (batch, T) int32."""
        phi, m, mask_bm = self._time_major(potentials, mask)
        trans = ops.convert_to_tensor(self.transitions)
        k = self.num_tags
        identity = ops.cast(ops.arange(k), "float32")[None]  # padded steps point to themselves

        def forward(carry, xs):
            (delta,), (phi_t, m_t) = carry, xs
            scores = delta[:, :, None] + trans[None]  # (batch, from, to)
            best = ops.cast(ops.argmax(scores, axis=1), "float32")
            new = ops.max(scores, axis=1) + phi_t
            delta = m_t * new + (1.0 - m_t) * delta
            pointers = m_t * best + (1.0 - m_t) * identity
            return (delta,), (pointers,)

        delta0 = ops.convert_to_tensor(self.start) + phi[0]
        (delta,), (pointers,) = scan(forward, (delta0,), (phi[1:], m[1:]), n_ys=1)
        last = ops.cast(ops.argmax(delta + ops.convert_to_tensor(self.end)[None], axis=-1),
                        "float32")

        def backward(carry, xs):
            (tag,), (pointers_t,) = carry, xs
            previous = ops.sum(ops.one_hot(ops.cast(tag, "int32"), k) * pointers_t, axis=-1)
            return (previous,), (tag,)

        (first,), (tags,) = scan(backward, (last,), (pointers,), n_ys=1, reverse=True)
        # `tags[t]` is the tag at step t+1; step 0's tag is what the backtrack ended on.
        tags = ops.concatenate([first[None], tags], axis=0)
        tags = ops.transpose(ops.cast(tags, "int32"), (1, 0))
        return tags * ops.cast(mask_bm, "int32")

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags}
