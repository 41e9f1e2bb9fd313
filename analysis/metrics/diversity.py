"""Embedding diversity metrics, exact, without an n×n matrix.

For rows ``x_i`` normalised to unit length (cosine geometry):

* mean pairwise cosine distance = ``1 - (||Σ x_i||² - n) / (n (n - 1))`` — O(n·d);
* Vendi score = ``exp(-Σ λ log λ)`` over the eigenvalues of ``K/n`` with ``K = X Xᵀ``; they are the
  eigenvalues of the d×d matrix ``Xᵀ X / n`` — O(n·d²);
* k-means cluster entropy, and the nearest-neighbour near-duplicate rate (blocked, O(block·n) memory).

``brute_force_*`` functions are the O(n²) definitions, kept as references for tests and benchmarks.
Groups are compared at equal n, since Vendi grows with n. :func:`bootstrap_interval` gives a seeded
95 % interval of any metric (a half-sample bootstrap: see there why not the ordinary one);
:func:`bootstrap_diversity` gives the same intervals of the Vendi score and the mean distance with
every resample evaluated at once (stacked eigen-decompositions on a few threads), and
:func:`intervals_overlap` says which group comparisons those intervals cannot separate. BLAS runs on
one thread inside these metrics (:func:`one_thread`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .distributions import is_unknown, shannon_entropy
from .records import Record


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float64.

    Parameters
    ----------
    x : array_like of float, shape (n, d)
        Embeddings, one row per item.

    Returns
    -------
    numpy.ndarray of float64, shape (n, d)
        A new array of unit (or zero) rows.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of embeddings (n, d), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


_BLOCK = 8192
_THREADS: list = []  # the ThreadpoolController, made on first use (listing the native libraries takes ~10 ms)


def one_thread() -> Any:
    """A context in which BLAS (numpy, scipy) runs on one thread.

    The eigen-decompositions and products of a few hundred dimensions here gain nothing from a
    second BLAS thread, and lose 5-30x when another process holds the other core (OpenBLAS threads
    spin waiting for each other); one thread also gives the same bits on every machine.

    Returns
    -------
    context manager
        ``threadpoolctl``'s limit, restored on exit.
    """
    if not _THREADS:
        from threadpoolctl import ThreadpoolController

        _THREADS.append(ThreadpoolController())
    return _THREADS[0].limit(limits=1, user_api="blas")


def _moments(x: np.ndarray, gram: bool = True) -> tuple[int, np.ndarray, np.ndarray | None, float]:
    """``(n, Σ u_i, Σ u_i u_iᵀ, Σ ||u_i||²)`` of the unit rows ``u_i``, in float64, block by block.

    Blocks keep memory at O(block·d + d²) and convert to float64 one block at a time. Without
    ``gram`` the d×d sum is skipped (None), which the mean pairwise distance does not need.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array of embeddings (n, d), got shape {x.shape}")
    d = x.shape[1]
    total, squares = np.zeros(d), 0.0
    second = np.zeros((d, d)) if gram else None
    for start in range(0, len(x), _BLOCK):
        block = normalize_rows(x[start : start + _BLOCK])
        total += block.sum(axis=0)
        if second is not None:
            second += block.T @ block
        squares += float((block * block).sum())
    return len(x), total, second, squares


def mean_pairwise_cosine_distance(x: np.ndarray) -> float:
    """Mean of ``1 - cos(x_i, x_j)`` over all pairs ``i != j``; nan for fewer than 2 rows.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings, one row per item (normalised here; any norm).

    Returns
    -------
    float
        In [0, 2]; computed in O(n·d) from the sum of the unit rows.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D.
    """
    n, total, _, squares = _moments(x, gram=False)
    if n < 2:
        return float("nan")
    return float(1.0 - (total @ total - squares) / (n * (n - 1)))  # squares: n, less any zero rows


