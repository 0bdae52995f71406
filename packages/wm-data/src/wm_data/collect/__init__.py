"""Collection: run a policy in many envs and write each finished episode to a store shard.

``collect`` is the entry point ``wm-collect`` binds with gin. It trains or loads the PPO agent
when the policy needs one, then tops the store up to the target size: an existing store is
checked against the configuration and appended to, so an interrupted collection resumes.
Several worker processes each write their own shard of one store directory.

The modules: :mod:`~wm_data.collect.loops` (the env loops), :mod:`~wm_data.collect.shard`
(one shard file: metadata, backend, policy), :mod:`~wm_data.collect.workers` (shard files,
targets, agent, processes) and :mod:`~wm_data.collect.entry` (the gin entry point).
"""

from wm_data.collect.entry import collect
from wm_data.collect.loops import (
    EpisodeBuffer,
    EpisodeCallback,
    Target,
    TargetGate,
    episode_seed,
    run_collection,
)
from wm_data.collect.record import RECORD_NAME, read_record
from wm_data.collect.settings import check_collect_settings
from wm_data.collect.shard import CHECK_FIELDS, collect_shard, resolve_backend, store_metadata
from wm_data.collect.workers import (
    AGENT_NAME,
    Collection,
    CollectResult,
    fill_store,
    run_jobs,
    shard_path,
)

__all__ = [
    "AGENT_NAME",
    "CHECK_FIELDS",
    "RECORD_NAME",
    "CollectResult",
    "Collection",
    "EpisodeBuffer",
    "EpisodeCallback",
    "Target",
    "TargetGate",
    "check_collect_settings",
    "collect",
    "collect_shard",
    "episode_seed",
    "fill_store",
    "read_record",
    "resolve_backend",
    "run_collection",
    "run_jobs",
    "shard_path",
    "store_metadata",
]
