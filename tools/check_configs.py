"""Parse every gin file under a folder, failing on unknown configurables or parameters.

Each file names the modules it needs with gin ``import`` lines, so parsing it alone proves it
is self-contained. Overlays (``scale/``, ``ablations/``, ``recipes/``) are also parsed on top of
each world-model workflow they are stacked on, as ``wm-train --gin WORKFLOW --gin OVERLAY``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import gin


def _load_plugins() -> None:
    """Every installed registry's plugins, before gin parses (it refuses configurables added
    later). A package that is not installed is skipped: a file that needs it fails to parse,
    naming it, and a folder of files that do not (a package's own tests) still checks."""
    import importlib

    for name in ("wm_data.collect", "wm_models", "wm_train.trainer", "wm_eval.probes"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:  # only the package itself may be missing
            if err.name != name.split(".")[0]:
                raise
    from wm_core import load_plugins

    load_plugins()


OVERLAY_DIRS = ("scale", "ablations", "recipes")
WORKFLOWS = ("encoder_decoder.gin", "jepa.gin", "jepa_decoder.gin")


def _parse(folder: Path, paths: list[Path]) -> bool:
    name = " + ".join(str(p.relative_to(folder)) for p in paths)
    gin.clear_config(clear_constants=True)
    try:
        gin.parse_config_files_and_bindings([str(p) for p in paths], None, skip_unknown=False)
    except Exception as exc:  # report every broken file, not just the first
        print(f"FAIL {name}: {type(exc).__name__}: {exc}")
        return False
    print(f"ok   {name}")
    return True


def check(folder: Path) -> int:
    _load_plugins()
    files = sorted(folder.rglob("*.gin"))
    stacks = [[path] for path in files]
    workflows = [folder / w for w in WORKFLOWS if (folder / w).is_file()]
    for path in files:
        if path.parent.name in OVERLAY_DIRS and path.parent.parent == folder:
            stacks += [[workflow, path] for workflow in workflows]
    failures = sum(not _parse(folder, stack) for stack in stacks)
    print(f"{len(stacks) - failures} passed, {failures} failed")
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(check(Path(sys.argv[1] if len(sys.argv) > 1 else "configs")))
