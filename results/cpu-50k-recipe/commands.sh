#!/usr/bin/env bash
# The recommended recipe (configs/recipes/recommended.gin: MSE pixel loss, latent 256, 3-step
# open-loop JEPA loss, peak lr 1e-3) at 8 epochs per workflow on the committed 50k Assault store
# of results/cpu-50k-e20-heldout (same store, split and test episodes), every derived run, every
# probe including control. Run from the repository root with the six packages installed;
# rerunning the sweep resumes it.
set -euo pipefail
mkdir -p data
[ -d data/assault ] || cp -r results/cpu-50k-e20-heldout/store data/assault

# 1. train (2 local jobs, one thread each) and evaluate: configs/sweeps/recipe.gin at 8 epochs
#    (its default is now 16: ../cpu-50k-recipe-16)
OMP_NUM_THREADS=1 wm-sweep --gin configs/sweeps/recipe.gin --bind "Sweep.out = 'runs/sweeps/recipe'" \
  --bind "Sweep.train_bind = ['EPOCHS = 8']"

# 2. export the runs (weights-only best.pt; data.paths point to the committed store)
R=runs/sweeps/recipe/runs/assault/recommended/seed0
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/cpu-50k-recipe "$R/jepa" "$R/encoder_decoder"

# 3. the report, its plots and the learning curves
E=runs/sweeps/recipe/eval/assault/recommended/seed0
cp "$E/report.md" "$E/report.json" results/cpu-50k-recipe/ && cp -r "$E/plots" results/cpu-50k-recipe/
python tools/plot_curves.py --out results/cpu-50k-recipe/plots/curves_world_models.png \
  --title "recommended recipe, 50k Assault: world models" "$R/encoder_decoder" "$R/jepa" "$R/jepa/jepa_decoder"

# 4. re-evaluate from the committed folder alone (no training)
# wm-eval --gin configs/eval.gin \
#   --bind "EvalConfig.probes = ('representation', 'state', 'rollout', 'reconstruction', 'reward', 'control')" \
#   --run results/cpu-50k-recipe/runs/jepa --run results/cpu-50k-recipe/runs/encoder_decoder --out /tmp/reeval -v
