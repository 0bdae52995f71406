"""``wm-eval``: compare runs side by side in one report.

wm-eval --gin configs/eval.gin --run runs/jepa --run runs/encoder_decoder [--out DIR]
        [--bind "EvalConfig.max_samples = 1000"] [--probe control]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from wm_core import ConfigError, RunFormatError, UnknownNameError, parse_config
from wm_core.cli import add_config_arguments, report_errors
from wm_core.gin_front import command_line, configurable, external_configurable
from wm_data import StoreError
from wm_eval.config import EvalConfig
from wm_models import CheckpointError

# gin wraps a copy: instantiate the returned class so bindings apply.
GinEvalConfig = external_configurable(EvalConfig, module="wm_eval")


@configurable(module="wm_eval")
def eval_output(out_dir: str = "eval") -> str:
    """Default output folder when ``--out`` is not given."""
    return out_dir


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wm-eval", description=__doc__.split("\n\n")[0])
    add_config_arguments(p)
    p.add_argument(
        "--run", action="append", required=True, help="run directory (repeatable, in order)"
    )
    p.add_argument("--out", default=None, help="output folder (default: eval_output.out_dir)")
    p.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these probes (repeatable; overrides EvalConfig.probes), e.g. control",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _configure(args: argparse.Namespace, argv: Sequence[str]) -> EvalConfig:
    """Parse gin and build the config: every mistake surfaces here, before any work."""
    from wm_eval.probes import PROBES  # the registry, so its plugin group loads first

    chosen = [f"EvalConfig.probes = {tuple(args.probe)!r}"] if args.probe else []
    parse_config(args.gin, [*args.bind, *chosen], command=command_line("wm-eval", argv))
    try:
        config = GinEvalConfig()
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from exc
    for name in config.probes:  # a probe's own settings (ControlConfig) are checked up front too
        getattr(PROBES.get(name), "check_settings", lambda: None)()
    return config


def _evaluate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from wm_eval.evaluation import evaluate

    config = _configure(args, argv)
    out_dir = args.out or eval_output()
    if not isinstance(out_dir, str) or not out_dir.strip():
        raise ConfigError(f"eval_output.out_dir = {out_dir!r}: must be a folder path")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    report = evaluate(args.run, out, config)
    print(f"wrote {out / 'report.md'} and {out / 'report.json'} ({len(report.tables)} tables)")
    if report.headline is not None:
        print("\n" + report.headline.to_markdown())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wm-eval``; user errors print one line and return a non-zero code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    errors = [
        (
            (ConfigError, UnknownNameError, RunFormatError, ValueError, KeyError, OSError),
            2,
        ),
        ((CheckpointError, StoreError), 2),
    ]
    return report_errors("wm-eval", lambda: _evaluate(args, argv), errors, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
