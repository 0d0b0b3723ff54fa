"""Model families: the shared contract test every registered family passes, the study's
structure and parameter count, fusion graphs, loading old and damaged files, both backends."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from colorkeras.models import FAMILIES, Colorizer, build_model, load_model
from colorkeras.models.extractors import build_extractor

SIZE = 32
FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.backend

# The smallest arguments that build each registered family with random weights. A new
# family must add its line here: the shared test below checks that every one has one.
FAMILY_TEST_ARGS = {
    "baseline": {},
    "inception_fusion": {"extractor_weights": None},
    "vit_fusion": {"extractor_weights": None, "extractor_size": "tiny"},
    "unet": {"base_filters": 8, "depth": 2},
    "efficient": {"base_filters": 8, "depth": 2},
    "exemplar": {"base_filters": 8, "depth": 2},
}


def _all_layers(model):
    """Every layer of a model, nested models' layers included, in graph order."""
    for layer in model.layers:
        yield from _all_layers(layer) if hasattr(layer, "layers") and layer.layers else (layer,)


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _l_batch(n=2, size=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 1)).astype("float32")


def _model_inputs(model, l_batch):
    """What ``model`` takes for a batch of L: L alone, or, for a family with more inputs
    (the exemplar family's reference L and ab), L and seeded values in [-1, 1] for each."""
    if len(model.inputs) == 1:
        return l_batch
    rng = np.random.default_rng(7)
    return [l_batch] + [rng.uniform(-1, 1, (len(l_batch),) + tuple(t.shape[1:])).astype("float32")
                        for t in model.inputs[1:]]


def _as_json(config):
    """The JSON form (saving turns tuples into lists), without compile settings: keras-hub's
    ViT task compiles itself, and its optimizer's auto-generated name is not architecture."""

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "compile_config"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(json.dumps(config, default=str)))


def _build(name, **overrides):
    return FAMILIES[name].build(image_size=SIZE, **{**FAMILY_TEST_ARGS[name], **overrides})


# ------------------------------------------------------------------------------------
# The shared contract test (keras-hub's run_backbone_test / serialization / precision)
# ------------------------------------------------------------------------------------
def test_every_registered_family_has_test_arguments():
    assert set(FAMILY_TEST_ARGS) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(FAMILY_TEST_ARGS))
