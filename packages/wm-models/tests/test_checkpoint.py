"""Checkpoints round-trip bit-exactly, are written atomically, and bad files fail clearly."""

from __future__ import annotations

import os
from pathlib import Path

import gin
import pytest
import torch

import wm_models.checkpoint as ckpt_mod
from wm_models import (
    CheckpointError,
    build,
    load_checkpoint,
    load_module,
    load_modules,
    module_spec,
    save_checkpoint,
)
from wm_models.testing import CodeRunningPayload


def _payload(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_round_trip_is_bit_exact(tmp_path, small_world) -> None:
    opt = torch.optim.AdamW(small_world["encoder"].parameters(), lr=1e-3)
    frames = torch.rand(2, 2, 1, 16, 16)
    small_world["encoder"](frames).square().mean().backward()
    opt.step()
    extra = {"epoch": 3, "optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "x": None}
    path = save_checkpoint(tmp_path / "run" / "last.pt", small_world, extra=extra)
    assert path == tmp_path / "run" / "last.pt" and path.is_file()

    loaded = load_modules(path)
    assert set(loaded) == set(small_world)
    for role, module in small_world.items():
        again = loaded[role]
        assert type(again) is type(module)
        assert module_spec(again) == module_spec(module)
        original = module.state_dict()
        for key, value in again.state_dict().items():
            assert torch.equal(value, original[key]), (role, key)
    z = torch.randn(2, 16)
    assert torch.equal(loaded["encoder"](frames), small_world["encoder"](frames))
    assert torch.equal(loaded["decoder"](z), small_world["decoder"](z))

    one = load_module(path, "predictor")
    action = torch.tensor([0, 4])
    assert torch.equal(one(z, action), small_world["predictor"](z, action))

    payload = load_checkpoint(path)
    assert payload["format"] == "wm-checkpoint" and payload["version"] == 1
    assert payload["extra"]["epoch"] == 3
    assert torch.equal(payload["extra"]["rng"], extra["rng"])
    restored = torch.optim.AdamW(loaded["encoder"].parameters(), lr=1e-3)
    restored.load_state_dict(payload["extra"]["optimizer"])
    assert payload["modules"]["encoder"]["kwargs"]["channels"] == [8, 16]


def test_load_ignores_gin_bindings(tmp_path, small_world) -> None:
    path = save_checkpoint(tmp_path / "c.pt", {"encoder": small_world["encoder"]})
    gin.parse_config("encoders.conv.latent_dim = 3")
    assert module_spec(load_module(path, "encoder"))["kwargs"]["latent_dim"] == 16


def test_write_is_atomic(tmp_path, small_world, monkeypatch) -> None:
    path = save_checkpoint(tmp_path / "c.pt", {"encoder": small_world["encoder"]})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, small_world)
    assert path.read_bytes() == before  # the previous checkpoint survives a failed write
    assert os.listdir(tmp_path) == ["c.pt"]  # and no temporary file is left behind


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_checkpoint_gets_ordinary_file_permissions(tmp_path, small_world) -> None:
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.pt", {"encoder": small_world["encoder"]})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, as a plain write would be


def test_save_refuses_what_cannot_be_loaded(tmp_path, small_world) -> None:
    import numpy as np

    with pytest.raises(CheckpointError, match=r"extra\['stats'\]\['mean'\] is a ndarray"):
        save_checkpoint(tmp_path / "c.pt", small_world, extra={"stats": {"mean": np.zeros(2)}})
    with pytest.raises(CheckpointError, match=r"modules\['probe'\].*not made by wm_models.build"):
        save_checkpoint(tmp_path / "c.pt", {"probe": torch.nn.Linear(2, 2)})
    with pytest.raises(CheckpointError, match="empty"):
        save_checkpoint(tmp_path / "c.pt", {})
    assert not list(tmp_path.iterdir())


def test_not_a_checkpoint(tmp_path) -> None:
    with pytest.raises(CheckpointError, match=r"not a checkpoint file.*missing"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match=r"not a checkpoint file.*directory"):
        load_checkpoint(tmp_path)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="is not a torch checkpoint"):
        load_checkpoint(text)
    truncated = tmp_path / "truncated.pt"
    save_checkpoint(truncated, {"encoder": build("reward_head", "mlp", latent_dim=4)})
    truncated.write_bytes(truncated.read_bytes()[:-300])
    with pytest.raises(CheckpointError, match="is not a torch checkpoint"):
        load_checkpoint(truncated)
    plain = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="format is None, expected 'wm-checkpoint'"):
        load_module(plain, "encoder")


