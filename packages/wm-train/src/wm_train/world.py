"""A world model is a set of modules by role; losses call them as ``world.encoder(...)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from torch import nn

import wm_models
from wm_core import unknown_name

#: Role -> registry kind. ``target_encoder`` is an encoder followed by EMA, never built by name.
ROLE_KINDS: dict[str, str] = {
    "encoder": "encoder",
    "target_encoder": "encoder",
    "predictor": "predictor",
    "decoder": "decoder",
    "reward_head": "reward_head",
    "inverse_head": "inverse_head",
}


def check_role(role: str, field: str) -> str:
    """Fail early, naming the config field, when ``role`` is not a known role."""
    if role not in ROLE_KINDS:
        raise unknown_name(f"role in {field}", role, ROLE_KINDS)
    return role


class World(nn.Module):
    """Named modules of one world model; frozen roles stay in eval mode under ``train()``."""

    def __init__(self, modules: Mapping[str, nn.Module]) -> None:
        super().__init__()
        for role, module in modules.items():
            self.add_module(check_role(role, "World"), module)
        self.frozen: set[str] = set()

    def roles(self) -> list[str]:
        return [name for name, _ in self.named_children()]

    def __getitem__(self, role: str) -> nn.Module:
        if role not in self._modules:
            raise unknown_name("role", role, self.roles())
        return self._modules[role]  # type: ignore[return-value]

    def __contains__(self, role: object) -> bool:
        return role in self._modules

    def __getattr__(self, name: str) -> nn.Module:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in ROLE_KINDS:
                raise AttributeError(
                    f"this world has no {name!r} module (it has {', '.join(self.roles())}); "
                    "add it to Trainer.modules, Trainer.load or Trainer.ema"
                ) from None
            raise

    def set_frozen(self, roles: Iterable[str]) -> None:
        """Frozen roles: no grad, eval mode (dropout off, norm statistics fixed)."""
        self.frozen = set(roles)
        for role in self.roles():
            self[role].requires_grad_(role not in self.frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> World:
        super().train(mode)
        for role in self.frozen:
            self[role].eval()
        return self


def build_module(
    role: str,
    name: str,
    *,
    frame_shape: tuple[int, int, int],
    context: int,
    num_actions: int,
    latent_dim: int,
) -> nn.Module:
    """Build one module by registry name with the shape arguments its kind takes."""
    kind = ROLE_KINDS[check_role(role, "Trainer.modules")]
    if role == "target_encoder":
        raise ValueError(
            "Trainer.modules: 'target_encoder' is not built by name; bind "
            "Trainer.ema = {'target_encoder': 'encoder'} to follow the encoder"
        )
    shape = {
        "encoder": {
            "frame_shape": tuple(frame_shape),
            "context": context,
            "latent_dim": latent_dim,
        },
        "predictor": {"latent_dim": latent_dim, "num_actions": num_actions},
        "decoder": {"latent_dim": latent_dim, "frame_shape": tuple(frame_shape)},
        "reward_head": {"latent_dim": latent_dim},
        "inverse_head": {"latent_dim": latent_dim, "num_actions": num_actions},
    }[kind]
    return wm_models.build(kind, name, **shape)


def spec_kwargs(module: nn.Module) -> dict:
    """Constructor arguments a module was built with (empty when it was not made by
    ``wm_models.build``, so carries no spec). A spec that cannot be read is an error."""
    try:
        spec = wm_models.module_spec(module)
    except ValueError:  # no spec: a module built by hand
        return {}
    return dict(spec.get("kwargs") or {})