def vendi_score(x: np.ndarray) -> float:
    """Vendi score with the cosine kernel; 0 for no rows.

    Equals n for n orthonormal rows and 1 for identical rows. With fewer rows than dimensions
    (n < d, every bootstrap half-sample of a group) it takes the eigenvalues of the n×n Gram
    matrix ``U Uᵀ / n``, otherwise of the d×d covariance ``Uᵀ U / n``: the two share their
    non-zero eigenvalues, so the score is the same (tests/test_reference_metrics.py).

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings, one row per item (normalised here; any norm).

    Returns
    -------
    float
        ``exp`` of the entropy of the eigenvalues of ``K / n`` (between 1 and ``min(n, d)``).

    Raises
    ------
    ValueError
        If ``x`` is not 2-D.
    """
    x = np.asarray(x)
    with one_thread():
        if x.ndim == 2 and 0 < len(x) < x.shape[1]:
            # fewer rows than dimensions: the n×n kernel has the same non-zero eigenvalues, cheaper
            u = normalize_rows(x)
            return _exp_entropy(np.linalg.eigvalsh(u @ u.T / len(u)))
        n, _, gram, _ = _moments(x)
        if n == 0 or gram is None:
            return 0.0
        return _exp_entropy(np.linalg.eigvalsh(gram / n))


def _exp_entropy(eigenvalues: np.ndarray) -> float:
    lam = np.clip(eigenvalues, 0.0, None)
    lam = lam[lam > 1e-15]
    lam = lam / lam.sum()
    return float(np.exp(-(lam * np.log(lam)).sum()))


def brute_force_mean_pairwise_cosine_distance(x: np.ndarray) -> float:
    """Reference O(n²) mean pairwise cosine distance.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings; at least 2 rows.

    Returns
    -------
    float
        Same value as :func:`mean_pairwise_cosine_distance`, from the n×n similarity matrix.
    """
    x = normalize_rows(x)
    n = len(x)
    similarity = x @ x.T
    return float(1.0 - (similarity.sum() - np.trace(similarity)) / (n * (n - 1)))


def brute_force_vendi_score(x: np.ndarray) -> float:
    """Reference Vendi score from the n×n kernel matrix.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings; at least 1 row.

    Returns
    -------
    float
        Same value as :func:`vendi_score`.
    """
    x = normalize_rows(x)
    return _exp_entropy(np.linalg.eigvalsh(x @ x.T / len(x)))


def max_similarity(queries: np.ndarray, corpus: np.ndarray, *, exclude_self: bool = False, block: int = 512) -> np.ndarray:
    """Cosine similarity of each query row to its nearest corpus row, in blocks of ``block`` queries.

    With ``exclude_self`` (queries is corpus), a row is not its own neighbour. -inf when no neighbour.

    Parameters
    ----------
    queries : numpy.ndarray of float, shape (n, d)
        Query embeddings.
    corpus : numpy.ndarray of float, shape (m, d)
        Corpus embeddings (``queries`` itself with ``exclude_self``).
    exclude_self : bool, default False
        Skip the diagonal: query ``i`` is not compared with corpus row ``i``.
    block : int, default 512
        Queries per block (memory O(block·m)).

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        Highest cosine similarity of each query (computed in float32); -inf when the corpus is
        empty.
    """
    q, c = normalize_rows(queries).astype(np.float32), normalize_rows(corpus).astype(np.float32)
    out = np.full(len(q), -np.inf)
    if len(c) == 0:
        return out
    for start in range(0, len(q), block):
        sims = q[start : start + block] @ c.T
        if exclude_self:
            rows = np.arange(sims.shape[0])
            sims[rows, start + rows] = -np.inf
        out[start : start + block] = sims.max(axis=1)
    return out


def near_duplicate_rate(x: np.ndarray, threshold: float = 0.95) -> float:
    """Share of rows whose nearest other row has cosine similarity >= ``threshold`` (nan if n < 2).

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings, one row per item (normalised here; any norm).
    threshold : float, default 0.95
        Cosine similarity from which two rows are near-duplicates.

    Returns
    -------
    float
        In [0, 1].
    """
    if len(x) < 2:
        return float("nan")
    return float((max_similarity(x, x, exclude_self=True) >= threshold).mean())


