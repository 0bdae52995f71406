"""Command lines: ``wm-collect`` (gin-configured collection) and ``wm-data info``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import gin

from wm_core import ConfigError, UnknownNameError, parse_config
from wm_core.cli import add_config_arguments, report_errors
from wm_core.gin_front import command_line
from wm_data.store import ReplayReader, StoreError


def format_info(reader: ReplayReader) -> str:
    """Human-readable summary of a store: size, returns, compression, metadata."""
    s = reader.summary()
    meta = reader.metadata
    c, h, w = reader.frame_shape
    raw = (c * h * w) * s["frames"] / max(s["steps"], 1)
    lines = [
        f"store          {', '.join(s['paths'])}",
        f"episodes       {s['episodes']}",
        f"steps          {s['steps']}  (frames {s['frames']})",
        f"returns        mean {s['return_mean']:.2f}  std {s['return_std']:.2f}  "
        f"min {s['return_min']:.2f}  max {s['return_max']:.2f}",
        f"episode length mean {s['length_mean']:.1f}",
        f"size on disk   {s['size_bytes'] / 2**20:.2f} MiB",
        f"bytes/step     {s['bytes_per_transition']:.1f}  "
        f"(raw uint8 frames {raw:.0f}, x{raw / s['bytes_per_transition']:.1f} smaller)"
        if s["steps"]
        else "bytes/step     -",
        "metadata:",
    ]
    for key in sorted(meta):
        value = meta[key]
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        lines.append(f"  {key:<18} {text}")
    return "\n".join(lines)


def collection_record(reader: ReplayReader) -> dict[str, Any] | None:
    """The ``collection.json`` of the folder holding every shard of ``reader``, if any."""
    from wm_data.collect.record import read_record

    folders = {p.parent for p in reader.paths}
    return read_record(folders.pop()) if len(folders) == 1 else None


def _print_store(path: str | Sequence[str], as_json: bool) -> int:
    from wm_data.collect.record import record_lines

    with ReplayReader(path) as reader:
        record = collection_record(reader)
        if as_json:
            info = {**reader.summary(), "metadata": reader.metadata, "collection": record}
            print(json.dumps(info, indent=2))
        else:
            text = format_info(reader)
            if record:
                head, _, meta = text.partition("\nmetadata:")
                text = "\n".join([head, *record_lines(record)]) + "\nmetadata:" + meta
            print(text)
    return 0


def print_info(path: str | Sequence[str], as_json: bool = False, prog: str = "wm-data") -> int:
    """Print a store's summary; a damaged store is one line on stderr and exit code 1."""
    return report_errors(prog, lambda: _print_store(path, as_json), [((StoreError, OSError), 1)])


def _collect(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import wm_data.agent  # noqa: F401  (registers the gin configurables)
    from wm_data.collect import collect
    from wm_data.collect.record import record_lines

    parse_config(args.gin, args.bind, command=command_line("wm-collect", argv))
    kwargs: dict[str, Any] = {"progress": False} if args.no_progress else {}
    result = collect(**kwargs)
    (result.path / "collect_config.gin").write_text(gin.operative_config_str())
    if result.collected_steps == 0:
        print(f"store {result.path} already satisfies the config; nothing collected")
    else:
        print(
            f"collected {result.collected_steps} steps in {result.seconds:.1f}s "
            f"({result.steps_per_second:.0f} steps/s)"
        )
    if result.record:
        print("\n".join(record_lines(result.record)))
        print()
    return print_info(str(result.path), prog="wm-collect")


def collect_main(argv: Sequence[str] | None = None) -> int:
    """``wm-collect --gin configs/collect.gin [--bind ...] [--info PATH]``."""
    parser = argparse.ArgumentParser(
        prog="wm-collect",
        description="Train or load the PPO agent and fill an HDF5 replay store to its target.",
    )
    add_config_arguments(parser)
    parser.add_argument("--info", metavar="PATH", help="print a store's summary and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.info:
        return print_info(args.info, prog="wm-collect")
    if not args.gin and not args.bind:
        parser.error("give --gin FILE (e.g. configs/collect.gin) and/or --bind BINDING")
    errors = [((ConfigError, UnknownNameError), 2), ((StoreError, ValueError, OSError), 1)]
    return report_errors("wm-collect", lambda: _collect(args, argv), errors, debug=args.debug)


def data_main(argv: Sequence[str] | None = None) -> int:
    """``wm-data info PATH [PATH ...] [--json]``."""
    parser = argparse.ArgumentParser(prog="wm-data", description="Inspect replay stores.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="episodes, steps, returns, size, bytes/step, metadata")
    info.add_argument("paths", nargs="+", help="store file(s), directory or glob of shards")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.command == "info":
        return print_info(args.paths, as_json=args.json)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(collect_main())
