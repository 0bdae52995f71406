#!/usr/bin/env bash
# One-factor screen of the training recipe (issue: world models that learn what is on the
# screen) on the committed 50k Assault store, run from the repository root with the six
# packages installed. Each variant of configs/sweeps/ablation.gin trains the encoder-decoder and
# the JEPA for 2 epochs (~70k samples) from the seed's setting plus one overlay of
# configs/ablations/, then wm-eval scores the 15 test episodes.
set -euo pipefail
mkdir -p data
[ -d data/assault ] || cp -r results/cpu-50k-e20-heldout/store data/assault

# 0. on a fresh checkout, put the evaluated variants' committed records back in the sweep's
#    layout: the sweep skips a variant whose runs are finished and whose report exists
for dir in results/ablation-50k/variants/*/; do
  variant=$(basename "$dir"); eval_dir=runs/sweeps/ablation/eval/assault/$variant/seed0
  [ -f "$eval_dir/report.json" ] && continue
  mkdir -p "$eval_dir"; cp "$dir/report.md" "$dir/report.json" "$eval_dir/"
  for run in encoder_decoder jepa; do
    mkdir -p "runs/sweeps/ablation/runs/assault/$variant/seed0/$run"
    cp "$dir/$run/"* "runs/sweeps/ablation/runs/assault/$variant/seed0/$run/"
  done
done

# 1. the sweep (2 local jobs on 2 cores; rerun the same command to continue after a stop)
OMP_NUM_THREADS=1 wm-sweep --gin configs/sweeps/ablation.gin

# 2. the ablation table (aggregate.md, "Variants" section) and learning curves
wm-sweep aggregate --sweep-dir runs/sweeps/ablation --out results/ablation-50k

# 3. keep each finished variant's evaluation and run records (no weights) beside the table
for report in runs/sweeps/ablation/eval/assault/*/seed0/report.json; do
  dir=$(dirname "$report"); variant=$(basename "$(dirname "$dir")")
  mkdir -p "results/ablation-50k/variants/$variant"
  cp "$dir/report.md" "$dir/report.json" "results/ablation-50k/variants/$variant/"
  cp "$dir/plots/reconstruction_grid.png" "results/ablation-50k/variants/$variant/" 2>/dev/null || true
  for run in encoder_decoder jepa; do
    src=runs/sweeps/ablation/runs/assault/$variant/seed0/$run
    mkdir -p "results/ablation-50k/variants/$variant/$run"
    cp "$src/run.json" "$src/config.gin" "$src/metrics.jsonl" "results/ablation-50k/variants/$variant/$run/"
  done
done
