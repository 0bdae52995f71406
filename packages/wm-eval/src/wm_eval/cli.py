"""``wm-eval``: compare runs side by side in one report.

wm-eval --gin configs/eval.gin --run runs/jepa --run runs/encoder_decoder [--out DIR]
        [--bind "EvalConfig.max_samples = 1000"]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import gin

from wm_data import StoreError
from wm_data.cli_errors import debug_enabled, explain_gin_error, one_line
from wm_eval.config import EvalConfig
from wm_eval.evaluation import evaluate
from wm_eval.runs import RunError
from wm_models import CheckpointError

# gin wraps a copy: instantiate the returned class so bindings apply.
GinEvalConfig = gin.external_configurable(EvalConfig, module="wm_eval")


@gin.configurable(module="wm_eval")
def eval_output(out_dir: str = "eval") -> str:
    """Default output folder when ``--out`` is not given."""
    return out_dir


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wm-eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--gin", action="append", default=[], help="gin file (repeatable)")
    p.add_argument("--bind", action="append", default=[], help="gin binding (repeatable)")
    p.add_argument(
        "--run", action="append", required=True, help="run directory (repeatable, in order)"
    )
    p.add_argument("--out", default=None, help="output folder (default: eval_output.out_dir)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (also: environment WM_DEBUG=1)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wm-eval``; user errors print one line and return a non-zero code."""
    args = build_parser().parse_args(argv)
    debug = debug_enabled(args.debug)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    try:
        from wm_models import load_plugins

        load_plugins()  # plugins must register before gin parses (it locks the config)
    except ImportError:
        pass
    for f in args.gin:
        if not Path(f).is_file():
            print(f"wm-eval: --gin {f}: no such file", file=sys.stderr)
            return 2
    try:
        gin.parse_config_files_and_bindings(args.gin, args.bind, skip_unknown=False)
        config = GinEvalConfig()
    except (ValueError, KeyError, TypeError, ImportError, SyntaxError) as exc:
        if debug:
            raise
        print(f"wm-eval: {explain_gin_error(exc)}", file=sys.stderr)
        return 2
    out = Path(args.out or eval_output())
    try:
        report = evaluate(args.run, out, config)
    except (RunError, ValueError, KeyError, CheckpointError, StoreError, OSError) as exc:
        if debug:
            raise
        print(f"wm-eval: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'report.md'} and {out / 'report.json'} ({len(report.tables)} tables)")
    if report.headline is not None:
        print("\n" + report.headline.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
