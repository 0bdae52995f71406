#!/usr/bin/env bash
# The JEPA of the recommended recipe trained on 5-step instead of 3-step open-loop latent targets
# (configs/ablations/jepa_k5.gin on top of configs/recipes/recommended.gin), same 50k Assault
# store, split and test episodes, evaluated beside the recipe's 3-step JEPA at 8 epochs
# (../../cpu-50k-recipe) and at 16 epochs (../budget). Run from the repository root with
# data/assault in place (see ../commands.sh).
set -euo pipefail
recipe=(--gin configs/scale/cpu.gin --gin configs/recipes/recommended.gin --gin configs/ablations/jepa_k5.gin)
export OMP_NUM_THREADS=1
wm-train --gin configs/jepa.gin "${recipe[@]}" --bind "EPOCHS = 8" --bind "RUN_DIR = 'runs/screen4/jepa_K5_E8'"
wm-eval --gin configs/eval.gin --run results/cpu-50k-recipe/runs/jepa --run runs/screen4/jepa_K5_E8 \
  --run results/ablation-50k/budget/runs/jepa_E16 --probe rollout --probe action --probe state \
  --probe representation --out runs/screen4/eval_K5_E8
# the per-k paired differences to each run's latent baselines (rollout_latent_differences)
wm-eval --gin configs/eval.gin --run results/cpu-50k-recipe/runs/jepa --run runs/screen4/jepa_K5_E8 \
  --run results/ablation-50k/budget/runs/jepa_E16 --probe rollout --out runs/screen4/eval_K5_E8_rollout
python tools/plot_curves.py --out results/ablation-50k/horizon/plots/curves_jepa_K5_E8.png \
  --title "JEPA, recipe with 5-step targets, 8 epochs" runs/screen4/jepa_K5_E8
# the 5-step JEPA at the recipe's 16-epoch budget, beside the 3-step one of ../budget
wm-train --gin configs/jepa.gin "${recipe[@]}" --bind "EPOCHS = 16" --bind "RUN_DIR = 'runs/screen4/jepa_K5_E16'"
wm-eval --gin configs/eval.gin --run results/ablation-50k/budget/runs/jepa_E16 --run runs/screen4/jepa_K5_E16 \
  --probe rollout --probe action --probe state --out runs/screen4/eval_K5_E16
# both 16-epoch JEPAs scored in squared error and in L1 (rollout_latent_l1), beside the
# recipe's encoder-decoder; the 5-step run exported weights-only to runs/jepa_K5_E16
# (report_l1_16_epochs.md was made from runs/screen4/jepa_K5_E16 before its export)
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/ablation-50k/horizon runs/screen4/jepa_K5_E16
wm-eval --gin configs/eval.gin --run results/ablation-50k/budget/runs/jepa_E16 \
  --run results/ablation-50k/horizon/runs/jepa_K5_E16 --run results/cpu-50k-recipe-16/runs/encoder_decoder \
  --probe rollout --out runs/l1/eval_E16
# a second training seed of both 16-epoch JEPAs (SEED = 1: initialisation and batch order; same
# store, split and test windows), each evaluated beside its seed-0 twin
for steps in 3 5; do
  overlay=(); [ "$steps" = 5 ] && overlay=(--gin configs/ablations/jepa_k5.gin)
  wm-train --gin configs/jepa.gin "${recipe[@]:0:4}" "${overlay[@]}" --bind "EPOCHS = 16" --bind "SEED = 1" \
    --bind "RUN_DIR = 'runs/seed1/jepa_K${steps}_E16_s1'"
done
wm-eval --gin configs/eval.gin --run results/ablation-50k/budget/runs/jepa_E16 --run runs/seed1/jepa_K3_E16_s1 \
  --probe rollout --probe state --out runs/seed1/eval_K3
wm-eval --gin configs/eval.gin --run results/ablation-50k/horizon/runs/jepa_K5_E16 --run runs/seed1/jepa_K5_E16_s1 \
  --probe rollout --probe state --out runs/seed1/eval_K5
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/ablation-50k/horizon runs/seed1/jepa_K3_E16_s1 runs/seed1/jepa_K5_E16_s1
python tools/plot_curves.py --out results/ablation-50k/horizon/plots/curves_jepa_16_epochs_seeds.png \
  --title "JEPA, 3-step targets, 16 epochs, seeds 0 and 1" results/ablation-50k/budget/runs/jepa_E16 runs/seed1/jepa_K3_E16_s1
python tools/plot_curves.py --out results/ablation-50k/horizon/plots/curves_jepa_k5_16_epochs_seeds.png \
  --title "JEPA, 5-step targets, 16 epochs, seeds 0 and 1" results/ablation-50k/horizon/runs/jepa_K5_E16 runs/seed1/jepa_K5_E16_s1
# 5-step targets with inverse dynamics 0.1 and FiLM action conditioning (the levers that made the
# 3-step JEPA's 1-step error beat linear dynamics at 8 epochs, ../action), 8 epochs, evaluated
# beside the 5-step JEPA at 8 epochs (the same without the two levers) and at 16 epochs
wm-train --gin configs/jepa.gin "${recipe[@]}" --gin configs/ablations/inverse_dynamics.gin \
  --gin configs/ablations/film_predictor.gin --bind "EPOCHS = 8" --bind "RUN_DIR = 'runs/screen5/jepa_K5_G8'"
wm-eval --gin configs/eval.gin --run runs/screen4/jepa_K5_E8 --run runs/screen5/jepa_K5_G8 \
  --run results/ablation-50k/horizon/runs/jepa_K5_E16 --probe rollout --probe action --probe state \
  --out runs/screen5/eval_K5_G8
python tools/plot_curves.py --out results/ablation-50k/horizon/plots/curves_jepa_K5_G8.png \
  --title "JEPA, 5-step targets + inverse dynamics + FiLM, 8 epochs" runs/screen5/jepa_K5_G8 runs/screen4/jepa_K5_E8
# the 5-step JEPA at 8 epochs, seed 1, evaluated beside seed 0 (exported to runs/jepa_K5_E8)
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/ablation-50k/horizon runs/screen4/jepa_K5_E8
OMP_NUM_THREADS=2 wm-train --gin configs/jepa.gin "${recipe[@]}" --bind "EPOCHS = 8" --bind "SEED = 1" \
  --bind "RUN_DIR = 'runs/seed1/jepa_K5_E8_s1'"
OMP_NUM_THREADS=2 wm-eval --gin configs/eval.gin --run results/ablation-50k/horizon/runs/jepa_K5_E8 \
  --run runs/seed1/jepa_K5_E8_s1 --probe rollout --probe state --out runs/seed1/eval_K5_E8
python tools/export_result.py --store results/cpu-50k-e20-heldout/store --store-committed \
  --out results/ablation-50k/horizon runs/seed1/jepa_K5_E8_s1
python tools/plot_curves.py --out results/ablation-50k/horizon/plots/curves_jepa_k5_8_epochs_seeds.png \
  --title "JEPA, 5-step targets, 8 epochs, seeds 0 and 1" runs/screen4/jepa_K5_E8 runs/seed1/jepa_K5_E8_s1
