#!/usr/bin/env bash
# The combination screen that chose configs/recipes/recommended.gin: the best single factors of the
# one-factor screen (MSE pixel loss, K=3 JEPA rollout) stacked with a 256-wide latent, with and
# without a 1e-3 peak learning rate, 2 epochs (70k samples) each on the 50k Assault store. Run from
# the repository root with data/assault in place (see ../commands.sh).
set -euo pipefail
base=(--gin configs/scale/cpu.gin --gin configs/ablations/latent256.gin --bind "EPOCHS = 2")
ed=(--gin configs/encoder_decoder.gin --gin configs/ablations/mse.gin)
jepa=(--gin configs/jepa.gin --gin configs/ablations/jepa_k3.gin)
lr=(--gin configs/ablations/lr1e-3.gin)
export OMP_NUM_THREADS=1
wm-train "${ed[@]}" "${base[@]}" --bind "RUN_DIR = 'runs/screen2/ed_A'"            # MSE + latent 256
wm-train "${ed[@]}" "${base[@]}" "${lr[@]}" --bind "RUN_DIR = 'runs/screen2/ed_B'" # ... + lr 1e-3
wm-train --gin configs/encoder_decoder.gin --gin configs/ablations/foreground_mse.gin \
  "${base[@]}" --bind "RUN_DIR = 'runs/screen2/ed_C'"  # foreground MSE + latent 256 (stopped after 1 epoch)
wm-train "${jepa[@]}" "${base[@]}" --bind "RUN_DIR = 'runs/screen2/jepa_A'"            # K=3 + latent 256
wm-train "${jepa[@]}" "${base[@]}" "${lr[@]}" --bind "RUN_DIR = 'runs/screen2/jepa_B'" # ... + lr 1e-3
ev=(--gin configs/eval.gin --bind "MAX_SAMPLES = 2000")
wm-eval "${ev[@]}" --run runs/screen2/ed_A --run runs/screen2/ed_B --probe reconstruction \
  --out runs/screen2/eval_ed
wm-eval "${ev[@]}" --run runs/screen2/ed_C --probe reconstruction --out runs/screen2/eval_ed_C
wm-eval "${ev[@]}" --bind "NEIGHBOUR_SAMPLES = 1000" --run runs/screen2/jepa_A --run runs/screen2/jepa_B \
  --probe rollout --probe representation --out runs/screen2/eval_jepa
