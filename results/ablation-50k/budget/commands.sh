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
# what is committed: weights-only runs beside the store they read, then the same evaluations
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/ablation-50k/budget runs/screen3/ed_E16 runs/screen3/jepa_E16
# re-evaluate from the committed folders alone (no training)
B=results/ablation-50k/budget/runs
wm-eval --gin configs/eval.gin --run results/cpu-50k-recipe/runs/encoder_decoder --run $B/ed_E16 \
  --probe reconstruction --probe rollout --probe action --probe state --probe representation \
  --out runs/budget_eval_ed
wm-eval --gin configs/eval.gin --run results/cpu-50k-recipe/runs/jepa --run $B/jepa_E16 \
  --probe rollout --probe action --probe state --probe representation --out runs/budget_eval_jepa
