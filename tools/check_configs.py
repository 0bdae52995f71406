"""Parse every gin file under a folder, failing on unknown configurables or parameters.

Each file names the modules it needs with gin ``import`` lines, so parsing it alone proves it
is self-contained.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gin


def _load_plugins() -> None:
    """Every registry's plugins, before gin parses (it refuses configurables added later)."""
    import importlib

    for name in ("wm_data.collect", "wm_models", "wm_train.trainer", "wm_eval.probes"):
        importlib.import_module(name)
    from wm_core import load_plugins

    load_plugins()


def check(folder: Path) -> int:
    _load_plugins()
    failures = 0
    files = sorted(folder.rglob("*.gin"))
    for path in files:
        gin.clear_config(clear_constants=True)
        try:
            gin.parse_config_files_and_bindings([str(path)], None, skip_unknown=False)
        except Exception as exc:  # report every broken file, not just the first
            failures += 1
            print(f"FAIL {path.relative_to(folder)}: {type(exc).__name__}: {exc}")
        else:
            print(f"ok   {path.relative_to(folder)}")
    print(f"{len(files) - failures} passed, {failures} failed")
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(check(Path(sys.argv[1] if len(sys.argv) > 1 else "configs")))
