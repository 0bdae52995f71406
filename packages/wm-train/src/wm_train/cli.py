"""``wm-train``: parse gin files and bindings (later wins), then run the Trainer.

wm-train --gin configs/jepa.gin [--gin configs/scale/tiny.gin] [--bind "ENCODER='vit'"]
         [--run-dir DIR] [--resume] [--print-config] [--list encoders]
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import gin

import wm_models
from wm_data.cli_errors import debug_enabled, explain_gin_error, one_line
from wm_train.freeze import FREEZE_POLICIES
from wm_train.losses import LOSSES
from wm_train.registry import UnknownNameError, did_you_mean

LISTABLE = {
    "encoders": "encoder",
    "predictors": "predictor",
    "decoders": "decoder",
    "reward_heads": "reward_head",
    "losses": None,
    "freeze": None,
}
_MACRO_DEF = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=", re.MULTILINE)
_MACRO_USE = re.compile(r"%([A-Za-z_][A-Za-z0-9_.]*)")


class ConfigError(ValueError):
    """A gin file or binding that does not parse; the message names it and suggests a fix."""


def list_names(what: str) -> list[str]:
    """Registered names for ``--list``: model kinds, losses, freeze policies."""
    aliases = {
        "loss": "losses",
        "encoder": "encoders",
        "predictor": "predictors",
        "decoder": "decoders",
        "reward_head": "reward_heads",
        "freeze_policies": "freeze",
    }
    key = aliases.get(what, what)
    if key not in LISTABLE:
        raise UnknownNameError(
            f"cannot list {what!r}; choose from {', '.join(LISTABLE)}."
            + did_you_mean(what, LISTABLE)
        )
    if key == "losses":
        return LOSSES.names()
    if key == "freeze":
        return FREEZE_POLICIES.names()
    return wm_models.list_models(LISTABLE[key])


def check_macros(texts: Sequence[str], bindings: Sequence[str]) -> None:
    """A ``--bind NAME=...`` macro that no config uses is a typo, not a silent no-op."""
    used = {m.split(".")[0] for t in [*texts, *bindings] for m in _MACRO_USE.findall(t)}
    defined = {m for t in texts for m in _MACRO_DEF.findall(t)}
    for binding in bindings:
        for name in _MACRO_DEF.findall(binding):
            if name not in used:
                raise ConfigError(
                    f"--bind {binding.strip()!r}: macro {name!r} is not used by any config."
                    + did_you_mean(name, (used | defined) - {name})
                )


def parse_config(
    files: Sequence[str], bindings: Sequence[str], command: Sequence[str] | None = None
) -> str:
    """Parse gin files then bindings (plugins loaded first); return the config text as given."""
    wm_models.load_plugins()
    texts = []
    for f in files:
        path = Path(f)
        if not path.exists():
            raise ConfigError(f"--gin {f}: no such file")
        texts.append(path.read_text())
    check_macros(texts, bindings)
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings(list(files), list(bindings), skip_unknown=False)
    except (ValueError, KeyError, ImportError, SyntaxError) as exc:
        raise ConfigError(explain_gin_error(exc)) from exc
    args = sys.argv[1:] if command is None else command
    parts = [f"# wm-train {shlex.join(args)}".rstrip()]
    for f, text in zip(files, texts, strict=True):
        parts.append(f"# ---- {f}\n{text.rstrip()}")
    if bindings:
        parts.append("# ---- --bind\n" + "\n".join(bindings))
    return "\n\n".join(parts) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wm-train", description="Train a world-model workflow described by gin files."
    )
    parser.add_argument(
        "--gin",
        action="append",
        default=[],
        metavar="FILE",
        help="gin file (repeatable, later wins)",
    )
    parser.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="BINDING",
        help="gin binding (repeatable, later wins)",
    )
    parser.add_argument("--run-dir", help="run directory (overrides Trainer.run_dir)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --run-dir from last.pt"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the parsed config and exit"
    )
    parser.add_argument(
        "--list", metavar="KIND", help=f"list registered names: {', '.join(LISTABLE)}"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (also: environment WM_DEBUG=1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wm-train``; returns the process exit code."""
    from wm_data import StoreError
    from wm_train.run_dir import RunDirError
    from wm_train.trainer import NonFiniteLossError, Trainer

    args = build_parser().parse_args(argv)
    debug = debug_enabled(args.debug)
    try:
        if args.list:
            wm_models.load_plugins()
            print("\n".join(list_names(args.list)))
            return 0
        files = list(args.gin)
        if args.resume and not files:
            if not args.run_dir:
                raise ConfigError(
                    "--resume without --gin needs --run-dir (its config.gin is reused)"
                )
            files = [str(Path(args.run_dir) / "config.gin")]
        if not files:
            raise ConfigError("give at least one --gin file, e.g. --gin configs/jepa.gin")
        bindings = list(args.bind)
        if args.run_dir:
            bindings.append(f"Trainer.run_dir = {str(args.run_dir)!r}")
        config_text = parse_config(files, bindings, sys.argv[1:] if argv is None else argv)
        if args.print_config:
            print(gin.config_str())
            return 0
        trainer = Trainer()
        metrics = trainer.fit(resume=args.resume, config_text=config_text)
    except (
        ConfigError,
        UnknownNameError,
        KeyError,
        FileNotFoundError,
        RunDirError,
        StoreError,
        wm_models.CheckpointError,
    ) as exc:
        if debug:
            raise
        print(f"wm-train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except (NonFiniteLossError, ValueError, OSError, MemoryError) as exc:
        if debug:
            raise
        print(f"wm-train: error: {one_line(exc)}", file=sys.stderr)
        return 1
    if metrics:
        summary = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith("val/"))
        print(f"wm-train: finished {trainer.run_dir} {summary}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
