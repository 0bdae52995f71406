"""Run every ``bench_*.py`` in this folder and summarise the ratios they print.

Each benchmark measures our code against a baseline in the same run (these machines are shared
and noisy, so only ratios are comparable) and prints lines of the form::

    RATIO <name> <value> <op> <target> | ours=<...> baseline=<...>

Usage: ``python benchmarks/run.py [--quick] [name-filter ...]``.
"""

from __future__ import annotations

import argparse
import operator
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
RATIO_LINE = re.compile(
    r"^RATIO\s+(?P<name>\S+)\s+(?P<value>[-+0-9.eE]+|nan|inf)\s+(?P<op>>=|<=)\s+"
    r"(?P<target>[-+0-9.eE]+)\s*\|?\s*(?P<detail>.*)$"
)
OPS = {">=": operator.ge, "<=": operator.le}


def parse_ratios(output: str) -> list[dict]:
    rows = []
    for line in output.splitlines():
        match = RATIO_LINE.match(line.strip())
        if match:
            row = match.groupdict()
            row["met"] = OPS[row["op"]](float(row["value"]), float(row["target"]))
            rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke versions")
    parser.add_argument("filters", nargs="*", help="run only files whose name contains one")
    args = parser.parse_args()

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.filters:
        scripts = [s for s in scripts if any(f in s.stem for f in args.filters)]
    rows: list[dict] = []
    crashed: list[str] = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stdout.write(proc.stderr[-4000:])
            crashed.append(script.name)
        rows.extend(parse_ratios(proc.stdout))

    print("\n== summary")
    width = max((len(r["name"]) for r in rows), default=10)
    for r in rows:
        mark = "ok  " if r["met"] else "MISS"
        value = float(r["value"])
        print(f"{mark} {r['name']:<{width}} {value:8.3f} {r['op']} {r['target']:<6} {r['detail']}")
    missed = sum(not r["met"] for r in rows)
    print(f"{len(rows)} ratios, {len(rows) - missed} met, {missed} missed, {len(crashed)} crashed")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
