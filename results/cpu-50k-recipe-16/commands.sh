#!/usr/bin/env bash
# The recommended recipe (configs/recipes/recommended.gin) at 16 epochs per workflow (~563k
# samples each) on the committed 50k Assault store of results/cpu-50k-e20-heldout (same store,
# split and test episodes), every derived run, every probe including control; the JEPA trains on
# 5-step open-loop targets (ROLLOUT_STEPS = 5). Run from the
# repository root with the six packages installed; rerunning the sweep resumes it.
set -euo pipefail
mkdir -p data
[ -d data/assault ] || cp -r results/cpu-50k-e20-heldout/store data/assault

# 1. the two world models, trained first on their own (same settings, 16 epochs each): the
#    encoder-decoder is the 16-epoch run of results/ablation-50k/budget and the JEPA the
#    16-epoch 5-step run of results/ablation-50k/horizon (runs/jepa_K5_E16); see their
#    commands.sh. Both go into the sweep's run folders (store path made absolute), where the
#    sweep finds them finished; it trains the JEPA decoder and the JEPA's reward heads (2 local
#    jobs, one thread each; the encoder-decoder's reward heads come with its folder) and
#    evaluates with every probe including control.
R=runs/sweeps/recipe16/runs/assault/recommended/seed0
if [ ! -d "$R/jepa" ]; then
  mkdir -p "$R"
  cp -r results/cpu-50k-recipe-16/runs/encoder_decoder "$R/"
  cp -r results/ablation-50k/horizon/runs/jepa_K5_E16 "$R/jepa"
  python -c "import glob, json, os
for f in glob.glob('$R/**/run.json', recursive=True):
    d = json.load(open(f)); d['data']['paths'] = [os.path.abspath('data/assault')]
    json.dump(d, open(f, 'w'), indent=2)"
fi
OMP_NUM_THREADS=1 wm-sweep --gin configs/sweeps/recipe.gin

# 2. export the JEPA and its derived runs (weights-only best.pt, each frozen module kept once in
#    its source run; data.paths point to the committed store). runs/encoder_decoder is kept as
#    it was committed; the JEPA's best.pt is byte-identical to the horizon study's.
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/cpu-50k-recipe-16 "$R/jepa"

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

# The same folder with the recipe's earlier 3-step JEPA (ROLLOUT_STEPS = 3; its JEPA was the
# 16-epoch 3-step run of results/ablation-50k/budget): jepa_3step/ keeps its report, grid and
# curves; its weights are in the repository's history (git log -- results/cpu-50k-recipe-16/runs/jepa).
