#!/usr/bin/env bash
# The recommended recipe (configs/recipes/recommended.gin) at 16 epochs per workflow (~563k
# samples each) on the committed 50k Assault store of results/cpu-50k-e20-heldout (same store,
# split and test episodes), every derived run, every probe including control. Run from the
# repository root with the six packages installed; rerunning the sweep resumes it.
set -euo pipefail
mkdir -p data
[ -d data/assault ] || cp -r results/cpu-50k-e20-heldout/store data/assault

# 1. train (2 local jobs, one thread each) and evaluate: configs/sweeps/recipe.gin (16 epochs).
#    The encoder-decoder and JEPA of this folder were trained first as the 16-epoch runs of
#    results/ablation-50k/budget (its commands.sh, same commands and settings) and copied into
#    the sweep's run folders, which the sweep then finds finished.
OMP_NUM_THREADS=1 wm-sweep --gin configs/sweeps/recipe.gin

# 2. export the runs (weights-only best.pt, each frozen module kept once in its source run;
#    data.paths point to the committed store)
R=runs/sweeps/recipe16/runs/assault/recommended/seed0
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/cpu-50k-recipe-16 "$R/jepa" "$R/encoder_decoder"

# 3. the report, its plots and the learning curves
E=runs/sweeps/recipe16/eval/assault/recommended/seed0
cp "$E/report.md" "$E/report.json" results/cpu-50k-recipe-16/ && cp -r "$E/plots" results/cpu-50k-recipe-16/
python tools/plot_curves.py --out results/cpu-50k-recipe-16/plots/curves_world_models.png \
  --title "recommended recipe, 16 epochs, 50k Assault: world models" \
  "$R/encoder_decoder" "$R/jepa" "$R/jepa/jepa_decoder"

# 4. re-evaluate from the committed folder alone (no training)
# wm-eval --gin configs/eval.gin \
#   --bind "EvalConfig.probes = ('representation', 'state', 'rollout', 'action', 'reconstruction', 'reward', 'control')" \
#   --run results/cpu-50k-recipe-16/runs/jepa --run results/cpu-50k-recipe-16/runs/encoder_decoder --out /tmp/reeval -v

# 5. the recipe with 5-step JEPA targets (ROLLOUT_STEPS = 5, the recipe since the horizon study
#    of ../ablation-50k/horizon): the encoder-decoder is the same run; the JEPA is that study's
#    16-epoch 5-step run. Both go into a fresh sweep folder (store paths made absolute), and the
#    sweep trains the JEPA decoder and the JEPA's reward heads, then evaluates.
# R=runs/sweeps/recipe16/runs/assault/recommended/seed0; mkdir -p $R
# cp -r results/cpu-50k-recipe-16/runs/encoder_decoder $R/
# cp -r results/ablation-50k/horizon/runs/jepa_K5_E16 $R/jepa
# python -c "import glob, json, os
# for f in glob.glob('$R/**/run.json', recursive=True):
#     d = json.load(open(f)); d['data']['paths'] = [os.path.abspath('data/assault')]
#     json.dump(d, open(f, 'w'), indent=2)"
# OMP_NUM_THREADS=1 wm-sweep --gin configs/sweeps/recipe.gin