def kmeans_cluster_entropy(x: np.ndarray, n_clusters: int = 8, random_state: int = 0) -> float:
    """Normalised entropy (0..1) of k-means cluster sizes: 1 when rows spread evenly over clusters.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings, one row per item (normalised here; any norm).
    n_clusters : int, default 8
        Clusters asked for; fewer when ``x`` has fewer distinct rows (rounded to 6 decimals).
    random_state : int, default 0
        Seed of k-means.

    Returns
    -------
    float
        Entropy of the cluster sizes over ``log2(k)``; nan when fewer than 2 clusters are possible.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    # k-means cannot find more clusters than distinct points
    k = min(n_clusters, len(np.unique(np.round(np.asarray(x, dtype=np.float64), 6), axis=0)))
    if k < 2:
        return float("nan")
    with threadpool_limits(limits=1):  # OpenMP and BLAS: the same labels, 4x faster on 2 shared cores (see one_thread)
        labels = KMeans(n_clusters=k, n_init=3, random_state=random_state).fit_predict(normalize_rows(x))
    return shannon_entropy(pd.Series(labels).value_counts()) / np.log2(k)


@dataclass(frozen=True)
class Diversity(Record):
    """Diversity metrics of one set of embeddings.

    Attributes
    ----------
    n : int
        Rows measured.
    mean_pairwise_cosine_distance : float
        :func:`mean_pairwise_cosine_distance` (nan for n < 2).
    vendi_score : float
        :func:`vendi_score`.
    cluster_entropy : float
        :func:`kmeans_cluster_entropy` (nan with fewer than 2 distinct rows).
    near_duplicate_rate : float
        :func:`near_duplicate_rate` (nan for n < 2).
    """

    n: int
    mean_pairwise_cosine_distance: float
    vendi_score: float
    cluster_entropy: float
    near_duplicate_rate: float


def diversity(x: np.ndarray, *, n_clusters: int = 8, threshold: float = 0.95, random_state: int = 0) -> Diversity:
    """Every diversity metric of one embedding set.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings, one row per item (normalised here; any norm).
    n_clusters : int, default 8
        Clusters of :func:`kmeans_cluster_entropy`.
    threshold : float, default 0.95
        Near-duplicate threshold of :func:`near_duplicate_rate`.
    random_state : int, default 0
        Seed of k-means.

    Returns
    -------
    Diversity
        All metrics of ``x``.
    """
    return Diversity(
        n=len(x),
        mean_pairwise_cosine_distance=mean_pairwise_cosine_distance(x),
        vendi_score=vendi_score(x),
        cluster_entropy=kmeans_cluster_entropy(x, n_clusters, random_state),
        near_duplicate_rate=near_duplicate_rate(x, threshold),
    )


def group_diversity(
    x: np.ndarray,
    groups: Sequence,
    *,
    n: int | None = None,
    random_state: int = 0,
    n_resamples: int = 0,
    progress: Callable[[int], None] | None = None,
    bootstrap: Callable[..., dict[str, float]] | None = None,
    measure: Callable[..., Diversity] | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Diversity per group, each measured on ``n`` rows drawn without replacement.

    Rows whose group is unknown (``"unknown"`` or null) are left out: unknown is never a group; the
    table's ``attrs["unknown_left_out"]`` counts them. ``n`` defaults to the smallest group's size (at least 2). Groups with fewer than ``n`` rows
    get a row of nan metrics with ``too_small=True`` rather than an unfair comparison. With
    ``n_resamples`` > 0, each group also gets the bootstrap intervals of :func:`bootstrap_diversity`
    (``<metric>_ci_low``, ``<metric>_ci_high``), computed on the same ``n`` rows.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (N, d)
        Embeddings of every row.
    groups : sequence, length N
        The group label of each row (e.g. its ``class1``).
    n : int, optional
        Rows measured per group; default the smallest group's size (at least 2).
    random_state : int, default 0
        Seed of the row draws, k-means and the bootstrap.
    n_resamples : int, default 0
        Bootstrap resamples per group; 0 for no intervals.
    progress : callable of (int,) -> None, optional
        Called with the number of bootstrap resamples just evaluated (:func:`bootstrap_diversity`).
    bootstrap : callable, optional
        Computes the intervals instead of :func:`bootstrap_diversity`, with its arguments (the
        report passes one that keeps them in a cache).
    measure : callable, optional
        Computes each group's metrics instead of :func:`diversity`, with its arguments (likewise).
    **kwargs
        Passed to :func:`diversity` (``n_clusters``, ``threshold``).

    Returns
    -------
    pandas.DataFrame, one row per group
        Indexed by group label (sorted as strings); columns the fields of :class:`Diversity`
        (``n`` is the group size for a group too small), ``too_small`` (bool), and with
        ``n_resamples`` the ``<metric>_ci_low`` / ``<metric>_ci_high`` of :data:`BOOTSTRAP_METRICS`.
    """
    labels = pd.Series(list(groups), dtype=object)
    unknown = is_unknown(labels)
    labels = labels.where(~unknown)  # unknown is never a group: those rows are left out
    sizes = labels.value_counts()
    if n is None:
        n = max(2, int(sizes.min())) if len(sizes) else 2
    rng = np.random.default_rng(random_state)
    rows = {}
    for group in sorted(sizes.index, key=str):
        members = np.flatnonzero((labels == group).to_numpy())
        if len(members) < n:
            rows[group] = {**{k: np.nan for k in Diversity.__dataclass_fields__}, "n": len(members), "too_small": True}
            continue
        chosen = np.sort(rng.choice(members, size=n, replace=False))
        rows[group] = {**(measure or diversity)(x[chosen], random_state=random_state, **kwargs).to_dict(), "too_small": False}
        if n_resamples:
            rows[group].update((bootstrap or bootstrap_diversity)(x[chosen], n_resamples=n_resamples, random_state=random_state,
                                                                  estimates=rows[group], progress=progress))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["unknown_left_out"] = int(unknown.sum())
    return table


