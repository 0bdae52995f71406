"""Run every probe over a list of runs and write the report."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from wm_core import resolve_device
from wm_eval.config import EvalConfig
from wm_eval.data import DataSource
from wm_eval.headline import build_headline
from wm_eval.loading import ModelGroup, load_group
from wm_eval.probes import PROBES
from wm_eval.provenance import collect
from wm_eval.report import Report, Table
from wm_eval.runs import RunInfo, discover
from wm_eval.session import EvalSession

log = logging.getLogger(__name__)


def _labels(runs: Sequence[RunInfo]) -> list[str]:
    """Run directory names, made unique with their parent's name where two collide."""
    names = [r.name for r in runs]
    out = []
    for r, n in zip(runs, names, strict=True):
        label = f"{r.path.parent.name}/{n}" if names.count(n) > 1 else n
        while label in out:
            label += "'"
        out.append(label)
    return out


def _shown(path: Path | None) -> str | None:
    """A path as the user would type it: relative to the working directory when inside it."""
    if path is None:
        return None
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _describe(run: RunInfo) -> dict:
    """A run as report.json lists it (paths as the user typed them)."""
    return {
        "path": _shown(run.path),
        "workflow": run.workflow,
        "checkpoint": _shown(run.checkpoint),
        "status": run.status,
        "epochs_done": run.epochs_done,
        "derived": [
            {
                "name": d.name,
                "path": _shown(d.path),
                "workflow": d.workflow,
                "checkpoint": _shown(d.checkpoint),
                "reward_source": d.reward_source,
            }
            for d in run.all_derived()
        ],
    }


def _stores(sources: dict[str, DataSource | None]) -> list[tuple[list[str], DataSource]]:
    """Each distinct store once, with the labels of the runs that read it."""
    by_key: dict[tuple, tuple[list[str], DataSource]] = {}
    for label, src in sources.items():
        if src is not None:
            by_key.setdefault(src.key, ([], src))[0].append(label)
    return list(by_key.values())


def load_runs(
    runs: Sequence[RunInfo],
    labels: Sequence[str],
    config: EvalConfig,
    device: torch.device,
    report: Report,
) -> tuple[list[ModelGroup], dict[str, DataSource | None]]:
    """Each run's modules and store (runs on the same store share one ``DataSource``); what
    cannot be loaded becomes a report note and n/a columns."""
    groups, sources = [], {}
    shared: dict[tuple, DataSource] = {}
    for run, label in zip(runs, labels, strict=True):
        report.runs[label] = _describe(run)
        group = load_group(run, label, device)
        if group.error:
            report.notes.append(f"{label}: {group.error}; its columns show n/a.")
        groups.append(group)
        try:
            src = DataSource.from_run(run, config.data_paths)
        except ValueError as exc:
            report.notes.append(f"{label}: {exc}; its columns show n/a.")
            sources[label] = None
            continue
        sources[label] = shared.setdefault(src.shared_key, src)
        if src.predates_test_split:
            report.notes.append(
                f"{label} predates the held-out test split: its run.json records no "
                f"data.test_fraction, so {src.test_fraction} is assumed; its training may have "
                f"seen the episodes now scored as the {config.split} split."
            )
    return groups, sources


def _intervals(tables: Sequence[Table]) -> None:
    """Every cell's 95% interval, computed now so its time counts under the probe that made it."""
    for table in tables:
        for key, cells in table.measurements.items():
            for column in cells:
                table.interval(key, column)


def _record(report: Report, name: str, total: float, parts: dict[str, float]) -> None:
    """A probe's wall time and its parts (largest first) in ``report.timings``, logged for -v.

    ``other`` is the probe's time outside every labelled block (store reads, plots, tables).
    """
    parts = dict(sorted(parts.items(), key=lambda kv: -kv[1]))
    parts["other"] = max(0.0, total - sum(parts.values()))
    report.timings.setdefault("probes", {})[name] = {
        "total": round(total, 3),
        "parts": {k: round(v, 3) for k, v in parts.items()},
    }
    log.info("probe %s took %.1fs", name, total)
    for part, seconds in parts.items():
        log.info("  %s: %.1fs", part, seconds)


def evaluate(
    run_paths: Sequence[str | Path], out_dir: str | Path, config: EvalConfig | None = None
) -> Report:
    """Evaluate runs side by side; writes ``report.md``, ``report.json`` and ``plots/``.

    ``report.timings`` (also in ``report.json``, logged at INFO for ``wm-eval -v``): seconds
    spent loading, in each probe (with its parts) and on the headline, provenance and files.
    """
    config = config or EvalConfig()
    if not run_paths:
        raise ValueError("runs: name at least one run directory")
    start = time.perf_counter()
    out_dir = Path(out_dir)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    runs = discover(run_paths)
    labels = _labels(runs)
    report = Report(config=config.to_dict())
    groups, sources = load_runs(runs, labels, config, device, report)
    report.timings["loading"] = round(time.perf_counter() - start, 3)
    log.info("loading runs and checkpoints took %.1fs", report.timings["loading"])
    out_dir.mkdir(parents=True, exist_ok=True)  # only once every run and checkpoint is read
    session = EvalSession(config, device, out_dir, groups, sources, report)
    for name in config.probes:
        t0 = time.perf_counter()
        try:
            tables = PROBES.get(name)(session)
            for table in tables:
                table.probe = name
                if table.split is None:
                    table.split = config.split
            with session.timed("intervals (episode bootstrap)"):
                _intervals(tables)
            report.tables.extend(tables)
        except ValueError as exc:  # e.g. no windows as long as the rollout horizon
            report.notes.append(f"probe {name!r} skipped: {exc}")
            log.warning("probe %s skipped: %s", name, exc)
        _record(report, name, time.perf_counter() - t0, session.timings)
        session.timings.clear()
    t0 = time.perf_counter()
    report.headline = build_headline(report)
    report.provenance = collect(_stores(sources), config.to_dict())
    report.timings["report"] = round(time.perf_counter() - t0, 3)  # files: written next
    report.timings["total"] = round(time.perf_counter() - start, 3)
    report.write(out_dir)
    log.info("headline verdicts and provenance took %.1fs", report.timings["report"])
    log.info("wm-eval took %.1fs in all", time.perf_counter() - start)
    return report