def test_family_contract_build_train_config_and_save_round_trips(name, tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    model = _build(name)
    assert isinstance(model, Colorizer) and model.family == name
    assert model.image_size == SIZE and model.output_channels == 2
    x = _model_inputs(model, _l_batch(4))
    ab = np.asarray(model.predict(x, verbose=0))
    assert ab.shape == (4, SIZE, SIZE, 2) and ab.dtype == np.float32 and np.abs(ab).max() <= 1.0

    # Training the training graph trains the model (they share every trainable weight).
    trainable = model.training_graph()
    assert {id(v) for v in trainable.trainable_weights} == {id(v) for v in model.trainable_weights}
    trainable.compile(optimizer="adam", loss="mse")
    inputs = x if model.extractor is None else [x, np.asarray(model.extractor_model.predict(x, verbose=0))]
    before = [np.array(v) for v in model.trainable_weights]
    trainable.fit(inputs, np.zeros((4, SIZE, SIZE, 2), "float32"), epochs=1, verbose=0)
    assert any(not np.allclose(b, np.array(v)) for b, v in zip(before, model.trainable_weights))
    assert getattr(model, "optimizer", None) is None  # the model stays uncompiled: it saves without Adam's state

    # get_config round trip: the same family, arguments and architecture.
    clone = type(model).from_config(model.get_config())
    assert type(clone) is type(model) and _as_json(clone.get_config()) == _as_json(model.get_config())
    assert _count(clone.weights) == _count(model.weights)

    # .keras round trip in safe mode: the same family, config and predictions.
    path = tmp_path / f"{name}.keras"
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_model(path)
    # Keras' "compile() was not called" (a nested model's compile config) is not for users:
    # colorkeras never compiles a model it loads.
    assert not [w for w in caught if "compile()" in str(w.message)], [str(w.message) for w in caught]
    assert type(loaded) is type(model) and loaded.family == name
    assert _as_json(loaded.get_config()) == _as_json(model.get_config())
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", sorted(FAMILY_TEST_ARGS))
def test_family_forward_pass_in_mixed_precision(name, policy):
    import keras

    if (keras.backend.backend() == "jax" and policy == "mixed_float16" and name == "vit_fusion"
            and __import__("jax").devices()[0].platform == "cpu"):
        pytest.skip("JAX on a CPU has no float16 matrix product (dot_general F16_F16_F32), which the ViT's "
                    "dense layers need; float16 is for GPUs, and this case runs on TensorFlow")

    reference = _build(name)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        mixed = _build(name)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    first_conv = next(layer for layer in _all_layers(mixed) if isinstance(layer, keras.layers.Conv2D))
    assert first_conv.compute_dtype == policy.removeprefix("mixed_")
    mixed.set_weights(reference.get_weights())
    x = _model_inputs(mixed, _l_batch(2))
    out = np.asarray(mixed.predict(x, verbose=0))
    # The output layers stay float32, so ab is never rounded to half precision.
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    tolerance = 0.02 if policy == "mixed_float16" else 0.08  # bfloat16 keeps 8 bits of mantissa
    np.testing.assert_allclose(out, reference.predict(x, verbose=0), atol=tolerance)


# ------------------------------------------------------------------------------------
# The study's models
# ------------------------------------------------------------------------------------
def test_baseline_has_the_studys_parameter_count_with_three_channels():
    assert _count(build_model("baseline", 256, input_channels=3).trainable_weights) == 6_257_954
    # One channel: the first conv loses 2 x 9 x 64 weights, nothing else changes.
    assert _count(build_model("baseline", 256).trainable_weights) == 6_257_954 - 1_152


@pytest.mark.parametrize("size", [8, 40])
def test_baseline_maps_any_multiple_of_eight_to_ab_in_range(size):
    model = build_model("baseline", size)
    ab = np.asarray(model.predict(_l_batch(2, size), verbose=0))
    assert ab.shape == (2, size, size, 2) and np.abs(ab).max() <= 1.0
    assert model.get_layer("encoder").output.shape[1:] == (size // 8, size // 8, 256)


def test_bad_sizes_and_names_raise_value_error():
    with pytest.raises(ValueError, match="multiple of 8"):
        build_model("baseline", 30)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", 32)


@pytest.mark.parametrize("name", ["inception_fusion", "vit_fusion"])
def test_fusion_training_graph_equals_end_to_end_and_extractor_is_frozen(name):
    model = _build(name)
    extractor = model.extractor_model
    assert model.extractor == {"inception_fusion": "inception_v3", "vit_fusion": "vit_b16"}[name]
    assert extractor.trainable_weights == [] and extractor.output.shape[-1] == 1000
    trainable = model.training_graph()
    x = _l_batch()
    embedding = np.asarray(extractor.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, verbose=0), trainable.predict([x, embedding], verbose=0), atol=1e-5)
    # Fusion adds exactly the 1x1 conv over (256 + 1000) channels to the baseline.
    extra = _count(model.trainable_weights) - _count(build_model("baseline", SIZE).trainable_weights)
    assert extra == (256 + 1000) * 256 + 256


def test_a_baseline_saved_before_families_were_classes_loads_and_predicts_the_same():
    expected = np.load(FIXTURES / "legacy_baseline_16px_expected.npz")
    model = load_model(FIXTURES / "legacy_baseline_16px.keras")
    assert type(model).__name__ == "Baseline" and model.family == "baseline"
    assert (model.image_size, model.input_channels) == (16, 3)
    assert _count(model.trainable_weights) == 6_257_954
    np.testing.assert_allclose(model.predict(expected["l_norm"], verbose=0), expected["ab_norm"], atol=1e-6)


def test_vit_b16_extractor_is_the_real_architecture():
    extractor = build_extractor("vit_b16", SIZE, weights=None)
    params = _count(extractor.non_trainable_weights)
    assert 86_000_000 < params < 87_000_000  # ViT-B/16 with a 1000-class head: 86.6 M


def test_inception_extractor_sees_the_grey_photo_at_299():
    extractor = build_extractor("inception_v3", SIZE, weights=None)
    assert extractor.get_layer("inception_v3").input.shape[1:] == (299, 299, 3)
    from colorkeras import color

    l_norm = _l_batch(1)
    grey = np.asarray(extractor.get_layer("grey_rgb")(l_norm))
    # The grey sRGB photo of that lightness, computed independently with scikit-image.
    from skimage.color import lab2rgb

    lab = np.concatenate([color.denormalize_l(l_norm), np.zeros_like(l_norm), np.zeros_like(l_norm)], axis=-1)
    expected = lab2rgb(lab[0].astype(np.float64))[None]
    np.testing.assert_allclose(grey, expected, atol=2e-4)
    scaled = np.asarray(extractor.get_layer("scale")(extractor.get_layer("resize")(grey)))
    assert scaled.shape == (1, 299, 299, 3) and -1.0 <= scaled.min() and scaled.max() <= 1.0


def test_offline_imagenet_weights_fail_with_a_clear_message(tmp_path, monkeypatch):
    from colorkeras.models.extractors import WeightsUnavailableError

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache: Keras must download
    with pytest.raises(WeightsUnavailableError, match="Could not download the InceptionV3"):
        build_extractor("inception_v3", SIZE, weights="imagenet")
    with pytest.raises(WeightsUnavailableError, match="vit-base-patch16-224"):
        build_extractor("vit_b16", SIZE, weights=tmp_path / "no-such-folder")


def _write_hugging_face_vit(folder, hidden=32, heads=2, mlp=64, layers=2, seed=0):
    """A small checkpoint in the layout of google/vit-base-patch16-224 (config.json +
    model.safetensors with the transformers weight names), with random weights."""
    import json

    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)

    def weights(*shape):
        return rng.normal(0, 0.02, shape).astype("float32")

    tensors = {
        "vit.embeddings.patch_embeddings.projection.weight": weights(hidden, 3, 16, 16),
        "vit.embeddings.patch_embeddings.projection.bias": weights(hidden),
        "vit.embeddings.cls_token": weights(1, 1, hidden),
        "vit.embeddings.position_embeddings": weights(1, 197, hidden),
        "vit.layernorm.weight": 1 + weights(hidden),
        "vit.layernorm.bias": weights(hidden),
        "classifier.weight": weights(1000, hidden),
        "classifier.bias": weights(1000),
    }
    for i in range(layers):
        prefix = f"vit.encoder.layer.{i}"
        for name in ("query", "key", "value"):
            tensors[f"{prefix}.attention.attention.{name}.weight"] = weights(hidden, hidden)
            tensors[f"{prefix}.attention.attention.{name}.bias"] = weights(hidden)
        tensors[f"{prefix}.attention.output.dense.weight"] = weights(hidden, hidden)
        tensors[f"{prefix}.attention.output.dense.bias"] = weights(hidden)
        for norm in ("layernorm_before", "layernorm_after"):
            tensors[f"{prefix}.{norm}.weight"] = 1 + weights(hidden)
            tensors[f"{prefix}.{norm}.bias"] = weights(hidden)
        tensors[f"{prefix}.intermediate.dense.weight"] = weights(mlp, hidden)
        tensors[f"{prefix}.intermediate.dense.bias"] = weights(mlp)
        tensors[f"{prefix}.output.dense.weight"] = weights(hidden, mlp)
        tensors[f"{prefix}.output.dense.bias"] = weights(hidden)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "model.safetensors"))
    config = {
        "model_type": "vit", "architectures": ["ViTForImageClassification"], "image_size": 224,
        "patch_size": 16, "num_channels": 3, "num_hidden_layers": layers, "num_attention_heads": heads,
        "hidden_size": hidden, "intermediate_size": mlp, "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "qkv_bias": True, "layer_norm_eps": 1e-12,
        "id2label": {str(i): f"class {i}" for i in range(1000)},
    }
    (folder / "config.json").write_text(json.dumps(config))
    return tensors


