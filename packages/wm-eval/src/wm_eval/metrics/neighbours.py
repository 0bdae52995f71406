"""Neighbourhood preservation (trustworthiness, continuity) without an N x N distance matrix.

Both follow :func:`sklearn.manifold.trustworthiness` exactly (Venna & Kaski 2001):

    T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in U_i^k} (r(i, j) - k)

where ``U_i^k`` are the ``k`` nearest neighbours of ``i`` in the embedded space that are not
among its ``k`` nearest in the reference space, and ``r(i, j)`` is the rank of ``j`` among
``i``'s neighbours in the reference space. sklearn materialises the full ``n x n`` distance
matrix and its argsort; here the embedded neighbours come from
:class:`sklearn.neighbors.NearestNeighbors` and each rank is a count of closer points, taken
over row blocks from :func:`sklearn.metrics.pairwise_distances_chunked`, so peak memory is
``working_memory`` MiB plus ``O(n k)``, whatever ``n`` is. Ties are ranked optimistically
(strictly closer points only); sklearn breaks them by sort order.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances_chunked
from sklearn.neighbors import NearestNeighbors

from wm_eval.metrics._checks import as_2d, same_length


def knn_indices(x: np.ndarray, k: int) -> np.ndarray:
    """Indices ``[N, k]`` of each point's ``k`` nearest neighbours, the point itself excluded."""
    x = as_2d(x, "x")
    return NearestNeighbors(n_neighbors=k).fit(x).kneighbors(return_distance=False)


def _rank_penalty(
    reference: np.ndarray, neighbours: np.ndarray, k: int, working_memory: int
) -> np.ndarray:
    """Per point ``i``: the sum over ``j in neighbours[i]`` of ``max(rank_ref(i, j) - k, 0)``."""
    return _rank_penalties(reference, [neighbours], k, working_memory)[0]


def _rank_penalties(
    reference: np.ndarray,
    neighbours: list[np.ndarray],
    k: int,
    working_memory: int,
    *,
    own_neighbours: bool = False,
) -> list[np.ndarray]:
    """``_rank_penalty`` for several neighbour sets, in one pass over the reference distances.

    ``own_neighbours``: also return, last, the reference's own ``k`` nearest neighbours of
    every point (nearest first, ties to the lower index), read off the same distance rows.
    """

    def reduce(block: np.ndarray, start: int) -> tuple[np.ndarray, ...]:
        rows = np.arange(len(block))
        block[rows, start + rows] = np.inf  # a point is not its own neighbour
        out = []
        for nb in neighbours:
            nbrs = nb[start : start + len(block)]
            d_ij = block[rows[:, None], nbrs]
            ranks = np.empty(nbrs.shape, dtype=np.int64)
            for c in range(nbrs.shape[1]):
                ranks[:, c] = (block < d_ij[:, c : c + 1]).sum(axis=1) + 1
            out.append(np.maximum(ranks - k, 0).sum(axis=1))  # one penalty per row
        if own_neighbours:
            out.append(np.argsort(block, axis=1, kind="stable")[:, :k])
        return tuple(out)

    chunks = list(
        pairwise_distances_chunked(
            reference, reduce_func=reduce, working_memory=working_memory, n_jobs=1
        )
    )
    out = [
        np.concatenate([np.asarray(c[i], dtype=np.float64) for c in chunks])
        for i in range(len(neighbours))
    ]
    if own_neighbours:
        out.append(np.concatenate([c[-1] for c in chunks]))
    return out


def _float(x: np.ndarray) -> np.ndarray:
    """float64, the precision sklearn computes Euclidean distances in.

    Given float32 rows, sklearn upcasts them block by block for every distance block, which
    on pixel clouds (thousands of columns) costs ~15x one float64 copy made here: 16.6 s vs
    1.1 s for the pixel neighbourhoods of 735 64×64×4 windows on a loaded 2-core machine.
    The copy is ``n x D x 8`` bytes (4,000 context windows of 64×64×4 pixels: 0.5 GB).
    """
    return x.astype(np.float64, copy=False)


def _check_k(n: int, k: int) -> None:
    if not 1 <= k < n / 2:
        raise ValueError(f"n_neighbors must be in [1, n/2) = [1, {n / 2:g}), got {k}")


def trustworthiness_per_point(
    reference: np.ndarray,
    embedded: np.ndarray,
    *,
    n_neighbors: int = 5,
    working_memory: int = 256,
) -> np.ndarray:
    """Each point's share of trustworthiness: ``1 - 2 p_i / (k (2n - 3k - 1))``.

    ``p_i`` is point ``i``'s rank penalty, so the mean over points is exactly
    :func:`trustworthiness`. The neighbourhoods are those of the whole set: resampling these
    values (by episode) gives an interval for which states were scored, with the neighbour
    graph held fixed.
    """
    reference, embedded = _float(as_2d(reference, "reference")), _float(as_2d(embedded, "embedded"))
    n = same_length(reference=reference, embedded=embedded)
    _check_k(n, n_neighbors)
    k = n_neighbors
    nbrs = knn_indices(embedded, k)
    penalty = _rank_penalty(reference, nbrs, k, working_memory)
    return 1.0 - penalty * 2.0 / (k * (2.0 * n - 3.0 * k - 1.0))


