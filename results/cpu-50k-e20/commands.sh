#!/usr/bin/env bash
# The second CPU comparison: the same ~50k Assault transitions as results/cpu-50k (PPO agent
# trained from scratch for 100k steps, 20% random actions), 64x64 grayscale, 4-frame context,
# latent 64, batch 128, now 20 epochs per workflow and the conv encoder's default
# GroupNorm (encoders.conv.norm = 'group'). Run from the repository root with the four
# packages installed.
set -euo pipefail
DATA=data/assault
RUNS=${RUNS:-runs/cpu-50k-e20}
OUT=${OUT:-results/cpu-50k-e20}
SCALE=(--gin configs/scale/cpu.gin --bind "EPOCHS = 20" --bind "DATA = '$DATA'")

wm-collect --gin configs/collect.gin --gin configs/scale/cpu.gin   # 52,360 steps, 93 episodes
wm-train --gin configs/encoder_decoder.gin "${SCALE[@]}" --run-dir "$RUNS/encoder_decoder"
wm-train --gin configs/jepa.gin "${SCALE[@]}" --run-dir "$RUNS/jepa"
wm-train --gin configs/jepa_decoder.gin "${SCALE[@]}" --bind "INIT_FROM = '$RUNS/jepa'"
for source in jepa encoder_decoder; do
  for workflow in reward_predictor dynamics_reward_predictor; do
    wm-train --gin "configs/$workflow.gin" "${SCALE[@]}" --bind "INIT_FROM = '$RUNS/$source'"
  done
done
wm-eval --gin configs/eval.gin --run "$RUNS/jepa" --run "$RUNS/encoder_decoder" --out "$OUT"
