"""``wm-train``: parse gin files and bindings (later wins), then run the Trainer.

wm-train --gin configs/jepa.gin [--gin configs/scale/tiny.gin] [--bind "ENCODER='vit'"]
         [--run-dir DIR] [--resume] [--print-config] [--list encoders]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import gin

import wm_models
from wm_core import ConfigError, RunFormatError, UnknownNameError, did_you_mean, parse_config
from wm_core.cli import add_config_arguments, report_errors
from wm_core.gin_front import command_line
from wm_train.freeze import FREEZE_POLICIES
from wm_train.losses import LOSSES

LISTABLE = {
    "encoders": "encoder",
    "predictors": "predictor",
    "decoders": "decoder",
    "reward_heads": "reward_head",
    "losses": None,
    "freeze": None,
}
ALIASES = {
    "loss": "losses",
    "encoder": "encoders",
    "predictor": "predictors",
    "decoder": "decoders",
    "reward_head": "reward_heads",
    "freeze_policies": "freeze",
}


def list_names(what: str) -> list[str]:
    """Registered names for ``--list``: model kinds, losses, freeze policies."""
    key = ALIASES.get(what, what)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wm-train", description="Train a world-model workflow described by gin files."
    )
    add_config_arguments(parser)
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
    return parser


def _config_files(args: argparse.Namespace) -> list[str]:
    files = list(args.gin)
    if args.resume and not files:
        if not args.run_dir:
            raise ConfigError("--resume without --gin needs --run-dir (its config.gin is reused)")
        files = [str(Path(args.run_dir) / "config.gin")]
    if not files:
        raise ConfigError("give at least one --gin file, e.g. --gin configs/jepa.gin")
    return files


def _train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from wm_train.trainer import Trainer

    if args.list:
        wm_models.load_plugins()
        print("\n".join(list_names(args.list)))
        return 0
    bindings = list(args.bind)
    if args.run_dir:
        bindings.append(f"Trainer.run_dir = {str(args.run_dir)!r}")
    config_text = parse_config(
        _config_files(args), bindings, command=command_line("wm-train", argv)
    )
    if args.print_config:
        print(gin.config_str())
        return 0
    trainer = Trainer()
    metrics = trainer.fit(resume=args.resume, config_text=config_text)
    if metrics:
        summary = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith("val/"))
        print(f"wm-train: finished {trainer.run_dir} {summary}".rstrip())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wm-train``; returns the process exit code."""
    from wm_data import StoreError
    from wm_train.run_dir import RunDirError
    from wm_train.trainer import NonFiniteLossError

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    errors = [
        ((ConfigError, KeyError, FileNotFoundError, RunFormatError, RunDirError), 2),
        ((StoreError, wm_models.CheckpointError), 2),
        ((NonFiniteLossError, ValueError, OSError, MemoryError), 1),
    ]
    return report_errors("wm-train", lambda: _train(args, argv), errors, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