BOOTSTRAP_METRICS = ("mean_pairwise_cosine_distance", "vendi_score")
"""Metrics the report gives intervals for (k-means entropy and the near-duplicate rate would need a
clustering or an n×n search per resample)."""
N_RESAMPLES = 200
CONFIDENCE = 0.95


def bootstrap_interval(
    x: np.ndarray,
    metric: Callable[[np.ndarray], float],
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    random_state: int = 0,
    method: str = "half-sample",
) -> tuple[float, float]:
    """Resampling interval of ``metric(x)`` over the rows of ``x``; the same seed gives the same interval.

    Parameters
    ----------
    x : numpy.ndarray, shape (n, d)
        The rows the metric was computed on.
    metric : callable of (numpy.ndarray, shape (m, d)) -> float
        The metric; non-finite values of a resample are dropped.
    n_resamples : int, default 200
        Resamples drawn (at least 2).
    confidence : float, default 0.95
        Coverage of the interval, in (0, 1).
    random_state : int, default 0
        Seed of the resamples.
    method : {"half-sample", "basic"}, default "half-sample"
        ``"half-sample"``: resamples of ``n // 2`` rows drawn without replacement,
        whose spread around their mean (times ``sqrt(m / (n - m))``, 1 for halves) estimates the
        spread of the metric over samples of n rows — the delete-d jackknife / subsampling
        bootstrap; the interval is centred on ``metric(x)``. ``"basic"``: the ordinary bootstrap
        (n rows with replacement, reverse-percentile interval). The ordinary bootstrap is wrong for
        these metrics: a resample repeats ~37 % of its rows, and a repeated row is a perfect
        near-duplicate, so Vendi falls by a quarter and the interval misses the metric. Measured on
        clustered 384-d data (n = 150, 60 draws from a population of 20,000), the 95 % intervals
        covered the population value of Vendi 88 % / 0 % of the time (half-sample / basic) and of
        the mean pairwise distance 97 % / 37 %.

    Returns
    -------
    tuple of (float, float)
        ``(low, high)``; nan for fewer than 4 rows, or when the metric or every resample is not finite.

    Raises
    ------
    ValueError
        If ``confidence``, ``n_resamples`` or ``method`` is out of range.
    """
    x = np.asarray(x)
    _check_bootstrap(confidence, n_resamples, method)
    if len(x) < 4:
        return float("nan"), float("nan")
    estimate = metric(x)
    draws = resample_rows(len(x), n_resamples, random_state=random_state, method=method)
    values = np.array([metric(x[rows]) for rows in draws], dtype=np.float64)
    return _interval(values, estimate, len(x), draws.shape[1], confidence, method)


