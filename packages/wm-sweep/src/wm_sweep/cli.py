"""``wm-sweep``: run a sweep spec, show its graph or status, or aggregate its evaluations.

wm-sweep --gin configs/sweeps/seeds.gin [--bind ...] [--dry-run | --status]
wm-sweep aggregate --sweep-dir DIR [--out DIR] [--gin FILE] [--bind "Aggregate.min_seeds = 3"]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from wm_core import ConfigError, UnknownNameError, atomic_write_text, parse_config
from wm_core.cli import add_config_arguments, report_errors
from wm_core.gin_front import command_line

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wm-sweep",
        description="Run a grid of games x seeds x variants (Slurm where srun exists, else "
        "local jobs), or aggregate one: 'wm-sweep aggregate --sweep-dir DIR'.",
    )
    add_config_arguments(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="print the stage graph and commands, run nothing"
    )
    mode.add_argument(
        "--status", action="store_true", help="done / running / failed / pending per stage"
    )
    return p


def build_aggregate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wm-sweep aggregate",
        description="Aggregate a sweep's evaluations over seeds and games.",
    )
    add_config_arguments(p)
    p.add_argument("--sweep-dir", required=True, help="the sweep's folder (Sweep.out)")
    p.add_argument("--out", default=None, help="output folder (default: SWEEP_DIR/aggregate)")
    return p


def _load(args: argparse.Namespace, argv: Sequence[str]):
    from wm_sweep import spec as S

    text = parse_config(args.gin, args.bind, command=command_line("wm-sweep", argv))
    return S.GinSweep(), S.GinSlurm(), S.GinLocal(), S.GinAggregate(), text


def _sweep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from wm_sweep.execute import choose_executor, run_local, submit_slurm
    from wm_sweep.plan import expand
    from wm_sweep.status import describe_graph, status_table
    from wm_sweep.validate import check_plan, check_spec

    if not args.gin:
        raise ConfigError("give --gin FILE, e.g. --gin configs/sweeps/seeds.gin")
    spec, slurm, local, settings, text = _load(args, argv)
    cwd = Path.cwd()
    executor = choose_executor(spec)
    if not args.status:
        check_spec(spec, cwd)
    plan = expand(spec, cwd=cwd, command=command_line("wm-sweep", argv))
    for stage in plan.stages:
        slurm_threads = slurm.cpus_per_task[stage.kind]
        stage.threads = slurm_threads if executor == "slurm" else local.threads
    plan.settings = {
        "aggregate": settings.to_dict(),
        "slurm": vars(slurm).copy(),
        "local": vars(local).copy(),
    }
    if args.status:
        print(status_table(plan)[0])
        return 0
    if spec.check_commands:
        check_plan(plan, int(local.max_jobs or 1))
    if executor == "slurm":
        resources = {k: slurm.parameters(k) for k in ("collect", "train", "eval", "aggregate")}
    else:
        resources = {"local": {"max_jobs": local.max_jobs, "threads_per_job": local.threads}}
    if args.dry_run:
        print(describe_graph(plan, executor, resources))
        return 0
    plan.write()
    atomic_write_text(plan.out / "sweep.gin", text)
    if executor == "slurm":
        outcome = submit_slurm(plan, slurm)
        print(
            f"wm-sweep: queued {len(outcome.submitted)} jobs ({len(outcome.skipped)} stages "
            f"already finished); follow with: {command_line('wm-sweep', [*argv, '--status'])}"
        )
        return 0
    outcome = run_local(plan, local)
    print(
        f"wm-sweep: {len(outcome.done)} stages run, {len(outcome.skipped)} already finished, "
        f"{len(outcome.failed)} failed, {len(outcome.blocked)} not run (a dependency failed)"
    )
    for sid, why in outcome.failed.items():
        print(f"  failed {sid}: {why}", file=sys.stderr)
    if outcome.ok:
        print(f"aggregate: {plan.out / 'aggregate' / 'aggregate.md'}")
    return 0 if outcome.ok else 1


def _aggregate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from wm_sweep.aggregate import aggregate, settings_of
    from wm_sweep.spec import GinAggregate

    sweep_dir = Path(args.sweep_dir)
    if args.gin or args.bind:
        parse_config(args.gin, args.bind, command=command_line("wm-sweep aggregate", argv))
        settings = GinAggregate()
    else:
        settings = settings_of(sweep_dir)
    result = aggregate(sweep_dir, args.out, settings)
    out = Path(args.out) if args.out else sweep_dir / "aggregate"
    ev = result["evaluations"]
    print(
        f"wrote {out / 'aggregate.md'} and {out / 'aggregate.json'} from {ev['found']} of "
        f"{ev['planned']} evaluations"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wm-sweep``; a bad spec prints one line and returns 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    errors = [
        ((ConfigError, UnknownNameError), 2),
        ((FileNotFoundError, ValueError, OSError), 1),
    ]
    if argv[:1] == ["aggregate"]:
        args = build_aggregate_parser().parse_args(argv[1:])
        body = lambda: _aggregate(args, argv)  # noqa: E731
    else:
        args = build_parser().parse_args(argv)
        body = lambda: _sweep(args, argv)  # noqa: E731
    try:
        return report_errors("wm-sweep", body, errors, debug=args.debug)
    except KeyboardInterrupt:
        print("wm-sweep: interrupted; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
