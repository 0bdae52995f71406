"""The size rule for library code: no function over 80 lines, no module over 450 lines.

Long functions and modules are where changes go wrong; the rule keeps every place a person
edits small enough to read at once. Counts physical lines of ``packages/*/src/**/*.py``
(a function from its ``def`` line to its last line, decorators excluded).

    python tools/check_sizes.py packages [--max-function 80] [--max-module 450]
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 450


def source_files(root: Path) -> Iterator[Path]:
    for src in sorted(root.glob("*/src")):
        yield from sorted(src.rglob("*.py"))


def violations(path: Path, max_function: int, max_module: int) -> list[str]:
    """One message per function or module over its limit."""
    text = path.read_text()
    found = []
    lines = len(text.splitlines())
    if lines > max_module:
        found.append(f"{path}: module has {lines} lines (limit {max_module})")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > max_function:
                found.append(
                    f"{path}:{node.lineno}: function {node.name} has {length} lines "
                    f"(limit {max_function})"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the packages/ folder")
    parser.add_argument("--max-function", type=int, default=MAX_FUNCTION_LINES)
    parser.add_argument("--max-module", type=int, default=MAX_MODULE_LINES)
    args = parser.parse_args(argv)
    files = list(source_files(args.root))
    if not files:
        print(f"check_sizes: no packages/*/src/**/*.py under {args.root}", file=sys.stderr)
        return 2
    found = [v for f in files for v in violations(f, args.max_function, args.max_module)]
    for line in found:
        print(line)
    print(f"check_sizes: {len(files)} files, {len(found)} over the limits")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
