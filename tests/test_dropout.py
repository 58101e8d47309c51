"""`kerasrnn.Dropout`: Keras' dropout with a fast mask on TensorFlow; the same behaviour."""

import keras
import numpy as np

import kerasrnn


def test_training_mask_scales_kept_units_and_inference_is_identity():
    x = np.ones((64, 50, 30), "float32")
    layer = kerasrnn.Dropout(0.3, seed=1)
    y = np.asarray(layer(x, training=True))
    assert np.all((y == 0) | np.isclose(y, 1 / 0.7))
    assert abs((y == 0).mean() - 0.3) < 0.01  # 96,000 units
    assert not np.array_equal(y, np.asarray(layer(x, training=True)))  # a new mask per call
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(kerasrnn.Dropout(0.0)(x, training=True)), x)
    assert not np.asarray(kerasrnn.Dropout(1.0)(x, training=True)).any()


def test_noise_shape_shares_the_mask_along_its_none_free_axes():
    x = np.ones((8, 20, 16), "float32")
    y = np.asarray(kerasrnn.Dropout(0.5, noise_shape=(None, 1, None), seed=0)(x, training=True))
    np.testing.assert_array_equal(y, np.broadcast_to(y[:, :1], y.shape))
    assert 0 < (y == 0).mean() < 1


def test_same_variables_and_config_as_keras_dropout_and_round_trip(tmp_path):
    ours, theirs = kerasrnn.Dropout(0.2, seed=3), keras.layers.Dropout(0.2, seed=3)
    assert [v.shape for v in ours.variables] == [v.shape for v in theirs.variables]
    assert {k: v for k, v in ours.get_config().items() if k != "name"} == \
        {k: v for k, v in theirs.get_config().items() if k != "name"}
    model = keras.Sequential([keras.Input((4,)), kerasrnn.Dropout(0.5, seed=0),
                              keras.layers.Dense(1)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[0], kerasrnn.Dropout)


def test_trains_inside_a_compiled_step():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = x.sum(-1, keepdims=True)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32),
                              kerasrnn.Dropout(0.2, seed=0), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse", jit_compile=True)
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
