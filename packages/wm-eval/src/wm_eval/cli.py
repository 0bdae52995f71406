"""``wm-eval``: compare runs side by side in one report.

wm-eval --gin configs/eval.gin --run runs/jepa --run runs/encoder_decoder [--out DIR]
        [--bind "EvalConfig.max_samples = 1000"]
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import gin

from wm_data import StoreError
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


def _one_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("In call to configurable")]
    return " ".join(" ".join(lines).split()) or type(exc).__name__


def _explain_gin(exc: Exception) -> str:
    """gin's first line plus a did-you-mean for the configurable or parameter it cannot find."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    match = re.search(r"No configurable matching '([^']+)'", first)
    if match:
        names = {
            part for selector, _ in gin.config._REGISTRY.items() for part in _suffixes(selector)
        }
        return first + _did_you_mean(match.group(1), names)
    match = re.search(r"Configurable '([^']+)' doesn't have a parameter named '([^']+)'", first)
    if match:
        try:
            fn = gin.config._REGISTRY.get_match(match.group(1)).wrapped
            params = list(inspect.signature(fn).parameters)
        except Exception:
            params = []
        return first + _did_you_mean(match.group(2), params)
    return _one_line(exc)


def _suffixes(selector: str) -> list[str]:
    parts = selector.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wm-eval``; user errors print one line and return a non-zero code."""
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("WM_DEBUG", "") not in ("", "0")
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
        print(f"wm-eval: {_explain_gin(exc)}", file=sys.stderr)
        return 2
    out = Path(args.out or eval_output())
    try:
        report = evaluate(args.run, out, config)
    except (RunError, ValueError, KeyError, CheckpointError, StoreError, OSError) as exc:
        if debug:
            raise
        print(f"wm-eval: {_one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'report.md'} and {out / 'report.json'} ({len(report.tables)} tables)")
    if report.headline is not None:
        print("\n" + report.headline.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
