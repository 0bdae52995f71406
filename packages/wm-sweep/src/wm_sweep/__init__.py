"""wm-sweep: grids of seeds x games x recipes as a stage graph, run by submitit.

``wm-sweep --gin configs/sweeps/seeds.gin`` expands a ``Sweep`` spec into collect -> train ->
derived runs -> evaluation -> aggregate and runs it on Slurm (where ``srun`` exists) or locally;
``wm-sweep aggregate --sweep-dir DIR`` writes the aggregate report. The other packages are run
through their command lines only.
"""

from wm_sweep.plan import Plan, expand, game_slug
from wm_sweep.spec import Aggregate, Local, Slurm, SpecError, Sweep
from wm_sweep.stages import Stage, stage_done

__version__ = "0.1.0"

__all__ = [
    "Aggregate",
    "Local",
    "Plan",
    "Slurm",
    "SpecError",
    "Stage",
    "Sweep",
    "__version__",
    "expand",
    "game_slug",
    "stage_done",
]
