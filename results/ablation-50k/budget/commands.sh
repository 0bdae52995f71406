#!/usr/bin/env bash
# The recommended recipe at 16 epochs (twice configs/scale/cpu.gin's 8) on the 50k Assault store,
# each run evaluated beside ../../cpu-50k-recipe's 8-epoch run of the same objective. Run from
# the repository root with data/assault in place (see ../commands.sh).
set -euo pipefail
recipe=(--gin configs/scale/cpu.gin --gin configs/recipes/recommended.gin --bind "EPOCHS = 16")
export OMP_NUM_THREADS=1
wm-train --gin configs/encoder_decoder.gin "${recipe[@]}" --bind "RUN_DIR = 'runs/screen3/ed_E16'"
wm-train --gin configs/jepa.gin "${recipe[@]}" --bind "RUN_DIR = 'runs/screen3/jepa_E16'"
wm-eval --gin configs/eval.gin --run results/cpu-50k-recipe/runs/encoder_decoder \
  --run runs/screen3/ed_E16 --probe reconstruction --probe rollout --probe action --probe state \
  --probe representation --out runs/screen3/eval_ed_E16
wm-eval --gin configs/eval.gin --run results/cpu-50k-recipe/runs/jepa --run runs/screen3/jepa_E16 \
  --probe rollout --probe action --probe state --probe representation --out runs/screen3/eval_jepa_E16
