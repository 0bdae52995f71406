"""Copy finished runs (and their store) into a result folder that ``wm-eval`` can re-read anywhere.

A committed result must be re-evaluable without retraining: this writes, for every run below
each given run directory (derived runs included, nesting kept), ``run.json``, ``config.gin``,
``operative_config.gin``, ``metrics.jsonl`` and a weights-only ``checkpoints/best.pt`` (the
modules without optimiser state, a third of the size), and copies the store's shards. Paths in
each ``run.json`` are rewritten relative to the run itself (``init_from`` to the source run,
``data.paths`` to the copied store), so the folder can move or be cloned. A derived run's
checkpoint leaves out the modules it loaded from its source run and kept frozen (equal weights,
checked): wm-eval reads them from the source run's checkpoint, so each is stored once.

    python tools/export_result.py --store data/assault --out results/NAME runs/jepa runs/ed

With ``--store-committed``, ``--store`` is already a committed folder (another result's
``store/``): nothing is copied and ``data.paths`` point to it, so two results on one store
keep one copy.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
from pathlib import Path

import torch
from torch import nn

import wm_models
from wm_core import RunManifest, resolve_init_from
from wm_core.run_format import checkpoint_path, is_run_dir, read_manifest, write_manifest

RUN_FILES = ("config.gin", "operative_config.gin", "metrics.jsonl")
STORE_FILES = ("*.h5", "collect_config.gin", "collection.json", "ppo_agent.json", "ppo_agent.zip")


def runs_below(root: Path) -> list[Path]:
    """``root`` and every run directory below it (derived runs live inside their source)."""
    return sorted(p.parent for p in root.rglob("run.json") if is_run_dir(p.parent))


def export_store(store: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for pattern in STORE_FILES:
        for file in sorted(store.glob(pattern)):
            shutil.copy2(file, out / file.name)
    return out


def export_run(run: Path, root: Path, dest_root: Path, store: Path) -> Path:
    """One run: files, weights-only best checkpoint, manifest with relative paths."""
    dest = dest_root / run.relative_to(root.parent)
    (dest / "checkpoints").mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run / name).is_file():
            shutil.copy2(run / name, dest / name)
    best = checkpoint_path(run, "best")
    if best is None:
        raise FileNotFoundError(f"{run} has no checkpoint to export")
    manifest = read_manifest(run)
    modules = dict(wm_models.load_modules(best))
    for role in frozen_copies(run, manifest, modules):
        del modules[role]
    wm_models.save_checkpoint(dest / "checkpoints" / "best.pt", modules)
    if manifest.init_from:
        manifest.init_from = _relative(manifest.init_from, root, dest_root, dest)
    for record in manifest.modules.values():
        if record.source != "built":
            record.source = _relative(record.source, root, dest_root, dest)
    manifest.data["paths"] = [os.path.relpath(store, dest)]
    write_manifest(dest, manifest)
    return dest


def frozen_copies(run: Path, manifest: RunManifest, modules: dict[str, nn.Module]) -> list[str]:
    """Roles loaded from the source run (``init_from``) and still equal to its weights there:
    the export keeps them once, in the source run (wm-eval reads them from it)."""
    if not manifest.init_from:
        return []
    _, source_best = resolve_init_from(manifest.init_from, base=run)
    source = _source_modules(Path(source_best).resolve())
    return [
        role
        for role, record in manifest.modules.items()
        if record.source != "built"
        and role in modules
        and role in source
        and _same_weights(modules[role], source[role])
    ]


@functools.lru_cache(maxsize=4)
def _source_modules(checkpoint: Path) -> dict[str, nn.Module]:
    """A source run's modules, read once for all the runs derived from it."""
    return dict(wm_models.load_modules(checkpoint))


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _relative(source: str, root: Path, dest_root: Path, dest: Path) -> str:
    """An exported run's link to another exported run, relative to itself."""
    moved = dest_root / Path(source).resolve().relative_to(root.parent.resolve())
    return os.path.relpath(moved, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="top-level run directories")
    parser.add_argument("--store", type=Path, required=True, help="the store the runs read")
    parser.add_argument("--out", type=Path, required=True, help="the result folder")
    parser.add_argument(
        "--store-committed",
        action="store_true",
        help="--store is already committed: point to it instead of copying it",
    )
    args = parser.parse_args(argv)
    if args.store_committed:
        if not any(args.store.glob("*.h5")):
            parser.error(f"--store {args.store} holds no *.h5 shard")
        store = args.store
    else:
        store = export_store(args.store, args.out / "store")
    for root in args.runs:
        for run in runs_below(root):
            dest = export_run(run, root, args.out / "runs", store)
            print(f"exported {run} -> {dest}")
    print(f"store -> {store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
