#!/usr/bin/env bash
# Does an inverse-dynamics auxiliary loss make the world models use the action? The recipe
# (configs/recipes/recommended.gin) with and without configs/ablations/inverse_dynamics.gin,
# 2 epochs (70k samples) each on the 50k Assault store, scored on test episodes. The runs without
# it are the combination screen's ed_B / jepa_B (../combinations/commands.sh). Run from the
# repository root with data/assault in place (see ../commands.sh).
set -euo pipefail
recipe=(--gin configs/scale/cpu.gin --gin configs/recipes/recommended.gin --bind "EPOCHS = 2")
inverse=(--gin configs/ablations/inverse_dynamics.gin)
export OMP_NUM_THREADS=1
wm-train --gin configs/jepa.gin "${recipe[@]}" "${inverse[@]}" --bind "RUN_DIR = 'runs/screen2/jepa_D'"
wm-train --gin configs/encoder_decoder.gin "${recipe[@]}" "${inverse[@]}" \
  --bind "RUN_DIR = 'runs/screen2/ed_D'"
ev=(--gin configs/eval.gin --bind "MAX_SAMPLES = 2000" --bind "NEIGHBOUR_SAMPLES = 1000")
wm-eval "${ev[@]}" --run runs/screen2/jepa_B --run runs/screen2/jepa_D --run runs/screen2/ed_B \
  --run runs/screen2/ed_D --probe rollout --probe state --probe reconstruction \
  --out runs/screen2/eval_action
