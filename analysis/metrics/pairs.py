"""Quality of the preference pairs: length bias, refusals, and pairs that carry no signal.

A preference pair teaches whatever separates its chosen answer from its rejected one. Two known
confounds are measured per pair (:func:`pair_features`) and summarised per config and group
(:func:`pair_stats`):

* **length** — words (whitespace tokens, as everywhere in spa-vl) of chosen and rejected, their
  difference (chosen − rejected), their ratio (the geometric mean of chosen / rejected over pairs
  where both have words) and the share of pairs whose chosen answer is longer, ties left out;
* **refusal** — whether each answer refuses (:mod:`.refusal`), and the shares of pairs where the
  chosen answer refuses, the rejected one does, both do, neither does.

A pair carries little safety signal when both answers refuse, both comply, or the two answers are
(near-)identical (:data:`NO_SIGNAL_KINDS`, :func:`no_signal`). Identical here is exact equality
after lower-casing and collapsing whitespace; the report adds the embedding distance on a sample.

Every share has its n and a 95 % Wilson interval; every mean its n and a normal-approximation
interval (mean ± z·s/√n). Rows without both answers (eval) are not pairs and are left out; unknown
labels are never a group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spa_vl.columns import SPLIT

from .distributions import is_unknown
from .refusal import RefusalDetector, refuses, string_array
from .response_models import wilson_interval

Z95 = 1.959964
CHOSEN, REJECTED = "chosen", "rejected"

#: Python's ``str.isspace()`` characters as an RE2 class body (RE2's ``\s`` is ASCII only): a word is a run of anything else.
WHITESPACE = r"\t\n\x{0b}\f\r\x{1c}-\x{1f} \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"

_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True

#: The per-pair columns of :func:`pair_features`.
FEATURE_COLUMNS: tuple[str, ...] = (
    "is_pair", "chosen_words", "rejected_words", "word_difference", "log_word_ratio", "chosen_longer",
    "chosen_refuses", "rejected_refuses", "identical",
)
#: Kinds of pairs without signal (:func:`no_signal`).
NO_SIGNAL_KINDS: tuple[str, ...] = ("both-refuse", "both-comply", "identical")
#: Groups :func:`pair_stats` tables are computed for (besides the config).
PAIR_GROUPS: tuple[str, ...] = ("class1", "question_type", "chosen_model", "rejected_model")


def word_counts(texts: Sequence[str | None] | pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Words (whitespace-separated tokens, Python's ``str.split()``) of each text.

    Parameters
    ----------
    texts : sequence of str or None, length n (or a pyarrow string array)
        Texts; None is a missing text.

    Returns
    -------
    numpy.ndarray of float, shape (n,)
        Word counts; NaN where the text is missing.
    """
    array = string_array(texts)
    array = pc.cast(array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array, pa.large_string())
    ascii_only = pc.fill_null(pc.string_is_ascii(array), True)
    if not pc.all(ascii_only).as_py():  # the few texts with non-ASCII characters: their Unicode whitespace becomes a space
        array = pc.if_else(ascii_only, array, pc.replace_substring_regex(array, f"[{WHITESPACE}]", " "))
    array = pa.concat_arrays([array])  # offsets from 0, whatever slice it was
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[: len(array) + 1]
    data = array.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8)[: offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    # a word starts at a non-space byte that opens its text or follows a space (UTF-8 continuation bytes are never spaces)
    space = raw <= 32  # every whitespace byte is <= 32; the few control bytes below 32 are looked up
    control = np.flatnonzero(raw < 32)
    space[control] = _ASCII_SPACE[raw[control]]
    start = ~space
    start[1:] &= space[:-1]
    opening = offsets[:-1][offsets[1:] > offsets[:-1]]  # first byte of each non-empty text
    start[opening] = ~space[opening]
    counts = np.zeros(len(array), dtype=float)
    if len(opening):
        counts[offsets[1:] > offsets[:-1]] = np.add.reduceat(start, opening, dtype=np.int64)
    counts[np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = np.nan
    return counts


def normalized_equal(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Whether two texts are equal after lower-casing and collapsing whitespace.

    Parameters
    ----------
    a, b : pyarrow string arrays (or sequences of str or None), length n
        Aligned texts.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        False where either text is missing.
    """
    def norm(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        # lower-case, then every run of whitespace (and the ends) to one space
        return pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(string_array(texts)), f"[{WHITESPACE}]+", " "))

    return np.asarray(pc.fill_null(pc.equal(norm(a), norm(b)), False).to_numpy(zero_copy_only=False), dtype=bool)


def pair_features(frame: pd.DataFrame | pa.Table, detector: RefusalDetector | None = None) -> pd.DataFrame:
    """Per-pair length and refusal features of the rows of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame or pyarrow.Table, n rows
        With ``chosen`` and ``rejected`` text columns (None where a row has none).
    detector : RefusalDetector, optional
        The refusal definition (default :data:`spa_vl.analysis.metrics.refusal.DEFAULT_DETECTOR`).

    Returns
    -------
    pandas.DataFrame, shape (n, 9), index of ``frame`` (0..n-1 for a table)
        ``is_pair`` (both answers present), ``chosen_words``, ``rejected_words``,
        ``word_difference`` (chosen − rejected), ``log_word_ratio`` (ln(chosen / rejected), NaN
        when either has no words), ``chosen_longer`` (1.0 / 0.0, NaN for ties), ``chosen_refuses``,
        ``rejected_refuses`` and ``identical`` (bool). Numbers are NaN and flags False where
        ``is_pair`` is False.
    """
    if isinstance(frame, pa.Table):
        chosen, rejected, index = frame.column(CHOSEN), frame.column(REJECTED), pd.RangeIndex(frame.num_rows)
    else:
        chosen, rejected, index = string_array(frame[CHOSEN].astype(object)), string_array(frame[REJECTED].astype(object)), frame.index
    cw, rw = word_counts(chosen), word_counts(rejected)
    is_pair = ~np.isnan(cw) & ~np.isnan(rw)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where((cw > 0) & (rw > 0), np.log(cw / rw), np.nan)
    longer = np.where(np.isnan(cw) | np.isnan(rw) | (cw == rw), np.nan, (cw > rw).astype(float))
    # equal after normalising implies the same word count: normalise only the tied pairs (few), not every text
    tied = pa.array(np.flatnonzero(is_pair & (cw == rw)))
    identical = np.zeros(len(cw), dtype=bool)
    identical[tied.to_numpy()] = normalized_equal(chosen.take(tied), rejected.take(tied))
    return pd.DataFrame(
        {
            "is_pair": is_pair,
            "chosen_words": cw,
            "rejected_words": rw,
            "word_difference": cw - rw,
            "log_word_ratio": log_ratio,
            "chosen_longer": longer,
            "chosen_refuses": refuses(chosen, detector) & is_pair,
            "rejected_refuses": refuses(rejected, detector) & is_pair,
            "identical": identical,
        },
        index=index,
    )


def no_signal(features: pd.DataFrame, kinds: Sequence[str] = NO_SIGNAL_KINDS) -> np.ndarray:
    """Which pairs carry no signal, by the kinds asked for.

    Parameters
    ----------
    features : pandas.DataFrame, n rows
        :func:`pair_features` columns.
    kinds : sequence of str, default all of :data:`NO_SIGNAL_KINDS`
        ``both-refuse``, ``both-comply`` (neither refuses), ``identical``.

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
        True where a pair is of any of ``kinds``.

    Raises
    ------
    ValueError
        If a kind is not one of :data:`NO_SIGNAL_KINDS`.
    """
    unknown = sorted(set(kinds) - set(NO_SIGNAL_KINDS))
    if unknown:
        raise ValueError(f"unknown no-signal kind(s) {', '.join(unknown)}: choose from {', '.join(NO_SIGNAL_KINDS)}")
    c, r = features["chosen_refuses"].to_numpy(bool), features["rejected_refuses"].to_numpy(bool)
    pair = features["is_pair"].to_numpy(bool)
    masks = {"both-refuse": c & r, "both-comply": ~c & ~r & pair, "identical": features["identical"].to_numpy(bool)}
    out = np.zeros(len(features), dtype=bool)
    for kind in kinds:
        out |= masks[kind]
    return out


def mean_interval(values: np.ndarray, z: float = Z95) -> tuple[float, float, float, int]:
    """Mean of the finite values with a normal-approximation interval, mean ± z·s/√n.

    Parameters
    ----------
    values : numpy.ndarray of float, shape (m,)
        Values; NaN is left out.
    z : float, default 1.959964
        Normal quantile (95 %).

    Returns
    -------
    tuple of (float, float, float, int)
        Mean, low, high, n (NaN bounds when n < 2; NaN mean when n = 0).
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(x.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), 1
    half = z * float(x.std(ddof=1)) / np.sqrt(n)
    return mean, mean - half, mean + half, n


#: Shares of :func:`pair_stats`: column stem → feature flag (denominator: the pairs).
_SHARES = {
    "chosen_refuses": "chosen_refuses",
    "rejected_refuses": "rejected_refuses",
    "both_refuse": "both_refuse",
    "neither_refuses": "neither_refuses",
    "identical": "identical",
}


def _group_means(values: pd.Series, keys: list[pd.Series], z: float) -> pd.DataFrame:
    grouped = values.groupby(keys, sort=True, dropna=True)
    n, mean, std = grouped.count(), grouped.mean(), grouped.std(ddof=1)
    half = z * std / np.sqrt(n)
    return pd.DataFrame({"mean": mean, "low": mean - half, "high": mean + half, "n": n})


def pair_stats(frame: pd.DataFrame, by: str | None = None, features: pd.DataFrame | None = None,
               detector: RefusalDetector | None = None, z: float = Z95) -> pd.DataFrame:
    """Length and refusal statistics of the pairs, per config (``split``) and, with ``by``, per group.

    Parameters
    ----------
    frame : pandas.DataFrame, n rows
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with ``split``,
        ``chosen``, ``rejected`` and the ``by`` column; rows without both answers are left out.
    by : str, optional
        A label column (``class1``, ``question_type``, ``chosen_model``...); rows whose label is
        unknown are left out.
    features : pandas.DataFrame, optional
        :func:`pair_features` of ``frame`` (computed when None).
    detector : RefusalDetector, optional
        The refusal definition, when ``features`` is None.
    z : float, default 1.959964
        Normal quantile of every interval (95 %).

    Returns
    -------
    pandas.DataFrame
        One row per split (per (split, group) with ``by``): ``split``, ``by`` (when given),
        ``pairs``; ``chosen_words``, ``rejected_words`` (means); ``word_difference`` and its
        ``_low``/``_high``; ``word_ratio`` (geometric mean of chosen / rejected) with
        ``_low``/``_high`` and ``word_ratio_n``; ``chosen_longer_share`` with ``_low``/``_high``
        and ``chosen_longer_n`` (pairs that are not tied); then, over ``pairs``, the shares
        ``chosen_refuses``, ``rejected_refuses``, ``both_refuse``, ``neither_refuses`` and
        ``identical``, each with ``_share``, ``_low``, ``_high``.
    """
    features = pair_features(frame, detector) if features is None else features
    keep = features["is_pair"].to_numpy(bool)
    if by is not None:
        labels = frame[by].astype(object)
        keep = keep & ~is_unknown(labels)
    f = features[keep].copy()
    f["both_refuse"] = f["chosen_refuses"] & f["rejected_refuses"]
    f["neither_refuses"] = ~f["chosen_refuses"] & ~f["rejected_refuses"]
    names = [SPLIT] if by is None else [SPLIT, by]
    keys = [frame.loc[keep, SPLIT].astype(str).rename(SPLIT)] + ([] if by is None else [frame.loc[keep, by].astype(str).rename(by)])
    columns = [*names, "pairs", "chosen_words", "rejected_words", "word_difference", "word_difference_low", "word_difference_high",
               "word_ratio", "word_ratio_low", "word_ratio_high", "word_ratio_n", "chosen_longer_share", "chosen_longer_low",
               "chosen_longer_high", "chosen_longer_n"]
    for stem in _SHARES:
        columns += [f"{stem}_share", f"{stem}_low", f"{stem}_high"]
    if f.empty:
        return pd.DataFrame(columns=columns)
    grouped = f.groupby(keys, sort=True)
    out = pd.DataFrame({"pairs": grouped.size()})
    out["chosen_words"] = grouped["chosen_words"].mean()
    out["rejected_words"] = grouped["rejected_words"].mean()
    diff = _group_means(f["word_difference"], keys, z)
    out["word_difference"], out["word_difference_low"], out["word_difference_high"] = diff["mean"], diff["low"], diff["high"]
    ratio = _group_means(f["log_word_ratio"], keys, z).reindex(out.index)
    out["word_ratio"], out["word_ratio_low"], out["word_ratio_high"] = np.exp(ratio["mean"]), np.exp(ratio["low"]), np.exp(ratio["high"])
    out["word_ratio_n"] = ratio["n"].fillna(0).astype(np.int64)
    longer_n = grouped["chosen_longer"].count()
    longer_k = grouped["chosen_longer"].sum()
    out["chosen_longer_share"] = longer_k / longer_n.where(longer_n > 0)
    out["chosen_longer_low"], out["chosen_longer_high"] = wilson_interval(longer_k.to_numpy(), longer_n.to_numpy(), z)
    out["chosen_longer_n"] = longer_n.astype(np.int64)
    for stem, flag in _SHARES.items():
        k = grouped[flag].sum().astype(np.int64)
        out[f"{stem}_share"] = k / out["pairs"]
        out[f"{stem}_low"], out[f"{stem}_high"] = wilson_interval(k.to_numpy(), out["pairs"].to_numpy(), z)
    out.index = out.index.set_names(names)
    return out.reset_index()[columns]


def length_difference_quantiles(frame: pd.DataFrame, by: str, features: pd.DataFrame | None = None,
                                quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> pd.DataFrame:
    """Quantiles of chosen − rejected words per group (what a box plot of the distribution draws).

    Parameters
    ----------
    frame : pandas.DataFrame, n rows
        A labelled frame with ``chosen``, ``rejected`` and ``by``; unknown labels are left out.
    by : str
        The group column (e.g. ``class1``).
    features : pandas.DataFrame, optional
        :func:`pair_features` of ``frame``.
    quantiles : sequence of float
        Quantiles to report, in (0, 1) (linear interpolation, numpy's default).

    Returns
    -------
    pandas.DataFrame, shape (groups, len(quantiles) + 2)
        Index ``by``; columns ``n``, ``mean`` and ``q05``, ``q25``... (percent in the name).
    """
    features = pair_features(frame) if features is None else features
    labels = frame[by].astype(object)
    keep = features["is_pair"].to_numpy(bool) & ~is_unknown(labels)
    diff = features.loc[keep, "word_difference"].groupby(labels[keep].astype(str).rename(by), sort=True)
    out = pd.DataFrame({"n": diff.size(), "mean": diff.mean()})
    for q in quantiles:
        out[f"q{round(q * 100):02d}"] = diff.quantile(q)
    return out


__all__ = [
    "FEATURE_COLUMNS", "NO_SIGNAL_KINDS", "PAIR_GROUPS", "length_difference_quantiles", "mean_interval",
    "no_signal", "normalized_equal", "pair_features", "pair_stats", "word_counts",
]