def trustworthiness_per_point_many(
    reference: np.ndarray,
    embedded: list[np.ndarray],
    *,
    n_neighbors: int = 5,
    working_memory: int = 256,
) -> list[np.ndarray]:
    """``trustworthiness_per_point`` of several embeddings against one reference.

    The reference distances (the costly part for a pixel reference) are computed once.
    """
    reference = _float(as_2d(reference, "reference"))
    embedded = [_float(as_2d(e, "embedded")) for e in embedded]
    n = same_length(reference=reference, **{f"embedded[{i}]": e for i, e in enumerate(embedded)})
    _check_k(n, n_neighbors)
    k = n_neighbors
    nbrs = [knn_indices(e, k) for e in embedded]
    penalties = _rank_penalties(reference, nbrs, k, working_memory)
    return [1.0 - p * 2.0 / (k * (2.0 * n - 3.0 * k - 1.0)) for p in penalties]


def neighbourhoods_per_point(
    reference: np.ndarray,
    embedded: list[np.ndarray],
    *,
    n_neighbors: int = 5,
    working_memory: int = 256,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-point trustworthiness and continuity of several embeddings against one reference.

    The reference distances (the costly part for a pixel reference) are computed once: one
    pass gives every embedding's trustworthiness ranks and the reference's own neighbours,
    which continuity then looks up in each (cheap) embedded space. The reference neighbours
    are read off the same distance rows as the ranks (ties to the lower index).
    """
    reference = _float(as_2d(reference, "reference"))
    embedded = [_float(as_2d(e, "embedded")) for e in embedded]
    n = same_length(reference=reference, **{f"embedded[{i}]": e for i, e in enumerate(embedded)})
    _check_k(n, n_neighbors)
    k = n_neighbors
    nbrs = [knn_indices(e, k) for e in embedded]
    *penalties, ref_nbrs = _rank_penalties(reference, nbrs, k, working_memory, own_neighbours=True)
    trust = [1.0 - p * 2.0 / (k * (2.0 * n - 3.0 * k - 1.0)) for p in penalties]
    cont = [
        continuity_per_point(
            reference,
            e,
            n_neighbors=k,
            working_memory=working_memory,
            reference_neighbours=ref_nbrs,
        )
        for e in embedded
    ]
    return trust, cont


def continuity_per_point(
    reference: np.ndarray,
    embedded: np.ndarray,
    *,
    n_neighbors: int = 5,
    working_memory: int = 256,
    reference_neighbours: np.ndarray | None = None,
) -> np.ndarray:
    """Each point's share of continuity (trustworthiness with the two spaces swapped).

    ``reference_neighbours``: ``knn_indices(reference, n_neighbors)`` when already known (a
    pixel reference shared by several latents).
    """
    if reference_neighbours is None:
        return trustworthiness_per_point(
            embedded, reference, n_neighbors=n_neighbors, working_memory=working_memory
        )
    embedded = _float(as_2d(embedded, "embedded"))
    n = same_length(reference=reference, embedded=embedded)
    _check_k(n, n_neighbors)
    k = n_neighbors
    penalty = _rank_penalty(embedded, reference_neighbours, k, working_memory)
    return 1.0 - penalty * 2.0 / (k * (2.0 * n - 3.0 * k - 1.0))


def trustworthiness(
    reference: np.ndarray,
    embedded: np.ndarray,
    *,
    n_neighbors: int = 5,
    working_memory: int = 256,
) -> float:
    """How far the embedding avoids *false* neighbours (1 = none; same value as sklearn's).

    ``reference`` is the space whose neighbourhoods count as truth (pixels, RAM state);
    ``embedded`` the latents. ``working_memory`` (MiB) bounds each distance block.
    """
    per_point = trustworthiness_per_point(
        reference, embedded, n_neighbors=n_neighbors, working_memory=working_memory
    )
    return float(per_point.mean())


def continuity(
    reference: np.ndarray,
    embedded: np.ndarray,
    *,
    n_neighbors: int = 5,
    working_memory: int = 256,
) -> float:
    """How far the embedding keeps *true* neighbours together (1 = all kept).

    Trustworthiness with the roles of the two spaces swapped.
    """
    return trustworthiness(
        embedded, reference, n_neighbors=n_neighbors, working_memory=working_memory
    )