def test_pickled_objects_are_refused_not_executed(tmp_path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pt"
    torch.save({"format": "wm-checkpoint", "version": 1, "x": CodeRunningPayload(marker)}, path)
    with pytest.raises(CheckpointError, match=r"refused.*weights_only=True"):
        load_checkpoint(path)
    assert not marker.exists()


def _tamper(tmp_path: Path, world: dict, edit) -> Path:
    path = save_checkpoint(tmp_path / "c.pt", world)
    payload = _payload(path)
    edit(payload)
    torch.save(payload, path)
    return path


def test_wrong_format_or_version(tmp_path, small_world) -> None:
    path = _tamper(tmp_path, small_world, lambda p: p.update(format="other-thing"))
    with pytest.raises(CheckpointError, match="format is 'other-thing'"):
        load_checkpoint(path)
    path = _tamper(tmp_path, small_world, lambda p: p.update(version=99))
    with pytest.raises(CheckpointError, match="version 99; this wm-models reads version 1"):
        load_checkpoint(path)
    path = _tamper(tmp_path, small_world, lambda p: p["modules"]["decoder"].pop("kwargs"))
    with pytest.raises(CheckpointError, match=r"modules\['decoder'\] field 'kwargs'"):
        load_checkpoint(path)


def test_unknown_registry_name_is_named_with_a_suggestion(tmp_path, small_world) -> None:
    def rename(p: dict) -> None:
        p["modules"]["decoder"]["name"] = "hybird"

    path = _tamper(tmp_path, small_world, rename)
    with pytest.raises(CheckpointError) as info:
        load_module(path, "decoder")
    msg = str(info.value)
    assert "role 'decoder' needs decoder 'hybird'" in msg
    assert "Did you mean 'hybrid'?" in msg and "plugin package installed" in msg
    assert isinstance(load_module(path, "encoder"), torch.nn.Module)  # other roles still load


def test_shape_mismatch_names_the_tensor(tmp_path, small_world) -> None:
    def shrink(p: dict) -> None:
        sd = p["modules"]["reward_head"]["state_dict"]
        sd["mlp.4.weight"] = sd["mlp.4.weight"][:, :-1].clone()

    path = _tamper(tmp_path, small_world, shrink)
    with pytest.raises(CheckpointError, match=r"tensor 'mlp.4.weight' has shape \[1, 255\]"):
        load_module(path, "reward_head")

    def drop(p: dict) -> None:
        del p["modules"]["encoder"]["state_dict"]["head.bias"]

    path = _tamper(tmp_path, small_world, drop)
    with pytest.raises(CheckpointError, match=r"missing \['head.bias'\]"):
        load_modules(path)


def test_bad_recorded_arguments(tmp_path, small_world) -> None:
    def bad(p: dict) -> None:
        p["modules"]["encoder"]["kwargs"]["latent_dim"] = 0

    path = _tamper(tmp_path, small_world, bad)
    with pytest.raises(CheckpointError, match=r"cannot be rebuilt.*latent_dim"):
        load_module(path, "encoder")


def test_missing_role_lists_roles(tmp_path, small_world) -> None:
    path = save_checkpoint(tmp_path / "c.pt", small_world)
    with pytest.raises(CheckpointError, match="no role 'critic'; roles in this checkpoint: dec"):
        load_module(path, "critic")


def test_modules_from_build_keep_their_spec_after_loading(tmp_path) -> None:
    torch.manual_seed(0)
    head = build("reward_head", "attention", latent_dim=8, dim=16, depth=1)
    path = save_checkpoint(tmp_path / "h.pt", {"reward_head": head})
    again = load_module(path, "reward_head")
    second = save_checkpoint(tmp_path / "h2.pt", {"reward_head": again})
    a, b = _payload(path)["modules"], _payload(second)["modules"]
    assert a["reward_head"]["kwargs"] == b["reward_head"]["kwargs"]


def test_checkpoint_recorded_before_an_argument_existed_rebuilds_the_old_model(tmp_path) -> None:
    """A default may change; a checkpoint lacking the argument keeps the model it trained."""
    plain = build("encoder", "conv", frame_shape=(1, 16, 16), context=2, norm="none")
    path = save_checkpoint(tmp_path / "old.pt", {"encoder": plain})
    payload = _payload(path)
    del payload["modules"]["encoder"]["kwargs"]["norm"]
    torch.save(payload, path)

    again = load_module(path, "encoder")
    assert module_spec(again)["kwargs"]["norm"] == "none"
    frames = torch.rand(2, 2, 1, 16, 16)
    assert torch.equal(again(frames), plain(frames))
    default = build("encoder", "conv", frame_shape=(1, 16, 16), context=2)
    assert module_spec(default)["kwargs"]["norm"] == "group"