def test_vit_loads_a_local_hugging_face_checkpoint_with_its_epsilon(tmp_path):
    tensors = _write_hugging_face_vit(tmp_path / "vit-hf")
    extractor = build_extractor("vit_b16", SIZE, weights=tmp_path / "vit-hf")
    classifier = extractor.get_layer("vit_b16")
    assert classifier.backbone.layer_norm_epsilon == 1e-12  # the checkpoint's, not keras-hub's 1e-6
    np.testing.assert_allclose(np.asarray(classifier.output_dense.kernel), tensors["classifier.weight"].T)
    np.testing.assert_allclose(np.asarray(classifier.output_dense.bias), tensors["classifier.bias"])
    logits = np.asarray(extractor.predict(_l_batch(2), verbose=0))
    assert logits.shape == (2, 1000) and np.all(np.isfinite(logits))
    assert extractor.trainable_weights == []


# ------------------------------------------------------------------------------------
# load_model: every way a saved model can be unusable gives one clear error
# ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_keras_file(tmp_path_factory):
    """A small saved model that is not a colorizer (damaging it is what matters here)."""
    import keras

    inputs = keras.Input((8, 8, 1))
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    keras.Model(inputs, keras.layers.Conv2D(2, 3, padding="same")(inputs), name="tiny").save(path)
    return path


