#!/usr/bin/env bash
# Does an inverse-dynamics auxiliary loss make the JEPA's latent and predictor carry the action?
# The recipe (configs/recipes/recommended.gin) with configs/ablations/inverse_dynamics.gin at JEPA
# weight 0.01 (jepa_D) and 0.1 (jepa_E; the overlay's weight now), 2 epochs (70k samples) each on the 50k
# Assault store, scored on test episodes beside the recipe alone (the combination screen's
# jepa_B, ../combinations/commands.sh). Run from the
# repository root with data/assault in place (see ../commands.sh).
set -euo pipefail
recipe=(--gin configs/scale/cpu.gin --gin configs/recipes/recommended.gin --bind "EPOCHS = 2")
inverse=(--gin configs/ablations/inverse_dynamics.gin)
export OMP_NUM_THREADS=1
wm-train --gin configs/jepa.gin "${recipe[@]}" "${inverse[@]}" --bind "losses.jepa.inverse_weight = 0.01" \
  --bind "RUN_DIR = 'runs/screen2/jepa_D'"
# inverse weight 10x (0.1), the run reported as jepa_E
wm-train --gin configs/jepa.gin "${recipe[@]}" "${inverse[@]}" --bind "losses.jepa.inverse_weight = 0.1" \
  --bind "RUN_DIR = 'runs/screen2/jepa_E'"
# what is committed: the screen (report_screen.md) and the action probe on the 8-epoch recipe runs
# (report_recipe_runs.md)
ev=(--gin configs/eval.gin --bind "MAX_SAMPLES = 2000")
wm-eval "${ev[@]}" --run runs/screen2/jepa_B --run runs/screen2/jepa_D --run runs/screen2/jepa_E \
  --probe rollout --probe action --probe state --out runs/screen2/eval_action
wm-eval "${ev[@]}" --run runs/screen2/jepa_B --run runs/screen2/jepa_D \
  --run results/cpu-50k-recipe/runs/jepa --run results/cpu-50k-recipe/runs/encoder_decoder \
  --probe action --out runs/screen2/eval_action_probe
# FiLM action conditioning of the predictor (jepa_F), and FiLM + inverse dynamics 0.1 (jepa_G)
film=(--gin configs/ablations/film_predictor.gin)
wm-train --gin configs/jepa.gin "${recipe[@]}" "${film[@]}" --bind "RUN_DIR = 'runs/screen2/jepa_F'"
wm-train --gin configs/jepa.gin "${recipe[@]}" "${inverse[@]}" "${film[@]}" \
  --bind "losses.jepa.inverse_weight = 0.1" --bind "RUN_DIR = 'runs/screen2/jepa_G'"
wm-eval "${ev[@]}" --run runs/screen2/jepa_B --run runs/screen2/jepa_F \
  --probe action --probe rollout --probe state --out runs/screen2/eval_film
wm-eval "${ev[@]}" --run runs/screen2/jepa_E --run runs/screen2/jepa_G \
  --probe action --probe rollout --probe state --out runs/screen2/eval_film_inverse
# inverse dynamics 0.1 at the recipe's 8 epochs (jepa_E8) beside the committed 8-epoch recipe JEPA
wm-train --gin configs/jepa.gin --gin configs/scale/cpu.gin --gin configs/recipes/recommended.gin \
  "${inverse[@]}" --bind "EPOCHS = 8" --bind "losses.jepa.inverse_weight = 0.1" \
  --bind "RUN_DIR = 'runs/screen2/jepa_E8'"
wm-eval "${ev[@]}" --run results/cpu-50k-recipe/runs/jepa --run runs/screen2/jepa_E8 \
  --probe action --probe rollout --probe state --out runs/screen2/eval_E8
# its dynamics reward head (on cached latents, seconds) and the control probe (latent MPC, 10 games)
wm-train --gin configs/dynamics_reward_predictor.gin --gin configs/scale/cpu.gin \
  --gin configs/recipes/recommended.gin --bind "EPOCHS = 8" --bind "INIT_FROM = 'runs/screen2/jepa_E8'"
wm-eval --gin configs/eval.gin --run runs/screen2/jepa_E8 --probe control --probe reward \
  --out runs/screen2/eval_E8_control
# a dynamics reward head that weighs the rare rewarded steps 40x (configs/ablations/reward_events.gin)
# on a copy of jepa_E8, then its control and reward probes (report_reward_events_control.md)
mkdir -p runs/screen3/jepa_E8_events
cp -r runs/screen2/jepa_E8/{checkpoints,config.gin,metrics.jsonl,operative_config.gin,run.json} \
  runs/screen3/jepa_E8_events/
wm-train --gin configs/dynamics_reward_predictor.gin --gin configs/scale/cpu.gin \
  --gin configs/recipes/recommended.gin --gin configs/ablations/reward_events.gin \
  --bind "EPOCHS = 8" --bind "INIT_FROM = 'runs/screen3/jepa_E8_events'"
wm-eval --gin configs/eval.gin --run runs/screen3/jepa_E8_events --probe control --probe reward \
  --out runs/screen3/eval_E8_events_control
# inverse 0.1 + FiLM at the recipe's 8 epochs (jepa_G8) beside the recipe JEPA and jepa_E8
wm-train --gin configs/jepa.gin --gin configs/scale/cpu.gin --gin configs/recipes/recommended.gin \
  "${inverse[@]}" "${film[@]}" --bind "EPOCHS = 8" --bind "losses.jepa.inverse_weight = 0.1" \
  --bind "RUN_DIR = 'runs/screen3/jepa_G8'"
wm-eval "${ev[@]}" --run results/cpu-50k-recipe/runs/jepa --run runs/screen2/jepa_E8 \
  --run runs/screen3/jepa_G8 --probe action --probe rollout --probe state --out runs/screen3/eval_G8
# inverse dynamics on the encoder-decoder at 8 epochs (weight 0.01), beside the recipe's
wm-train --gin configs/encoder_decoder.gin --gin configs/scale/cpu.gin \
  --gin configs/recipes/recommended.gin "${inverse[@]}" --bind "EPOCHS = 8" \
  --bind "losses.reconstruction.inverse_weight = 0.01" --bind "RUN_DIR = 'runs/screen3/ed_E8'"
wm-eval "${ev[@]}" --run results/cpu-50k-recipe/runs/encoder_decoder --run runs/screen3/ed_E8 \
  --probe reconstruction --probe rollout --probe action --probe state --probe representation \
  --out runs/screen3/eval_ed_E8
