"""The ablation view: a sweep of several variants gets one row per variant with each run's
training cost, its headline cells and verdicts, and learning curves per objective."""

from __future__ import annotations

import json
from pathlib import Path

from wm_sweep.aggregate import aggregate

VARIANTS = {
    # variant: (ED next-frame L1, its verdict, JEPA latent error, its verdict, ED samples seen)
    "seed": (0.0090, "worse than copy-last-frame", 0.054, "beats jepa · copy-latent", 70000),
    "mse": (0.0051, "beats copy-last-frame", 0.055, "beats jepa · copy-latent", 70000),
}


def _run(root: Path, name: str, samples: int, seconds: float, losses: list[float]) -> Path:
    run = root / name
    run.mkdir(parents=True)
    training = {"samples_seen": samples, "steps": samples // 128, "train_seconds": seconds}
    (run / "run.json").write_text(json.dumps({"status": "finished", "training": training}))
    lines = [
        {"step": i + 1, "samples_seen": (i + 1) * samples // len(losses), "val/loss": loss}
        for i, loss in enumerate(losses)
    ]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return run


def _cell(value: float, verdict: str, baseline: str, baseline_value: float) -> dict:
    return {
        "value": value,
        "interval": {"value": value, "low": value * 0.9, "high": value * 1.1, "n": 15},
        "flag": None,
        "verdict": verdict,
        "baseline": {"name": baseline, "value": baseline_value},
    }


def _write_sweep(root: Path) -> None:
    for variant, (l1, l1_verdict, latent, latent_verdict, samples) in VARIANTS.items():
        runs = root / "runs" / "assault" / variant / "seed0"
        ed = _run(runs, "encoder_decoder", samples, 600.0, [0.02, 0.012])
        jepa = _run(runs, "jepa", samples, 240.0, [0.05, 0.03])
        rows = {
            "next_frame_l1": {
                "metric": "next-frame L1",
                "better": "lower",
                "space": "pixels",
                "runs": {
                    "encoder_decoder": _cell(l1, l1_verdict, "copy-last-frame", 0.0063),
                    "jepa": _cell(0.012, "worse than copy-last-frame", "copy-last-frame", 0.0063),
                },
                "run_vs_run": [{"a": "jepa", "b": "encoder_decoder", "verdict": None}],
            },
            "latent_1step_error": {
                "metric": "latent error",
                "better": "lower",
                "space": "latent",
                "runs": {
                    "jepa": _cell(latent, latent_verdict, "jepa · copy-latent", 0.12),
                    "encoder_decoder": _cell(0.4, "worse than linear", "linear", 0.08),
                },
                "run_vs_run": None,
            },
        }
        report = root / "eval" / "assault" / variant / "seed0" / "report.json"
        report.parent.mkdir(parents=True)
        runs_info = {"encoder_decoder": {"path": str(ed)}, "jepa": {"path": str(jepa)}}
        report.write_text(json.dumps({"headline": {"rows": rows}, "runs": runs_info}))


def test_an_ablation_gets_one_row_per_variant_with_cost_verdicts_and_curves(
    tmp_path: Path,
) -> None:
    _write_sweep(tmp_path)
    result = aggregate(tmp_path)
    records = {r["variant"]: r for r in result["variants"]}
    assert set(records) == set(VARIANTS)
    seed, mse = records["seed"], records["mse"]
    assert seed["training"]["encoder_decoder"] == {
        "status": "finished",
        "samples_seen": 70000,
        "steps": 546,
        "train_seconds": 600.0,
    }
    assert seed["cells"]["encoder_decoder/next_frame_l1"]["verdict"].startswith("worse")
    assert mse["cells"]["encoder_decoder/next_frame_l1"]["value"] == 0.0051
    assert mse["cells"]["jepa/latent_1step_error"]["baseline"] == "jepa · copy-latent"
    assert seed["cells"]["jepa/state_probe_mean"] is None  # the probe did not run: n/a

    text = (tmp_path / "aggregate" / "aggregate.md").read_text()
    table = text[text.index("## Variants (ablation view)") :]
    mse_line = next(line for line in table.splitlines() if line.startswith("| mse |"))
    assert "70k, 10.0 min" in mse_line and "70k, 4.0 min" in mse_line
    assert "0.0051 [0.00459, 0.00561] **beats**" in mse_line
    seed_line = next(line for line in table.splitlines() if line.startswith("| seed |"))
    assert "0.009 [0.0081, 0.0099] worse" in seed_line
    assert "- ED next-frame L1: copy-last-frame 0.0063" in table
    curves = result["plots"]["curves"]
    assert set(curves) == {"encoder_decoder", "jepa"}
    assert all(Path(p).stat().st_size > 1000 for p in curves.values())


def test_a_single_variant_sweep_has_no_ablation_view(tmp_path: Path) -> None:
    _write_sweep(tmp_path)
    for path in (tmp_path / "eval" / "assault" / "mse").rglob("*"):
        if path.is_file():
            path.unlink()
    result = aggregate(tmp_path)
    assert "variants" not in result
    assert "ablation view" not in (tmp_path / "aggregate" / "aggregate.md").read_text()
