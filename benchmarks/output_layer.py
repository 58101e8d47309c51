"""What the language model's vocabulary output layer costs in a training step, and whether a
softmax cross-entropy with a hand-written gradient makes it cheaper.

    python benchmarks/output_layer.py                   # both backends, one table each
    python benchmarks/output_layer.py --backends jax --rounds 5 --preset best

Two tables per backend, milliseconds per step (the fastest of `--rounds` rounds):

- **In the step**: `model.fit` steps of the language model (`--preset`, default `default`:
  2 x 200 LSTM, tied embeddings, 20 x 20 tokens a batch, SGD, the packaged PTB vocabulary's
  size of 10,000) on random token ids, with the loss and metrics swapped:
  `keras` is the task's `compile()` defaults (Keras' sparse cross-entropy and keras-hub's
  `Perplexity` metric, which computes a second cross-entropy in the forward pass);
  `no metric` drops the metric; `hand-written gradient` is `softmax_cross_entropy` below;
  `logsumexp` writes the loss as logsumexp(logits) - logits[label] for autodiff; `no softmax`
  replaces the cross-entropy by a linear function of the logits, so that what is left is
  the rest of the step (the output matmuls included).
- **Alone**: one compiled function from the last layer's (tokens, units) states to the
  gradients of the output layer (the tied (vocabulary, units) matrix and the bias): the two
  vocabulary-sized matmuls alone (`matmuls`), then with each cross-entropy.

`softmax_cross_entropy` is the textbook fused loss: the forward pass keeps exp(z - max) and
its sum, the backward pass is softmax - one-hot, scaled by the upstream gradient, with no
log-softmax kept and no second softmax. It lives here, not in the tasks, because it did not
pay (see the README's PTB section).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from budget import backend_parser, per_backend  # noqa: E402

VOCABULARY = 10_000


def softmax_cross_entropy(labels, logits):
    """Per-position cross-entropy of (..., V) logits with a hand-written gradient."""
    from keras import ops

    shape = ops.shape(logits)
    flat_labels = ops.reshape(ops.cast(labels, "int32"), (-1,))

    @ops.custom_gradient
    def loss(z):
        top = ops.stop_gradient(ops.max(z, axis=-1, keepdims=True))
        e = ops.exp(z - top)
        total = ops.sum(e, axis=-1, keepdims=True)
        picked = ops.take_along_axis(z, flat_labels[:, None], axis=-1)
        nll = (top + ops.log(total) - picked)[:, 0]

        def grad(upstream, **kwargs):
            g = upstream[:, None]
            one_hot = ops.one_hot(flat_labels, shape[-1], dtype=z.dtype)
            return e * (g / total) - one_hot * g

        return nll, grad

    return ops.reshape(loss(ops.reshape(logits, (-1, shape[-1]))), shape[:-1])


def logsumexp_cross_entropy(labels, logits):
    from keras import ops

    labels = ops.cast(labels, "int32")[..., None]
    return ops.logsumexp(logits, axis=-1) - ops.take_along_axis(logits, labels, axis=-1)[..., 0]


def linear_stand_in(labels, logits):
    from keras import ops

    return ops.mean(logits, axis=-1) * 1e-3


def _loss(fn):
    import keras

    class Loss(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return fn(y_true, y_pred)

    return Loss(reduction="mean_with_sample_weight")


def in_the_step(preset, rounds, steps):
    import keras
    import numpy as np
    import tensorflow as tf

    from tasks import language_model as lm
    from tasks.tokenizers import TextTokenizer, build_vocabulary

    config = lm.PRESETS[preset]
    tokenizer = TextTokenizer(build_vocabulary([[f"w{i}" for i in range(VOCABULARY - 4)]]))
    vocabulary = tokenizer.vocabulary_size
    batch, length = config.batch_size, config.num_steps
    rng = np.random.default_rng(0)
    ids = rng.integers(3, vocabulary, (batch * steps, length + 1)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices(
        (ids[:, :-1], ids[:, 1:], np.ones((batch * steps, length), "float32"))
    ).batch(batch, drop_remainder=True).cache().repeat()
    variants = {
        "keras": {},
        "no metric": {"weighted_metrics": []},
        "hand-written gradient": {"loss": _loss(softmax_cross_entropy), "weighted_metrics": []},
        "logsumexp": {"loss": _loss(logsumexp_cross_entropy), "weighted_metrics": []},
        "no softmax": {"loss": _loss(linear_stand_in), "weighted_metrics": []},
    }
    models = {}
    for name, options in variants.items():
        keras.utils.set_random_seed(0)
        model = lm.build_model(config, tokenizer, total_steps=10 * steps * rounds)
        model.compile(model.optimizer, **options)
        model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # compile
        models[name] = model
    best = {name: float("inf") for name in variants}
    for _ in range(rounds):  # interleaved: the machine has slow phases
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
            best[name] = min(best[name], (time.perf_counter() - start) / steps * 1e3)
    return best, batch * length, config.units


def alone(tokens, units, rounds, repeats=20):
    import keras
    import numpy as np
    from keras import ops

    rng = np.random.default_rng(0)
    h = rng.normal(size=(tokens, units)).astype("float32")
    w = (rng.normal(size=(VOCABULARY, units)) * 0.1).astype("float32")
    b = np.zeros(VOCABULARY, "float32")
    labels = rng.integers(0, VOCABULARY, tokens).astype("int32")

    def keras_cross_entropy(y, z):
        return keras.losses.sparse_categorical_crossentropy(y, z, from_logits=True)

    losses = {"matmuls": linear_stand_in, "+ keras cross-entropy": keras_cross_entropy,
              "+ hand-written gradient": softmax_cross_entropy,
              "+ logsumexp": logsumexp_cross_entropy}

    def objective(fn):
        def f(h, w, b):
            logits = ops.matmul(h, ops.transpose(w)) + b
            return ops.mean(fn(labels, logits))
        return f

    if keras.backend.backend() == "jax":
        import jax

        compiled = {name: jax.jit(jax.value_and_grad(objective(fn), argnums=(0, 1, 2)))
                    for name, fn in losses.items()}

        def run(f):
            return jax.block_until_ready(f(h, w, b))
    else:
        import tensorflow as tf

        def gradients(fn):
            f = objective(fn)

            @tf.function(jit_compile=True)
            def g(h, w, b):
                with tf.GradientTape() as tape:
                    tape.watch([h, w, b])
                    value = f(h, w, b)
                return value, tape.gradient(value, [h, w, b])
            return g

        compiled = {name: gradients(fn) for name, fn in losses.items()}
        h, w, b = map(tf.constant, (h, w, b))

        def run(f):
            return [np.asarray(t) for t in tf.nest.flatten(f(h, w, b))]

    reference = [np.asarray(t) for t in _flat(run(compiled["+ keras cross-entropy"]))]
    for name in ("+ hand-written gradient", "+ logsumexp"):
        for a, c in zip(reference, _flat(run(compiled[name]))):
            np.testing.assert_allclose(np.asarray(c), a, rtol=1e-4, atol=1e-6)
    best = {name: float("inf") for name in losses}
    for _ in range(rounds):
        for name, f in compiled.items():
            start = time.perf_counter()
            for _ in range(repeats):
                run(f)
            best[name] = min(best[name], (time.perf_counter() - start) / repeats * 1e3)
    return best


def _flat(values):
    if isinstance(values, (list, tuple)):
        return [x for v in values for x in _flat(v)]
    return [values]


def child(args):
    step, tokens, units = in_the_step(args.preset, args.rounds, args.steps)
    print(json.dumps({"step": step, "alone": alone(tokens, units, args.rounds),
                      "tokens": tokens}))


def table(title, times, reference):
    print(f"\n{title}\n\n| variant | ms per step | vs {reference} |\n|---|---:|---:|")
    for name, ms in times.items():
        print(f"| {name} | {ms:.1f} | {ms / times[reference]:.2f}× |")


def main():
    parser = backend_parser(__doc__)
    parser.add_argument("--preset", default="default", help="a language-model preset")
    parser.add_argument("--steps", type=int, default=30, help="train steps a round")
    args = parser.parse_args()
    if args.child:
        return child(args)
    results = per_backend(__file__, ["--preset", args.preset, "--rounds", args.rounds,
                                     "--steps", args.steps], args.backends, args.default_malloc)
    for backend, result in results.items():
        table(f"{backend}: language-model train step (`{args.preset}`, {result['tokens']} "
              "tokens a batch)", result["step"], "keras")
        table(f"{backend}: the output layer alone (forward and gradients)", result["alone"],
              "matmuls")


if __name__ == "__main__":
    main()
