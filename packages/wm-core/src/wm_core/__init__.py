"""wm-core: the small base every workbench package shares.

- ``Registry``: names -> parts, with clash rules, did-you-mean and entry-point plugins;
- ``gin_front``: the gin front end of every CLI (parse, macro check, one-line errors);
- ``io``: atomic writes and plain JSON values;
- ``run_format``: the run directory wm-train writes and wm-eval reads.
"""

from wm_core.device import available_cores, resolve_device
from wm_core.gin_front import (
    ConfigError,
    configurable,
    debug_enabled,
    explain_gin_error,
    external_configurable,
    one_line,
    parse_config,
)
from wm_core.io import atomic_write, atomic_write_text, to_plain
from wm_core.names import UnknownNameError, did_you_mean, unknown_name
from wm_core.plugins import load_all as load_plugins
from wm_core.registry import Registry, RegistryClashError
from wm_core.run_format import (
    ModuleRecord,
    RunFormatError,
    RunManifest,
    checkpoint_path,
    read_manifest,
    resolve_init_from,
    write_manifest,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ModuleRecord",
    "Registry",
    "RegistryClashError",
    "RunFormatError",
    "RunManifest",
    "UnknownNameError",
    "__version__",
    "atomic_write",
    "atomic_write_text",
    "available_cores",
    "checkpoint_path",
    "configurable",
    "debug_enabled",
    "did_you_mean",
    "explain_gin_error",
    "external_configurable",
    "load_plugins",
    "one_line",
    "parse_config",
    "read_manifest",
    "resolve_device",
    "resolve_init_from",
    "to_plain",
    "unknown_name",
    "write_manifest",
]
