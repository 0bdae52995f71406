"""Registry behaviour: clashes, helpful misses, listing, gin bindings and recorded specs."""

from __future__ import annotations

import json
import uuid

import gin
import numpy as np
import pytest
import torch
from torch import nn

from wm_models import (
    ENCODERS,
    Registry,
    RegistryClashError,
    UnknownModelError,
    build,
    list_models,
    model_registry,
    module_spec,
)

ENC = {"frame_shape": (1, 16, 16), "context": 2}


class Tiny(nn.Module):
    def __init__(self, *, width: int = 3, scale: float = 1.0) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.scale = scale


@pytest.fixture
def widgets() -> Registry:
    """A throwaway registry outside gin, so tests can register freely."""
    return model_registry(f"widget_{uuid.uuid4().hex[:8]}", gin_module=None)


def test_register_class_and_factory(widgets) -> None:
    widgets.register("tiny")(Tiny)

    @widgets.register("wide")
    def wide(*, width: int = 8) -> nn.Module:
        return Tiny(width=width)

    assert widgets.build("tiny", width=4).linear.in_features == 4
    assert widgets.build("wide").linear.in_features == 8
    assert module_spec(widgets.build("wide"))["kwargs"] == {"width": 8}
    assert "tiny" in widgets and len(widgets) == 2


def test_clash_is_an_error_unless_forced(widgets) -> None:
    widgets.register("tiny", Tiny)
    widgets.register("tiny", Tiny)  # the same object again is harmless

    class Other(Tiny):
        pass

    with pytest.raises(RegistryClashError, match=r"'tiny' is already registered.*force=True"):
        widgets.register("tiny", Other)
    assert widgets.get("tiny") is Tiny
    widgets.register("tiny", Other, force=True)
    assert widgets.get("tiny") is Other


def test_unknown_name_suggests_and_mentions_plugins() -> None:
    with pytest.raises(UnknownModelError) as info:
        build("encoder", "cnov", **ENC)
    err = info.value
    assert isinstance(err, KeyError)
    msg = str(err)
    assert msg.startswith("Unknown encoder 'cnov'.")  # not KeyError's quoted repr
    assert "Did you mean 'conv'?" in msg
    assert "Known encoders: conv, " in msg and "vit" in msg
    assert "is the plugin package installed?" in msg and "wm_models.plugins" in msg
    assert err.known == list_models("encoder")


def test_unknown_kind_is_named() -> None:
    with pytest.raises(ValueError, match=r"Unknown model kind 'encoders'. Did you mean 'encoder'"):
        build("encoders", "conv", **ENC)


def test_listing_with_wildcards(widgets) -> None:
    for name in ("vit_small", "vit_base", "conv"):
        widgets.register(name, Tiny)
    assert widgets.names() == ["conv", "vit_base", "vit_small"]
    assert widgets.names("vit_*") == ["vit_base", "vit_small"]
    assert widgets.names("*_s*") == ["vit_small"]
    assert widgets.names("nothing*") == []
    assert list_models("encoder", "v*") == ["vit"]
    assert {"conv", "impala", "vit"} <= set(list_models("encoder"))
    assert list_models("decoder", "*") == sorted(list_models("decoder"))


def test_bad_names_are_refused(widgets) -> None:
    with pytest.raises(ValueError, match="identifier"):
        widgets.register("my-model", Tiny)
    with pytest.raises(ValueError, match="already belongs to another registry"):
        model_registry("encoder")


def test_spec_is_complete_plain_and_rebuilds() -> None:
    torch.manual_seed(0)
    model = build("encoder", "conv", **ENC, channels=(4, 8))
    spec = module_spec(model)
    assert spec == {
        "kind": "encoder",
        "name": "conv",
        "kwargs": {
            "frame_shape": [1, 16, 16],
            "context": 2,
            "latent_dim": 64,
            "channels": [4, 8],
            "act": "silu",
            "norm": "group",
        },
    }
    json.dumps(spec)  # plain python all the way down
    spec["kwargs"]["latent_dim"] = 5  # callers get a copy
    assert module_spec(model)["kwargs"]["latent_dim"] == 64
    again = build(**module_spec(model))
    assert module_spec(again) == module_spec(model)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in again.state_dict().items()}


