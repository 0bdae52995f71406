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

from wm_eval.config import EvalConfig
from wm_eval.evaluation import evaluate
from wm_eval.runs import RunError

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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    gin.parse_config_files_and_bindings(args.gin, args.bind)
    config = GinEvalConfig()
    out = Path(args.out or eval_output())
    try:
        report = evaluate(args.run, out, config)
    except (RunError, ValueError) as exc:
        print(f"wm-eval: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'report.md'} and {out / 'report.json'} ({len(report.tables)} tables)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
