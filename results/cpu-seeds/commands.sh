#!/usr/bin/env bash
# Three training seeds x Assault + Breakout, both objectives with the recommended recipe, every
# derived run and default probe, then the aggregate: configs/sweeps/seeds.gin (local jobs, one per
# core; Slurm where srun exists). Run from the repository root with the six packages installed;
# rerunning the same command resumes the sweep and skips finished stages.
set -euo pipefail
OMP_NUM_THREADS=1 wm-sweep --gin configs/sweeps/seeds.gin
wm-sweep --gin configs/sweeps/seeds.gin --status

# what is committed here: the aggregate, and each evaluation's report and still plots
R=results/cpu-seeds
cp -r runs/sweeps/seeds/aggregate runs/sweeps/seeds/sweep.gin "$R/"
for g in assault breakout; do
  for s in 0 1 2; do
    E=runs/sweeps/seeds/eval/$g/recommended/seed$s
    mkdir -p "$R/eval/$g/recommended/seed$s/plots"
    cp "$E/report.md" "$E/report.json" "$R/eval/$g/recommended/seed$s/" && cp "$E"/plots/*.png "$R/eval/$g/recommended/seed$s/plots/"
  done
done
# the aggregate again from the committed reports alone (e.g. with other settings):
# wm-sweep aggregate --sweep-dir results/cpu-seeds --out /tmp/aggregate --bind "Aggregate.min_seeds = 3"
