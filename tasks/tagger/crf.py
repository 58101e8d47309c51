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

from kerasrnn.ops import scan


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
        # ops.copy: TensorFlow's custom_gradient needs read tensors, not variables.
        log_z = ops.custom_gradient(_log_partition)(
            phi, m, *(ops.copy(v) for v in (self.transitions, self.start, self.end)))
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
        trans, start = ops.convert_to_tensor(self.transitions), ops.convert_to_tensor(self.start)
        k = self.num_tags
        identity = ops.cast(ops.arange(k), "float32")[None]  # padded steps point to themselves

        def forward(carry, xs):
            (delta,), (phi_t, m_t, first) = carry, xs
            scores = delta[:, :, None] + trans[None]  # (batch, from, to)
            new = first * start + (1.0 - first) * ops.max(scores, axis=1) + phi_t
            pointers = ops.cast(ops.argmax(scores, axis=1), "float32")
            keep = m_t * (1.0 - first)
            delta = m_t * new + (1.0 - m_t) * delta
            return (delta,), (keep * pointers + (1.0 - keep) * identity,)

        (delta,), (pointers,) = scan(
            forward, (ops.zeros_like(phi[0]),), (phi, m, _first_step(phi)), n_ys=1)
        last = ops.cast(ops.argmax(delta + ops.convert_to_tensor(self.end)[None], axis=-1),
                        "float32")

        def backward(carry, xs):  # the tag at step t, then the pointer back to step t-1
            (tag,), (pointers_t,) = carry, xs
            previous = ops.sum(ops.one_hot(ops.cast(tag, "int32"), k) * pointers_t, axis=-1)
            return (previous,), (tag,)

        _, (tags,) = scan(backward, (last,), (pointers,), n_ys=1, reverse=True)
        tags = ops.transpose(ops.cast(tags, "int32"), (1, 0))
        return tags * ops.cast(mask_bm, "int32")

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags}


def _first_step(phi):
    """(T, 1, 1): 1 at t = 0. The recursions run over all T steps (not T - 1, which may be 0:
    a symbolic length in an exported graph must stay >= 1)."""
    steps = ops.arange(ops.shape(phi)[0])
    return ops.cast(ops.equal(steps, 0), phi.dtype)[:, None, None]


def _log_partition(phi, m, trans, start, end):
    """log Σ_y exp score(y) per sentence, with the forward-backward gradient: the derivative of
    log Z is the expected count of each potential (the tag marginals P(y_t = j), pair marginals
    P(y_{t-1} = i, y_t = j)), so no loop is differentiated (on TensorFlow, XLA cannot
    differentiate a while loop over TensorArrays) and the backward pass is one reverse scan."""

    def forward(carry, xs):
        (alpha,), (phi_t, m_t, first) = carry, xs
        through = ops.logsumexp(alpha[:, :, None] + trans[None], axis=1)
        new = first * start + (1.0 - first) * through + phi_t
        alpha = m_t * new + (1.0 - m_t) * alpha
        return (alpha,), (alpha,)

    first = _first_step(phi)
    (alpha_last,), (alphas,) = scan(forward, (ops.zeros_like(phi[0]),), (phi, m, first), n_ys=1)
    log_z = ops.logsumexp(alpha_last + end[None], axis=-1)

    def grad(upstream, **kwargs):
        end_b = ops.broadcast_to(end[None], ops.shape(alpha_last))
        # phi_{t+1} and m_{t+1} at step t (nothing after the last step).
        phi_next = ops.concatenate([phi[1:], ops.zeros_like(phi[:1])], axis=0)
        m_next = ops.concatenate([m[1:], ops.zeros_like(m[:1])], axis=0)

        def backward(carry, xs):  # beta_t from beta_{t+1}; past a sentence's end: `end`
            (beta,), (phi_n, m_n) = carry, xs
            through = ops.logsumexp(trans[None] + (phi_n + beta)[:, None, :], axis=-1)
            beta = m_n * through + (1.0 - m_n) * end_b
            return (beta,), (beta,)

        _, (betas,) = scan(backward, (end_b,), (phi_next, m_next), n_ys=1, reverse=True)
        z = log_z[None, :, None]
        w = upstream[None, :, None]
        unary = ops.exp(alphas + betas - z) * m  # P(y_t = j)
        pairs = ops.exp(alphas[:-1, :, :, None] + trans[None, None]
                        + (phi[1:] + betas[1:])[:, :, None, :] - z[..., None]) * m[1:, :, :, None]
        final = ops.exp(alpha_last + end[None] - log_z[:, None])  # P(y_n = j)
        return (w * unary, ops.zeros_like(m), ops.einsum("tbij,b->ij", pairs, upstream),
                ops.einsum("bj,b->j", unary[0], upstream), ops.einsum("bj,b->j", final, upstream))

    return log_z, grad
