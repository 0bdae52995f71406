"""Linear probes: how linearly decodable a variable is from a latent, on held-out data."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, r2_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from wm_eval.metrics._checks import as_2d, same_length
from wm_eval.metrics.ridge import GramRidgeCV

RIDGE_ALPHAS = tuple(np.logspace(-3, 3, 7))


def balanced_logistic(n_classes: int, n_samples: int, n_features: int) -> LogisticRegression:
    """The class-balanced logistic read-out, with the solver that fits it fastest.

    Both solvers minimise the same convex loss. L-BFGS makes hundreds of passes over the
    features, each as slow as memory once they outgrow the cache (8000 windows of 16×16 pooled
    frames: 65 MB); a Newton step with a Cholesky solve costs a dense ``n p²`` product, about 6
    of them in all. Measured (CPU seconds, one thread, Assault pooled pixels, p = 1024): at
    n = 8000, L-BFGS 3.3-5.1 s per binary variable, Newton 1.3-1.7 s; at n = 1316, L-BFGS
    0.1-0.2 s, Newton 0.3 s. So: Newton for two classes on tall data (n >= 4p), else L-BFGS
    (a multinomial Newton system grows with the square of classes × features).
    """
    tall = n_samples >= 4 * n_features
    solver = "newton-cholesky" if n_classes == 2 and tall else "lbfgs"
    return LogisticRegression(class_weight="balanced", max_iter=2000, solver=solver)


def logistic_features(x: np.ndarray) -> np.ndarray:
    """Features for a logistic read-out, in float32.

    Newton-Cholesky on 8,000 x 1,024 pooled Assault pixels: 2.7 s per binary variable in
    float32 against 5.2 s in float64, the same 8 iterations; every test prediction of every
    categorical Assault variable is identical in both.
    """
    return np.asarray(x, dtype=np.float32)


def linear_probe(
    z_train: np.ndarray,
    y_train: np.ndarray,
    z_test: np.ndarray,
    y_test: np.ndarray,
    *,
    categorical: bool = False,
) -> dict[str, float]:
    """Fit a linear read-out on train rows, score it on test rows (different episodes).

    Regression: standardised latents -> :class:`~wm_eval.metrics.ridge.GramRidgeCV` (alpha chosen
    by efficient leave-one-out on the train rows), scored by R² on the test rows (1 = perfect,
    0 = no better than the test mean, negative = worse). Categorical: multinomial
    :class:`~sklearn.linear_model.LogisticRegression`, scored by accuracy, with
    ``chance`` = accuracy of always predicting the most frequent train class.
    A target that is constant on the train rows is not probed (``nan``).
    """
    z_train, z_test = as_2d(z_train, "z_train"), as_2d(z_test, "z_test")
    y_train, y_test = np.asarray(y_train).ravel(), np.asarray(y_test).ravel()
    same_length(z_train=z_train, y_train=y_train)
    same_length(z_test=z_test, y_test=y_test)
    if z_train.shape[1] != z_test.shape[1]:
        raise ValueError(f"z_test: {z_test.shape[1]} features, z_train has {z_train.shape[1]}")
    if len(np.unique(y_train)) < 2:
        key = "accuracy" if categorical else "r2"
        return {key: float("nan"), "n_train": len(y_train), "n_test": len(y_test)}
    if categorical:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(z_train, y_train)
        values, counts = np.unique(y_train, return_counts=True)
        return {
            "accuracy": float(accuracy_score(y_test, model.predict(z_test))),
            "chance": float(np.mean(y_test == values[np.argmax(counts)])),
            "n_train": len(y_train),
            "n_test": len(y_test),
        }
    model = make_pipeline(StandardScaler(), GramRidgeCV(alphas=RIDGE_ALPHAS))
    model.fit(z_train, y_train.astype(np.float64))
    pred = model.predict(z_test)
    r2 = float(r2_score(y_test, pred)) if np.var(y_test) > 0 else float("nan")
    return {"r2": r2, "n_train": len(y_train), "n_test": len(y_test)}


def event_scores(
    x_train: np.ndarray, event_train: np.ndarray, x_test: np.ndarray, event_test: np.ndarray
) -> np.ndarray | None:
    """Test-row scores of a class-balanced logistic read-out of a rare binary event.

    Features are standardised with the train rows' statistics, so read-outs of latents of very
    different scales are regularised alike. None when either split lacks one of the classes.
    """
    x_train, x_test = as_2d(x_train, "x_train"), as_2d(x_test, "x_test")
    y_train = np.asarray(event_train).ravel().astype(bool)
    y_test = np.asarray(event_test).ravel().astype(bool)
    same_length(x_train=x_train, event_train=y_train)
    same_length(x_test=x_test, event_test=y_test)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"x_test: {x_test.shape[1]} features, x_train has {x_train.shape[1]}")
    if not (0 < y_train.sum() < len(y_train) and 0 < y_test.sum() < len(y_test)):
        return None
    model = make_pipeline(StandardScaler(), balanced_logistic(2, *x_train.shape))
    model.fit(logistic_features(x_train), y_train)
    return model.decision_function(logistic_features(x_test)).astype(np.float64)


def event_probe(
    x_train: np.ndarray, event_train: np.ndarray, x_test: np.ndarray, event_test: np.ndarray
) -> dict[str, float]:
    """How well a linear read-out of ``x`` detects a rare binary event (e.g. reward > 0).

    Standardised features -> class-balanced logistic regression fit on train rows, scored on
    test rows by AUROC (0.5 = chance) and average precision (chance = ``prevalence``, the
    test share of events), the two measures that stay meaningful when events are rare.
    ``nan`` when either split lacks one of the two classes.
    """
    y_train = np.asarray(event_train).ravel().astype(bool)
    y_test = np.asarray(event_test).ravel().astype(bool)
    score = event_scores(x_train, y_train, x_test, y_test)
    nan = float("nan")
    out = {
        "auroc": nan,
        "average_precision": nan,
        "prevalence": float(y_test.mean()) if len(y_test) else nan,
        "n_train_events": int(y_train.sum()),
        "n_test_events": int(y_test.sum()),
    }
    if score is None:
        return out
    out["auroc"] = float(roc_auc_score(y_test, score))
    out["average_precision"] = float(average_precision_score(y_test, score))
    return out
