"""A result exported for committing (``tools/export_result.py``) stores each frozen module once
and evaluates exactly like the runs it was exported from."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import torch

from wm_core import read_manifest, write_manifest
from wm_eval import EvalConfig, evaluate
from wm_eval.loading import load_group
from wm_eval.runs import discover
from wm_models import load_modules, save_checkpoint

EXPORT_TOOL = Path(__file__).resolve().parents[3] / "tools" / "export_result.py"
CONFIG = dict(
    device="cpu",
    batch_size=64,
    max_samples=48,
    probe_train_samples=160,
    probes=("reward", "reconstruction"),
)


def _export(argv: list[str]) -> None:
    spec = importlib.util.spec_from_file_location("export_result", EXPORT_TOOL)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(argv) == 0


def _cells(report) -> dict[tuple[str, str, str], float | None]:
    return {
        (t.name, row, column): t.value(row, column)
        for t in report.tables
        for row in t.rows
        for column in t.columns
    }


def test_export_keeps_a_frozen_module_once_and_scores_the_same(runs, store, tmp_path):
    source = runs["encoder_decoder"]
    out = tmp_path / "result"
    _export([str(source), "--store", str(store.parent), "--out", str(out)])
    exported = out / "runs" / "encoder_decoder"

    # The derived reward run keeps its own head only; its frozen encoder lives in the source.
    assert set(load_modules(exported / "reward" / "checkpoints" / "best.pt")) == {"reward_head"}
    assert set(load_modules(exported / "checkpoints" / "best.pt")) == {
        "encoder",
        "predictor",
        "decoder",
    }
    group = load_group(discover([str(exported)])[0], "encoder_decoder", torch.device("cpu"))
    (head,) = group.reward_heads
    assert head.get("encoder") is group.encoder

    before = evaluate([source], tmp_path / "before", EvalConfig(**CONFIG))
    after = evaluate([exported], tmp_path / "after", EvalConfig(**CONFIG))
    cells = _cells(before)
    assert any(v is not None for (table, _, _), v in cells.items() if table == "reward")
    assert _cells(after) == cells


def test_a_module_changed_after_loading_is_kept(runs, store, tmp_path):
    """A derived run whose 'frozen' module no longer equals the source's keeps its own copy."""
    source = runs["encoder_decoder"]
    _export([str(source), "--store", str(store.parent), "--out", str(tmp_path / "a")])
    reward = tmp_path / "a" / "runs" / "encoder_decoder" / "reward" / "checkpoints" / "best.pt"
    modules = dict(load_modules(runs["encoder_decoder/reward"] / "checkpoints" / "best.pt"))
    with torch.no_grad():
        next(modules["encoder"].parameters()).add_(1.0)
    changed = tmp_path / "changed" / "encoder_decoder"
    shutil.copytree(source, changed)
    save_checkpoint(changed / "reward" / "checkpoints" / "best.pt", modules)
    manifest = read_manifest(changed / "reward")
    manifest.init_from = str(changed)
    for record in manifest.modules.values():
        if record.source != "built":
            record.source = str(changed)
    write_manifest(changed / "reward", manifest)
    _export([str(changed), "--store", str(store.parent), "--out", str(tmp_path / "b")])
    kept = tmp_path / "b" / "runs" / "encoder_decoder" / "reward" / "checkpoints" / "best.pt"
    assert set(load_modules(kept)) == {"encoder", "reward_head"}
    assert set(load_modules(reward)) == {"reward_head"}
