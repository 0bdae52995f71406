#!/usr/bin/env bash
# The first CPU comparison: ~50k Assault transitions (PPO agent trained from scratch for 100k
# steps, 20% random actions), 64x64 grayscale, 4-frame context, latent 64, batch 128, 3 epochs
# per workflow, with the plain conv stack (encoders.conv.norm = 'none'; the default is now
# 'group'). Run from the repository root with the four packages installed.
set -euo pipefail
DATA=data/assault
RUNS=${RUNS:-runs/cpu-50k}
SCALE=(--gin configs/scale/cpu.gin --bind "EPOCHS = 3" --bind "DATA = '$DATA'"
       --bind "encoders.conv.norm = 'none'")

wm-collect --gin configs/collect.gin --gin configs/scale/cpu.gin   # 52,360 steps, 93 episodes
wm-train --gin configs/encoder_decoder.gin "${SCALE[@]}" --run-dir "$RUNS/encoder_decoder"
wm-train --gin configs/jepa.gin "${SCALE[@]}" --run-dir "$RUNS/jepa"
wm-train --gin configs/jepa_decoder.gin "${SCALE[@]}" --bind "INIT_FROM = '$RUNS/jepa'"
for source in jepa encoder_decoder; do
  for workflow in reward_predictor dynamics_reward_predictor; do
    wm-train --gin "configs/$workflow.gin" "${SCALE[@]}" --bind "INIT_FROM = '$RUNS/$source'"
  done
done
wm-eval --gin configs/eval.gin --run "$RUNS/jepa" --run "$RUNS/encoder_decoder" --out results/cpu-50k
