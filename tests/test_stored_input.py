"""Training on stored uint8 batches: normalised inside the step exactly as on the host."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from colorkeras import color
from colorkeras.training.config import TrainConfig
from colorkeras.data.pipeline import PreparedDataset, make_py_dataset, make_tf_dataset
from colorkeras.models import build_model, load_model
from colorkeras.models.stored_input import NormalizeStored, StoredTargetLoss
from colorkeras.training.objectives import OBJECTIVES, get_objective
from colorkeras.training.train import compile_for_training, train

SIZE = 32


def tiny_config(**overrides) -> TrainConfig:
    values = dict(image_size=SIZE, epochs=2, batch_size=8, learning_rate=1e-3, mixed_precision="float32")
    return TrainConfig(**{**values, **overrides})


@pytest.mark.backend
# Objectives whose model output is ab itself; classification (fitted bins, logits out) goes
# through the same StoredTargetLoss in tests/test_objectives.py's end-to-end training test,
# confidence (ab and a log-variance out) in tests/test_default_model.py.
@pytest.mark.parametrize("objective", sorted(name for name in OBJECTIVES if not OBJECTIVES[name].needs_fit
                                              and OBJECTIVES[name].output_channels == 2))
def test_a_stored_batch_normalises_on_the_device_as_on_the_host(prepared_toy_city, objective):
    l_stored, ab_stored = make_py_dataset(prepared_toy_city, "train", batch_size=8, seed=2)[0]
    assert l_stored.dtype == ab_stored.dtype == np.uint8
    l_host, ab_host = color.stored_to_normalized(l_stored, ab_stored)  # the old way
    l_device = keras.ops.convert_to_numpy(NormalizeStored()(keras.ops.convert_to_tensor(l_stored)))
    assert l_device.dtype == np.float32
    np.testing.assert_allclose(l_device, l_host, rtol=0, atol=2e-7)

    # The target: the loss on uint8 ab is the objective's loss on the host-normalised ab.
    objective = get_objective(objective)
    loss = StoredTargetLoss(objective)
    target = objective.encode(ab_host)
    rng = np.random.default_rng(0)
    prediction = np.clip(target + rng.normal(0, 0.1, target.shape), -1, 1).astype(np.float32)
    reference = keras.losses.get(objective.loss)
    expected = (reference(target, prediction) if isinstance(reference, keras.losses.Loss)
                else np.mean(keras.ops.convert_to_numpy(reference(target, prediction))))
    got = float(keras.ops.convert_to_numpy(loss(ab_stored, prediction)))
    assert got > 1e-4
    np.testing.assert_allclose(got, float(expected), rtol=1e-5)
    assert float(keras.ops.convert_to_numpy(loss(ab_stored, target))) < 1e-10


@pytest.mark.backend
def test_training_on_stored_batches_matches_training_on_host_normalised_batches(prepared_toy_city):
    """The same network, weights, batches and steps: uint8 in (normalised in the step)
    against float32 normalised on the host as before; the losses agree step by step.

    Two steps: the first loss checks the forward pass, the second the first update. (Over
    more steps Adam's early, sign-like updates amplify float32 rounding, and the backends'
    XLA fusions round differently: the curves drift apart by about 1 % after four steps
    on JAX without either being wrong.)"""
    config = tiny_config()
    objective = get_objective(config.loss)
    keras.utils.set_random_seed(0)
    host_model = build_model("baseline", SIZE)
    host_model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, weight_decay=config.weight_decay),
                       loss=objective.loss, jit_compile=config.jit_compile)
    stored_model = build_model("baseline", SIZE)
    stored_model.set_weights(host_model.get_weights())
    trainable = compile_for_training(stored_model, config, objective)
    assert trainable.inputs[0].dtype == "uint8"

    data = make_py_dataset(prepared_toy_city, "train", batch_size=8, augment=True, seed=1)
    host_losses, stored_losses = [], []
    for index in range(2):
        l_stored, ab_stored = data[index]
        l_norm, ab_norm = color.stored_to_normalized(l_stored, ab_stored)
        host_losses.append(float(host_model.train_on_batch(l_norm, objective.encode(ab_norm))))
        stored_losses.append(float(trainable.train_on_batch(l_stored, ab_stored)))
    assert host_losses[-1] < host_losses[0]  # it learns
    np.testing.assert_allclose(stored_losses, host_losses, rtol=2e-5)


def test_fit_takes_batches_prefetched_to_a_device(prepared_toy_city):
    """tf.data with prefetch_to_device as its last step, as train() uses it on one GPU: fit
    on it takes the very steps a twin takes on the TF-free reader's batches (the same
    weights after three steps, the epoch's loss the mean of the twin's step losses), and
    the first step's loss is the MSE of the model's output on the host-normalised batch."""
    config = tiny_config()
    objective = get_objective(config.loss)
    keras.utils.set_random_seed(0)
    model, twin, probe = (build_model("baseline", SIZE) for _ in range(3))
    twin.set_weights(model.get_weights())
    probe.set_weights(model.get_weights())
    trainable = compile_for_training(model, config, objective)
    reference = compile_for_training(twin, config, objective)

    data = make_tf_dataset(prepared_toy_city, "train", batch_size=8, seed=0, augment=False, repeat=True,
                           device="/cpu:0")
    history = trainable.fit(data, epochs=1, steps_per_epoch=3, shuffle=False, verbose=0)
    batches = make_py_dataset(prepared_toy_city, "train", batch_size=8, seed=0, augment=False)
    l_norm, ab_norm = color.stored_to_normalized(*batches[0])
    direct = np.mean((keras.ops.convert_to_numpy(probe(l_norm, training=True)) - ab_norm) ** 2)
    losses = [float(reference.train_on_batch(*batches[index])) for index in range(3)]
    np.testing.assert_allclose(losses[0], direct, rtol=1e-5)
    np.testing.assert_allclose(history.history["loss"][0], np.mean(losses), rtol=1e-5)
    for trained, twin_weight in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(trained, twin_weight, rtol=1e-5, atol=1e-6)


@pytest.mark.backend
def test_best_keras_is_the_float_end_to_end_model_its_val_loss_says(prepared_toy_city, tmp_path):
    """train() fits on uint8; best.keras takes normalised float L and scores the val_loss
    recorded for it on the host-normalised validation split."""
    run = tmp_path / "run"
    train(prepared_toy_city, run, tiny_config(), verbose=0)
    best = json.loads((run / "best.json").read_text())
    model = load_model(run / "best.keras")
    assert model.inputs[0].dtype == "float32" and tuple(model.inputs[0].shape) == (None, SIZE, SIZE, 1)
    l_val, ab_val = PreparedDataset.open(prepared_toy_city).arrays("val")
    l_norm, ab_norm = color.stored_to_normalized(l_val[..., None], ab_val)
    prediction = model.predict(l_norm, verbose=0)
    np.testing.assert_allclose(np.mean((prediction - ab_norm) ** 2), best["val_loss"], rtol=1e-4)