def test_plain_conversion_and_refusal(widgets) -> None:
    widgets.register("tiny", Tiny)
    spec = module_spec(widgets.build("tiny", width=np.int64(5), scale=np.float32(0.5)))
    assert spec["kwargs"] == {"width": 5, "scale": 0.5}
    assert type(spec["kwargs"]["width"]) is int
    with pytest.raises(TypeError, match=r"argument\['scale'\] is a device"):
        widgets.build("tiny", scale=torch.device("cpu"))


def test_unexpected_argument_lists_accepted_ones() -> None:
    with pytest.raises(TypeError, match=r"encoder 'conv'.*latent_dims.*accepts: frame_shape"):
        build("encoder", "conv", **ENC, latent_dims=3)


def test_module_spec_needs_build_and_sees_through_wrappers() -> None:
    with pytest.raises(ValueError, match=r"not made by wm_models\.build"):
        module_spec(nn.Linear(2, 2))
    model = build("reward_head", "mlp", latent_dim=4)
    ema = torch.optim.swa_utils.AveragedModel(model)
    assert module_spec(ema) == module_spec(model)


def test_gin_binds_per_model_parameters_through_build() -> None:
    gin.parse_config(
        """
        DEPTH = 1
        encoders.vit.depth = %DEPTH
        encoders.vit.dim = 32
        encoders.vit.patch_size = 4
        encoders.conv.channels = (4, 8)
        """
    )
    vit = build("encoder", "vit", **ENC)
    kwargs = module_spec(vit)["kwargs"]
    assert (kwargs["depth"], kwargs["dim"], kwargs["patch_size"]) == (1, 32, 4)
    assert len(vit.blocks) == 1
    assert "vit.depth = %DEPTH" in gin.operative_config_str()  # gin shortens unique names
    # explicit arguments win over bindings
    assert module_spec(build("encoder", "vit", **ENC, dim=16, heads=2))["kwargs"]["dim"] == 16
    conv = build("encoder", "conv", **ENC)
    assert module_spec(conv)["kwargs"]["channels"] == [4, 8]
    # the recorded spec rebuilds the bound architecture with gin cleared
    spec = module_spec(vit)
    gin.clear_config()
    assert module_spec(build(**spec)) == spec
    assert module_spec(build("encoder", "vit", **ENC))["kwargs"]["depth"] == 4


def test_gin_scopes_and_references() -> None:
    gin.parse_config(
        """
        small/encoders.conv.latent_dim = 8
        encoders.conv.frame_shape = (1, 16, 16)
        encoders.conv.context = 2
        """
    )
    with gin.config_scope("small"):
        assert module_spec(build("encoder", "conv"))["kwargs"]["latent_dim"] == 8
    assert module_spec(build("encoder", "conv"))["kwargs"]["latent_dim"] == 64


@gin.configurable("wm_test_make", module="wm_models_tests")
def make(model: nn.Module = gin.REQUIRED) -> nn.Module:
    return model


def test_gin_reference_builds_with_a_spec() -> None:
    gin.parse_config(
        """
        wm_test_make.model = @encoders.conv()
        encoders.conv.frame_shape = (1, 16, 16)
        encoders.conv.context = 2
        encoders.conv.latent_dim = 12
        """
    )
    spec = module_spec(make())
    assert spec["name"] == "conv" and spec["kwargs"]["latent_dim"] == 12


def test_gin_rejects_unknown_parameters() -> None:
    with pytest.raises(ValueError, match="doesn't have a parameter named 'depht'"):
        gin.parse_config("encoders.vit.depht = 2")


def test_registration_after_gin_lock_still_builds_by_name() -> None:
    gin.parse_config("encoders.conv.latent_dim = 8")
    gin.finalize()
    name = f"late_{uuid.uuid4().hex[:8]}"
    try:
        with pytest.warns(RuntimeWarning, match="load_plugins"):
            ENCODERS.register(name, Tiny)
        assert isinstance(build("encoder", name, width=2), Tiny)
    finally:
        ENCODERS.unregister(name)
    with pytest.raises(UnknownModelError):
        build("encoder", name)


def test_force_reregistration_keeps_gin_binding() -> None:
    name = f"swap_{uuid.uuid4().hex[:8]}"

    class Wider(Tiny):
        def __init__(self, *, width: int = 3, scale: float = 1.0, extra: int = 0) -> None:
            super().__init__(width=width + extra, scale=scale)

    try:
        ENCODERS.register(name, Tiny)
        ENCODERS.register(name, Wider, force=True)
        gin.parse_config(f"encoders.{name}.extra = 2")
        assert build("encoder", name).linear.in_features == 5
    finally:
        ENCODERS.unregister(name)