def _check_bootstrap(confidence: float, n_resamples: int, method: str) -> None:
    if not 0 < confidence < 1 or n_resamples < 2 or method not in ("half-sample", "basic"):
        raise ValueError(
            f"bootstrap needs 0 < confidence < 1, n_resamples >= 2 and method 'half-sample' or 'basic', "
            f"got {confidence}, {n_resamples}, {method!r}"
        )


def resample_rows(n: int, n_resamples: int, *, random_state: int = 0, method: str = "half-sample") -> np.ndarray:
    """The rows of each resample of :func:`bootstrap_interval`, sorted, in the order drawn.

    Parameters
    ----------
    n : int
        Rows of the set resampled.
    n_resamples : int
        Resamples drawn.
    random_state : int, default 0
        Seed of the resamples.
    method : {"half-sample", "basic"}, default "half-sample"
        ``n // 2`` rows without replacement, or ``n`` rows with replacement.

    Returns
    -------
    numpy.ndarray of int64, shape (n_resamples, m)
        One sorted row of indices per resample (``m`` = ``n // 2`` or ``n``).
    """
    rng = np.random.default_rng(random_state)
    m = n // 2 if method == "half-sample" else n
    draws = np.empty((n_resamples, m), dtype=np.int64)
    for b in range(n_resamples):
        draws[b] = np.sort(rng.choice(n, size=m, replace=False) if method == "half-sample" else rng.integers(0, n, n))
    return draws


def _interval(values: np.ndarray, estimate: float, n: int, m: int, confidence: float, method: str) -> tuple[float, float]:
    """The interval of :func:`bootstrap_interval` from the resamples' values and the estimate."""
    values = values[np.isfinite(values)]
    if not len(values) or not np.isfinite(estimate):
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2
    if method == "basic":
        low, high = np.quantile(values, [alpha, 1.0 - alpha])
        return float(2 * estimate - high), float(2 * estimate - low)
    low, high = np.quantile(values - values.mean(), [alpha, 1.0 - alpha]) * np.sqrt(m / (n - m))
    return float(estimate - high), float(estimate - low)


_CHUNK_BYTES = 32 * 2**20
"""Memory of one chunk of stacked resample matrices in :func:`_vendi_of_resamples` (per worker)."""
_CHUNK_ROWS = 25
"""Resamples per chunk at most (the steps of a progress bar)."""
_WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
"""Threads evaluating chunks of resamples: the cores this process may use, at most 4."""


def _exp_entropy_rows(eigenvalues: np.ndarray) -> np.ndarray:
    """:func:`_exp_entropy` of each row of a (k, r) array of eigenvalues."""
    lam = np.clip(eigenvalues, 0.0, None)
    lam = np.where(lam > 1e-15, lam, 0.0)
    total = lam.sum(axis=1, keepdims=True)
    p = np.divide(lam, total, out=np.zeros_like(lam), where=total > 0)
    terms = np.zeros_like(p)
    np.multiply(p, np.log(p, out=np.zeros_like(p), where=p > 0), out=terms, where=p > 0)
    return np.exp(-terms.sum(axis=1))