def test_load_model_names_a_missing_file(tmp_path):
    from colorkeras.errors import ColorkerasError

    from colorkeras.training.run import model_file

    with pytest.raises(ColorkerasError, match="no saved model at .*best.keras"):
        model_file(tmp_path)  # a run folder without best.keras
    with pytest.raises(ColorkerasError, match="no saved model at "):
        load_model(tmp_path)  # a folder is no model file
    with pytest.raises(ColorkerasError, match="no saved model at .*nothing.keras"):
        load_model(tmp_path / "nothing.keras")


def test_load_model_says_a_damaged_file_is_damaged(tiny_keras_file, tmp_path):
    from colorkeras.models.registry import ModelLoadError

    data = tiny_keras_file.read_bytes()
    cases = {
        "empty.keras": (b"", "0 bytes.*the file is empty"),
        "truncated.keras": (data[: len(data) // 2], f"{len(data) // 2:,} bytes.*not a complete zip"),
        "text.keras": (b"just some notes\n", "16 bytes.*not a complete zip"),
    }
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ModelLoadError, match=f"{name} \\({reason}") as caught:
            load_model(tmp_path / name)
        message = str(caught.value)
        assert "damaged or not a Keras model" in message and "best.keras" in message
        assert "File not found" not in message  # Keras' misleading words are not passed on
    # The intact file loads, and is then refused for what it is: no colorizer.
    with pytest.raises(ModelLoadError, match="'tiny' is not a colorkeras colorizer"):
        load_model(tiny_keras_file)


def test_load_model_refuses_code_in_safe_mode(tmp_path):
    import keras

    from colorkeras.models.registry import ModelLoadError

    inputs = keras.Input((8, 8, 1))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(path)
    with pytest.raises(ModelLoadError, match=r"refused to load .*lambda.keras \(safe mode\)"):
        load_model(path)


def _rewrite_config(path, change):
    """Rewrite the config.json inside a .keras archive with ``change(config)`` (a crafted file)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config["config"])
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("name, arguments, weights", [
    ("vit_fusion", {}, "hf://someone/preset"),
    ("inception_fusion", {}, "imagenet"),
    ("unet", {"extractor": "vit_b16", "extractor_weights": None, "extractor_size": "tiny"}, "imagenet"),
])
def test_loading_a_model_never_downloads_extractor_weights(name, arguments, weights, tmp_path, monkeypatch):
    """Issue 22: a .keras file carries its weights. A crafted config that names pretrained
    extractor weights (and drops the saved extractor network) must not make loading fetch them."""
    import socket

    import keras
    import keras_hub.src.utils.preset_utils as preset_utils
    from keras.src.utils import file_utils

    keras.utils.set_random_seed(3)
    model = _build(name, **arguments)
    path = tmp_path / "crafted.keras"
    model.save(path)

    def craft(config):
        del config["extractor_network"]
        config["extractor_weights"] = weights

    _rewrite_config(path, craft)
    fetched = []

    def refuse(*args, **kwargs):
        fetched.append(args)
        raise AssertionError(f"loading a .keras file reached for {args}")

    monkeypatch.setattr(file_utils, "get_file", refuse)
    monkeypatch.setattr(keras.utils, "get_file", refuse)
    monkeypatch.setattr(preset_utils, "get_file", refuse)
    monkeypatch.setattr(preset_utils, "get_preset_loader", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    loaded = load_model(path)
    assert fetched == []
    x = _l_batch(2)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


# ------------------------------------------------------------------------------------
# The quality family (issue 11): U-Net with attention, smooth upsampling, optional fusion
# ------------------------------------------------------------------------------------
def _layer_types(model):
    found = []
    for layer in model.layers:
        found += _layer_types(layer) if hasattr(layer, "layers") else [type(layer).__name__]
    return found


@pytest.mark.parametrize("attention", [True, False])
def test_quality_unet_with_and_without_attention(attention):
    from colorkeras.models.unet import UNet

    model = UNet(SIZE, base_filters=8, depth=2, attention=attention)
    types = _layer_types(model)
    assert ("MultiHeadAttention" in types) is attention
    assert ("LayerNormalization" in types) is attention
    decoder = model.get_layer("decoder")
    ups = [layer for layer in decoder.layers if type(layer).__name__ == "UpSampling2D"]
    assert len(ups) == 2 and all(layer.interpolation == "bilinear" for layer in ups)  # no block pattern
    # The attention block sits on the lowest-resolution grid: 32 / 2**2 = 8, 8 x 8 tokens of 32.
    if attention:
        assert decoder.get_layer("attention_mha").output.shape[1:] == (64, 32)
    ab = np.asarray(model.predict(_l_batch(2), verbose=0))
    assert ab.shape == (2, SIZE, SIZE, 2) and np.abs(ab).max() <= 1.0


def test_quality_unet_classification_head_gives_raw_logits():
    from colorkeras.models.unet import UNet

    model = UNet(SIZE, base_filters=8, depth=2, output_channels=37)
    assert model.output_channels == 37 and model.get_config()["output_channels"] == 37
    assert "head_tanh" not in [layer.name for layer in model.get_layer("decoder").layers]
    model.get_layer("decoder").get_layer("head").bias.assign(np.full(37, 3.0, "float32"))
    assert np.asarray(model.predict(_l_batch(1), verbose=0)).min() > 1.0  # no tanh squashes logits


def test_quality_unet_refuses_bad_arguments():
    from colorkeras.errors import ColorkerasError
    from colorkeras.models.unet import UNet

    for arguments in ({"depth": 6}, {"depth": 0}, {"base_filters": 2}, {"output_channels": 1},
                      {"extractor": "resnet"}, {"attention": "yes"}):
        with pytest.raises(ColorkerasError):
            UNet(SIZE, **arguments)


def test_quality_unet_fusion_option_trains_on_cached_embeddings():
    from colorkeras.models.fusion import TileEmbedding
    from colorkeras.models.unet import UNet

    model = UNet(SIZE, base_filters=8, depth=2, extractor="vit_b16", extractor_weights=None, extractor_size="tiny")
    assert model.extractor == "vit_b16" and model.extractor_model.trainable_weights == []
    trainable = model.training_graph()
    assert {id(v) for v in trainable.trainable_weights} == {id(v) for v in model.trainable_weights}
    x = _l_batch()
    embedding = np.asarray(model.extractor_model.predict(x, verbose=0))
    np.testing.assert_allclose(model.predict(x, verbose=0), trainable.predict([x, embedding], verbose=0), atol=1e-5)
    # Fusion's own pieces: the tiled 1000-d embedding mixed into the 32-channel bottom by a 1x1 conv.
    assert isinstance(model.get_layer("tile"), TileEmbedding)
    extra = _count(model.trainable_weights) - _count(UNet(SIZE, base_filters=8, depth=2).trainable_weights)
    assert extra == (32 + 1000) * 32 + 32
    clone = UNet.from_config(model.get_config())  # the very extractor network, rebuilt from its config
    assert clone.extractor == "vit_b16" and _count(clone.weights) == _count(model.weights)


def _baseline_conv_flops(size):
    """The study's baseline by hand: 2 x H x W x 9 x Cin x Cout for each 3x3 conv."""
    from colorkeras.models.baseline import ENCODER_FILTERS, ENCODER_STRIDES

    total, side, channels = 0, size, 1
    for filters, stride in zip(ENCODER_FILTERS, ENCODER_STRIDES):
        side //= stride
        total += 2 * side * side * 9 * channels * filters
        channels = filters
    for filters, scale in ((128, 8), (64, 4), (64, 4), (32, 2), (2, 2)):  # decoder conv1..5
        side = size // scale
        total += 2 * side * side * 9 * channels * filters
        channels = filters
    return total


def test_quality_unet_costs_less_than_the_baseline_at_256_px():
    from colorkeras.models.flops import forward_flops
    from colorkeras.models.unet import UNet

    baseline = forward_flops(build_model("baseline", 256))
    assert baseline == _baseline_conv_flops(256) and 18.5e9 < baseline < 19.5e9  # the study's ~19 GFLOP
    unet = forward_flops(UNet(256))
    assert unet < baseline
    # Attention is counted: removing it saves the projections and the 256 x 256 token mixing.
    assert forward_flops(UNet(256, attention=False)) < unet
