"""Planning in latent space: a run's world model as a batched reward model, planners over
discrete action sequences, and real-game play in a store's own env (the control probe)."""

from wm_eval.planning.config import PLANNER_NAMES, ControlConfig, control_config
from wm_eval.planning.model import LatentModel
from wm_eval.planning.planners import CEM, PLANNERS, Plan, RandomShooting, make_planner
from wm_eval.planning.play import (
    AgentActions,
    Behaviour,
    Episode,
    PlannerActions,
    RandomActions,
    behaviour_agent,
    env_spec,
    play,
    play_env,
)

__all__ = [
    "CEM",
    "PLANNERS",
    "PLANNER_NAMES",
    "AgentActions",
    "Behaviour",
    "ControlConfig",
    "Episode",
    "LatentModel",
    "Plan",
    "PlannerActions",
    "RandomActions",
    "RandomShooting",
    "behaviour_agent",
    "control_config",
    "env_spec",
    "make_planner",
    "play",
    "play_env",
]
