"""Read-outs of the store-only baselines, kept on disk between evaluations.

The pooled-pixel read-outs (state probes, reward information) depend on the store, the split,
the subsample and the read-out code, not on the runs being evaluated, yet they are one of the
largest parts of an evaluation (about 3 of its 16.5 encoder-pass units in ``bench_eval.py``).
A sweep evaluates many runs of one store, so with ``EvalConfig.baseline_cache`` set their
results are memoised by ``joblib.Memory``: the key is a hash of the inputs' contents (feature
and target arrays, settings), the source of the memoised function and the versions of wm-eval,
scikit-learn and numpy, so a changed subsample, store, function or library refits. A changed
helper the function calls is not seen: clear the folder after editing the read-out code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["cached"]


def _versions() -> tuple[str, ...]:
    import numpy
    import sklearn

    from wm_eval import __version__

    return (__version__, sklearn.__version__, numpy.__version__)


def _source(fn: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):  # no source (a builtin, a REPL function): its name only
        return f"{fn.__module__}.{fn.__qualname__}"


def cached(fn: F, folder: str | None) -> F:
    """``fn`` memoised in ``folder`` (None: ``fn`` itself, nothing is kept)."""
    if folder is None:
        return fn
    from joblib import Memory

    memory = Memory(folder, verbose=0)

    def keyed(key: tuple[str, ...], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    keyed.__name__ = keyed.__qualname__ = f"{fn.__module__}.{fn.__qualname__}"
    memoised = memory.cache(keyed)

    key = (*_versions(), _source(fn))

    @wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return memoised(key, *args, **kwargs)

    return call  # type: ignore[return-value]