def _vendi_of_resamples(u: np.ndarray, draws: np.ndarray, done: Callable[[int], None] | None = None) -> np.ndarray:
    """:func:`vendi_score` of ``u[rows]`` for every row of ``draws``: stacked eigen-decompositions, in chunks.

    ``u`` holds unit rows (n, d); ``draws`` (k, m) the rows of each resample. With m < d each resample's
    m×m kernel is a sub-block of the Gram matrix ``U Uᵀ``, computed once; otherwise its d×d
    covariance ``U_bᵀ U_b``. BLAS runs on one thread (:func:`one_thread`) and the chunks on up to
    :data:`_WORKERS` threads (LAPACK releases the GIL); each value depends only on its own
    resample, so the result is the same whatever the threads.
    """
    k, m = draws.shape
    d = u.shape[1]
    if m == 0:
        return np.zeros(k)
    side = min(m, d)
    per = int(min(_CHUNK_ROWS, max(1, _CHUNK_BYTES // (8 * side * side))))
    starts = range(0, k, per)
    with one_thread():
        gram = u @ u.T if m < d else None

        def chunk(start: int) -> np.ndarray:
            rows = draws[start : start + per]
            if gram is not None:
                kernels = gram[rows[:, :, None], rows[:, None, :]]
            else:  # Σ u_i u_iᵀ over the resample's rows, _BLOCK rows at a time (memory O(block·d + d²))
                kernels = np.zeros((len(rows), d, d))
                for kernel, resample in zip(kernels, rows):
                    for begin in range(0, m, _BLOCK):
                        block = u[resample[begin : begin + _BLOCK]]
                        kernel += block.T @ block
            return _exp_entropy_rows(np.linalg.eigvalsh(kernels / m))

        workers = min(_WORKERS, len(starts))
        if workers < 2:
            parts = map(chunk, starts)
            return np.concatenate([_reported(part, done) for part in parts])
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="vendi") as pool:
            return np.concatenate([_reported(part, done) for part in pool.map(chunk, starts)])


def _reported(values: np.ndarray, done: Callable[[int], None] | None) -> np.ndarray:
    if done is not None:
        done(len(values))
    return values


def _mean_distance_of_resamples(u: np.ndarray, draws: np.ndarray, done: Callable[[int], None] | None = None) -> np.ndarray:
    """:func:`mean_pairwise_cosine_distance` of ``u[rows]`` for every row of ``draws``, in one product."""
    k, m = draws.shape
    norms = (u * u).sum(axis=1)  # 1, or 0 for a zero row
    values = np.full(k, np.nan)
    with one_thread():
        for start in range(0, k if m >= 2 else 0, _CHUNK_ROWS):
            rows = draws[start : start + _CHUNK_ROWS]
            members = np.zeros((len(rows), len(u)))
            members[np.arange(len(rows))[:, None], rows] = 1.0  # half-samples draw without replacement: 0/1
            totals = members @ u
            values[start : start + len(rows)] = 1.0 - ((totals * totals).sum(axis=1) - members @ norms) / (m * (m - 1))
    if done is not None:
        done(k)
    return values


_BATCHED: dict[str, Callable[..., np.ndarray]] = {
    "vendi_score": _vendi_of_resamples,
    "mean_pairwise_cosine_distance": _mean_distance_of_resamples,
}
"""Metrics whose half-sample resamples :func:`bootstrap_diversity` computes all at once (the same
values as :func:`bootstrap_interval`'s loop, to float rounding; tests/test_reference_metrics.py)."""


def bootstrap_diversity(
    x: np.ndarray,
    metrics: Sequence[str] = BOOTSTRAP_METRICS,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    random_state: int = 0,
    estimates: dict[str, float] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float]:
    """``<metric>_ci_low`` and ``<metric>_ci_high`` of each named metric of this module, for one set.

    The half-sample intervals of :func:`bootstrap_interval` with the same resamples; the Vendi score
    and the mean pairwise distance evaluate every resample at once (stacked eigen-decompositions of
    sub-blocks of one Gram matrix, one matrix product), other metrics one resample at a time.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings of one set.
    metrics : sequence of str, default :data:`BOOTSTRAP_METRICS`
        Names of metric functions of this module.
    n_resamples : int, default 200
        Resamples per metric.
    confidence : float, default 0.95
        Coverage of each interval.
    random_state : int, default 0
        Seed; metric ``k`` uses ``random_state + k``.
    estimates : dict of str to float, optional
        Each metric's value on ``x`` where already computed (e.g. by :func:`diversity`); the others are
        computed here.
    progress : callable of (int,) -> None, optional
        Called with the number of resamples just evaluated (``n_resamples`` per metric in all).

    Returns
    -------
    dict of str to float
        Two entries per metric, ``(low, high)`` of :func:`bootstrap_interval`.

    Raises
    ------
    KeyError
        If a name is not a function of this module.
    ValueError
        If ``confidence`` or ``n_resamples`` is out of range.
    """
    _check_bootstrap(confidence, n_resamples, "half-sample")
    x = np.asarray(x)
    out: dict[str, float] = {}
    u = normalize_rows(x) if len(x) >= 4 else x
    for k, name in enumerate(metrics):
        metric = globals()[name]
        if len(x) < 4:
            low, high = float("nan"), float("nan")
        else:
            estimate = estimates[name] if estimates and name in estimates else metric(x)
            draws = resample_rows(len(x), n_resamples, random_state=random_state + k)
            if name in _BATCHED:
                values = _BATCHED[name](u, draws, progress)
            else:
                values = np.array([metric(x[rows]) for rows in draws], dtype=np.float64)
                if progress is not None:
                    progress(len(draws))
            low, high = _interval(values, estimate, len(x), draws.shape[1], confidence, "half-sample")
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = low, high
    return out


def intervals_overlap(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Whether the intervals of every pair of rows (groups) of a table overlap.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per group, with columns ``metric``, ``<metric>_ci_low`` and ``<metric>_ci_high``
        (as :func:`group_diversity` gives with ``n_resamples``).
    metric : str
        The metric's column name, e.g. ``"vendi_score"``.

    Returns
    -------
    pandas.DataFrame, one row per pair of groups
        Columns ``a``, ``b`` (a's value >= b's), ``<metric>_a``, ``<metric>_b`` (both values),
        ``overlap`` (bool); rows without an interval are left out.
    """
    low, high = table[f"{metric}_ci_low"], table[f"{metric}_ci_high"]
    rows = []
    valid = [g for g in table.index if np.isfinite(low[g]) and np.isfinite(high[g])]
    for i, first in enumerate(valid):
        for second in valid[i + 1 :]:
            # new names for the ordered pair: rebinding ``first`` here would skip and repeat pairs
            a, b = (second, first) if table.loc[first, metric] < table.loc[second, metric] else (first, second)
            rows.append({"a": a, "b": b, f"{metric}_a": table.loc[a, metric], f"{metric}_b": table.loc[b, metric],
                         "overlap": bool(low[a] <= high[b] and low[b] <= high[a])})
    return pd.DataFrame(rows, columns=["a", "b", f"{metric}_a", f"{metric}_b", "overlap"])


def diversity_curve(x: np.ndarray, sizes: Iterable[int], *, random_state: int = 0) -> pd.DataFrame:
    """Vendi score and mean pairwise distance of nested random subsets of each size (<= n).

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings, one row per item (normalised here; any norm).
    sizes : iterable of int
        Subset sizes; those outside ``1..n`` are dropped, repeats merged.
    random_state : int, default 0
        Seed of the one random order the subsets are prefixes of.

    Returns
    -------
    pandas.DataFrame, one row per size (ascending)
        Columns ``n``, ``vendi_score``, ``mean_pairwise_cosine_distance``.
    """
    order = np.random.default_rng(random_state).permutation(len(x))
    sizes = sorted({int(s) for s in sizes if 1 <= s <= len(x)})
    return pd.DataFrame(
        [
            {"n": s, "vendi_score": vendi_score(x[order[:s]]), "mean_pairwise_cosine_distance": mean_pairwise_cosine_distance(x[order[:s]])}
            for s in sizes
        ]
    )


def pair_cosine_distance(chosen: np.ndarray, rejected: np.ndarray) -> np.ndarray:
    """Per preference pair, ``1 - cos(chosen_i, rejected_i)``.

    Parameters
    ----------
    chosen : numpy.ndarray of float, shape (n, d)
        Embeddings of the chosen responses.
    rejected : numpy.ndarray of float, shape (n, d)
        Embeddings of the rejected responses, aligned with ``chosen``.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        Cosine distance of each pair (1 where a row is zero).
    """
    return 1.0 - (normalize_rows(chosen) * normalize_rows(rejected)).sum(axis=1)


@dataclass(frozen=True)
class PairSignal(Record):
    """How different chosen and rejected responses are; near-identical pairs carry little signal.

    Attributes
    ----------
    pairs : int
        Pairs measured.
    mean_distance : float
        Mean cosine distance (nan with no pairs).
    median_distance : float
        Median cosine distance (nan with no pairs).
    near_identical : int
        Pairs at distance <= ``threshold``.
    near_identical_share : float
        ``near_identical / pairs`` (nan with no pairs).
    threshold : float
        The near-identical threshold used.
    """

    pairs: int
    mean_distance: float
    median_distance: float
    near_identical: int
    near_identical_share: float
    threshold: float


def preference_pair_signal(chosen: np.ndarray, rejected: np.ndarray, threshold: float = 0.05) -> PairSignal:
    """Summary of :func:`pair_cosine_distance`; pairs at distance <= ``threshold`` are near-identical.

    Parameters
    ----------
    chosen : numpy.ndarray of float, shape (n, d)
        Embeddings of the chosen responses.
    rejected : numpy.ndarray of float, shape (n, d)
        Embeddings of the rejected responses, aligned with ``chosen``.
    threshold : float, default 0.05
        Cosine distance up to which a pair is near-identical.

    Returns
    -------
    PairSignal
        The summary.
    """
    d = pair_cosine_distance(chosen, rejected)
    near = int((d <= threshold).sum())
    return PairSignal(
        pairs=len(d),
        mean_distance=float(d.mean()) if len(d) else float("nan"),
        median_distance=float(np.median(d)) if len(d) else float("nan"),
        near_identical=near,
        near_identical_share=near / len(d) if len(d) else float("nan"),
        threshold=threshold,
    )


def normalize_text(texts: pd.Series) -> pd.Series:
    """Lower-cased, whitespace-collapsed text for exact-duplicate checks.

    Parameters
    ----------
    texts : pandas.Series of str, length n
        Texts; null becomes ``""``.

    Returns
    -------
    pandas.Series of str, length n
        Same index as ``texts``.
    """
    return texts.fillna("").astype(str).str.lower().str.split().str.join(" ")


def overlap(
    train_texts: pd.Series,
    eval_texts: pd.Series,
    train_x: np.ndarray,
    eval_x: np.ndarray,
    threshold: float = 0.95,
) -> dict:
    """Eval questions that also occur in train: exactly (normalised text) or nearly (cosine >= threshold).

    Parameters
    ----------
    train_texts : pandas.Series of str, length m
        Train questions.
    eval_texts : pandas.Series of str, length n
        Eval questions.
    train_x : numpy.ndarray of float, shape (m, d)
        Embeddings of ``train_texts``.
    eval_x : numpy.ndarray of float, shape (n, d)
        Embeddings of ``eval_texts``.
    threshold : float, default 0.95
        Cosine similarity from which an eval question is a near-duplicate of a train one.

    Returns
    -------
    dict
        ``eval_rows`` (n), ``exact`` and ``exact_share`` (same normalised text in train),
        ``near`` and ``near_share`` (near or exact), and ``threshold``; shares nan when n is 0.
    """
    exact = normalize_text(eval_texts).isin(set(normalize_text(train_texts))).to_numpy()
    near = max_similarity(eval_x, train_x) >= threshold
    n = len(eval_texts)
    return {
        "eval_rows": n,
        "exact": int(exact.sum()),
        "exact_share": float(exact.mean()) if n else float("nan"),
        "near": int((near | exact).sum()),
        "near_share": float((near | exact).mean()) if n else float("nan"),
        "threshold": threshold,
    }
