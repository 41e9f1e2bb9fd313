"""Response models: which of the 12 models write the chosen answers, and which the rejected ones.

Works on a frame with ``chosen_model`` and ``rejected_model`` columns (the model keys of
``meta_files/model_answer``; ``"unknown"`` where a row's provenance is not known), as
:func:`spa_vl.analysis.inputs.frames.labelled_frame` gives. Rows whose model is unknown are left out of the
counts; a frame with no such columns, or only unknown models, has no provenance and every function
says so through :func:`provenance_note` instead of inventing numbers.

The *chosen share* of a model is ``chosen / (chosen + rejected)``: of the pairs it appears in, the
fraction where GPT-4V preferred its answer. Intervals are Wilson score intervals (95 % by default),
which stay inside [0, 1] and behave at small counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from spa_vl.taxonomy import RESPONSE_MODELS, UNKNOWN

from .distributions import is_unknown, known_labels

CHOSEN_MODEL = "chosen_model"
REJECTED_MODEL = "rejected_model"
NO_PROVENANCE = (
    "no provenance: this source does not say which model wrote each answer (chosen_model / rejected_model "
    "come from meta_files/model_answer; a mirror without them, or whose answers do not match, has none)"
)


def provenance_note(frame: pd.DataFrame) -> str | None:
    """None when some row of ``frame`` knows both its models, else the one-line reason there is no provenance.

    Parameters
    ----------
    frame : pandas.DataFrame
        Any frame; provenance needs ``chosen_model`` and ``rejected_model`` columns.

    Returns
    -------
    str or None
        :data:`NO_PROVENANCE`, or None.
    """
    if not {CHOSEN_MODEL, REJECTED_MODEL} <= set(frame.columns):
        return NO_PROVENANCE
    known = _known(frame)
    return None if len(known) else NO_PROVENANCE


def _known(frame: pd.DataFrame) -> pd.DataFrame:
    if not {CHOSEN_MODEL, REJECTED_MODEL} <= set(frame.columns):
        return frame.iloc[0:0]
    chosen, rejected = frame[CHOSEN_MODEL], frame[REJECTED_MODEL]
    return frame[~is_unknown(chosen) & ~is_unknown(rejected)]


def wilson_interval(successes: np.ndarray, trials: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion, vectorised.

    Parameters
    ----------
    successes : array_like of int, shape (n,)
        Successes of each proportion.
    trials : array_like of int, shape (n,)
        Trials of each proportion; ``trials == 0`` gives NaN bounds.
    z : float, default 1.959964
        Normal quantile of the coverage (1.96 for 95 %).

    Returns
    -------
    low : numpy.ndarray of float, shape (n,)
        Lower bounds, clipped to [0, 1].
    high : numpy.ndarray of float, shape (n,)
        Upper bounds, clipped to [0, 1].
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low, high = centre - half, centre + half
    empty = n == 0
    return np.where(empty, np.nan, np.clip(low, 0, 1)), np.where(empty, np.nan, np.clip(high, 0, 1))


def _order(models) -> list[str]:
    models = list(dict.fromkeys(models))
    known = [m for m in RESPONSE_MODELS if m in models]
    return known + sorted(m for m in models if m not in RESPONSE_MODELS)


def model_outcomes(frame: pd.DataFrame, by: str | None = None, z: float = 1.959964) -> pd.DataFrame:
    """How often each model is chosen and rejected, overall or per group of ``by`` (e.g. class1).

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame with ``chosen_model`` and ``rejected_model`` (``"unknown"`` or null where
        unknown); rows where either is unknown are left out, and so are rows whose ``by`` is unknown.
    by : str, optional
        A column to group by (e.g. ``class1``); None for overall counts.
    z : float, default 1.959964
        Normal quantile of the Wilson interval (95 %).

    Returns
    -------
    pandas.DataFrame
        One row per model (per (group, model) with ``by``), models in the card's order: ``by``
        (when given), ``model``, ``chosen``, ``rejected``, ``pairs`` (chosen + rejected),
        ``chosen share``, ``ci low``, ``ci high`` (Wilson, ``z``), and ``share of chosen`` /
        ``share of rejected`` (the model's part of all chosen / rejected answers of its group).
        Empty (with those columns) when there is no provenance.
    """
    known = known_labels(_known(frame), by) if by else _known(frame)  # an unknown group is never a group
    keys = [by] if by else []
    columns = [*keys, "model", "chosen", "rejected", "pairs", "chosen share", "ci low", "ci high", "share of chosen", "share of rejected"]
    if known.empty:
        return pd.DataFrame(columns=columns)
    chosen = known.groupby([*keys, CHOSEN_MODEL]).size().rename("chosen")
    rejected = known.groupby([*keys, REJECTED_MODEL]).size().rename("rejected")
    chosen.index = chosen.index.set_names([*keys, "model"])
    rejected.index = rejected.index.set_names([*keys, "model"])
    table = pd.concat([chosen, rejected], axis=1).fillna(0).astype(np.int64).reset_index()
    table["pairs"] = table["chosen"] + table["rejected"]
    table["chosen share"] = table["chosen"] / table["pairs"]
    table["ci low"], table["ci high"] = wilson_interval(table["chosen"].to_numpy(), table["pairs"].to_numpy(), z)
    totals = table.groupby(keys)[["chosen", "rejected"]].transform("sum") if keys else table[["chosen", "rejected"]].sum()
    table["share of chosen"] = table["chosen"] / totals["chosen"]
    table["share of rejected"] = table["rejected"] / totals["rejected"]
    rank = {m: i for i, m in enumerate(_order(table["model"]))}
    table = table.sort_values([*keys, "model"], key=lambda s: s.map(rank) if s.name == "model" else s).reset_index(drop=True)
    return table[columns]


def pair_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows: the chosen model; columns: the rejected model; cells: number of pairs. Empty without provenance.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame with ``chosen_model`` and ``rejected_model`` (``"unknown"`` or null where
        unknown); rows where either is unknown are left out.

    Returns
    -------
    pandas.DataFrame of int, shape (models, models)
        Square, over every model seen on either side in the card's order (others sorted after);
        index named ``"chosen ↓ / rejected →"``.
    """
    known = _known(frame)
    if known.empty:
        return pd.DataFrame()
    matrix = pd.crosstab(known[CHOSEN_MODEL], known[REJECTED_MODEL])
    order = _order([*matrix.index, *matrix.columns])
    return matrix.reindex(index=order, columns=order, fill_value=0).rename_axis(index="chosen ↓ / rejected →", columns=None)


def pair_distances(frame: pd.DataFrame, chosen: np.ndarray, rejected: np.ndarray, min_pairs: int = 1) -> pd.DataFrame:
    """Mean chosen↔rejected cosine distance per (chosen model, rejected model) pair.

    Parameters
    ----------
    frame : pandas.DataFrame, n rows
        With ``chosen_model`` / ``rejected_model``.
    chosen : numpy.ndarray of float, shape (n, d)
        L2-normalised embeddings of the rows' chosen answers.
    rejected : numpy.ndarray of float, shape (n, d)
        L2-normalised embeddings of the rows' rejected answers.
    min_pairs : int, default 1
        Pairs of models with fewer rows are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``chosen_model``, ``rejected_model``, ``rows``, ``mean distance``, ``std distance``,
        sorted by rows (most first). Empty without provenance.

    Raises
    ------
    ValueError
        If the embeddings do not have one row per frame row.
    """
    if len(frame) != len(chosen) or len(frame) != len(rejected):
        raise ValueError(f"frame has {len(frame)} rows but the embeddings {len(chosen)} and {len(rejected)}")
    columns = [CHOSEN_MODEL, REJECTED_MODEL, "rows", "mean distance", "std distance"]
    if provenance_note(frame):
        return pd.DataFrame(columns=columns)
    distance = 1.0 - np.einsum("ij,ij->i", np.asarray(chosen, dtype=np.float64), np.asarray(rejected, dtype=np.float64))
    rows = frame[[CHOSEN_MODEL, REJECTED_MODEL]].assign(distance=distance)
    rows = rows[(rows[CHOSEN_MODEL] != UNKNOWN) & (rows[REJECTED_MODEL] != UNKNOWN)]
    table = rows.groupby([CHOSEN_MODEL, REJECTED_MODEL])["distance"].agg(["size", "mean", "std"]).reset_index()
    table.columns = columns
    table = table[table["rows"] >= min_pairs]
    return table.sort_values(["rows", CHOSEN_MODEL, REJECTED_MODEL], ascending=[False, True, True]).reset_index(drop=True)
