"""Learning curves of one or more wm-train runs in one PNG: training and validation loss against
samples seen, with the copy baseline, the next frame's whole-frame L1 and the latent's effective
rank where the runs logged them (``wm_train.curves``). Runs still training can be plotted.

    python tools/plot_curves.py runs/jepa runs/encoder_decoder --out results/NAME/curves.png
    python tools/plot_curves.py runs/a runs/b --label baseline --label mse --title "pixel loss"
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from wm_train.curves import plot_curves


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plot_curves", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (each with metrics.jsonl)")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--label", action="append", help="legend name per run, in order")
    parser.add_argument("--title", help="figure title")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.runs):
        parser.error(f"--label given {len(args.label)} times for {len(args.runs)} runs")
    try:
        out = plot_curves(args.runs, args.out, labels=args.label, title=args.title)
    except (FileNotFoundError, ValueError, ImportError) as exc:
        print(f"plot_curves: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
