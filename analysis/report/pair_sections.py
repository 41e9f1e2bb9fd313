"""The report's pair-quality section: length bias, refusals and no-signal pairs (:mod:`..metrics.pairs`).

``stats.json`` gets a ``pairs`` entry keyed by config (the configs with responses each have one
split: ``train``, ``validation``): ``pairs.length.chosen_longer_share``, ``pairs.refusal.chosen_share``,
``pairs.refusal.rejected_share``, ``pairs.refusal.both_share`` and the rest, each with its n and a
95 % interval, plus per-group tables (domain, question type, chosen and rejected model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from spa_vl.columns import SPLIT
from spa_vl.taxonomy import QUESTION_TYPE

from ..metrics import pairs
from ..metrics.refusal import DEFAULT_DETECTOR
from ..metrics.response_models import wilson_interval
from .palette import colours
from .plots import SpaVLFigure
from .sections import TRAIN, Plot, Section, SectionInputs, Table

#: ``stats.json`` name → column stem of :func:`spa_vl.analysis.metrics.pairs.pair_stats`, for refusals.
REFUSAL_KEYS = {"chosen": "chosen_refuses", "rejected": "rejected_refuses", "both": "both_refuse", "neither": "neither_refuses"}


def _config(split: str) -> str:
    return split.split("/", 1)[0]


def _per_config(table: pd.DataFrame, column: str) -> dict[str, Any]:
    return {_config(s): v for s, v in zip(table[SPLIT], table[column])}


def _interval(table: pd.DataFrame, low: str, high: str) -> dict[str, list[float]]:
    return {_config(s): [lo, hi] for s, lo, hi in zip(table[SPLIT], table[low], table[high])}


def refusal_by_model(chosen: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Refusal share of each model's answers when chosen and when rejected (train).

    Parameters
    ----------
    chosen : pandas.DataFrame
        :func:`~spa_vl.analysis.metrics.pairs.pair_stats` by ``chosen_model``.
    rejected : pandas.DataFrame
        :func:`~spa_vl.analysis.metrics.pairs.pair_stats` by ``rejected_model``.

    Returns
    -------
    pandas.DataFrame
        Index ``model``; columns ``chosen n``, ``refuses when chosen`` (+ ``low``/``high``),
        ``rejected n``, ``refuses when rejected`` (+ ``low``/``high``); train rows only.
    """
    def side(table: pd.DataFrame, column: str, flag: str, name: str) -> pd.DataFrame:
        rows = table[table[SPLIT] == TRAIN].set_index(column).rename_axis("model")
        return pd.DataFrame({f"{name} n": rows["pairs"], f"refuses when {name}": rows[f"{flag}_share"],
                             f"refuses when {name} low": rows[f"{flag}_low"], f"refuses when {name} high": rows[f"{flag}_high"]})

    out = pd.concat([side(chosen, "chosen_model", "chosen_refuses", "chosen"), side(rejected, "rejected_model", "rejected_refuses", "rejected")], axis=1)
    for column in ("chosen n", "rejected n"):
        out[column] = out[column].fillna(0).astype(np.int64)
    return out


def length_difference_boxes(quantiles: pd.DataFrame, title: str = "Chosen − rejected words per domain (train)") -> Figure:
    """Box plot of the chosen − rejected word difference per group, drawn from its quantiles.

    Parameters
    ----------
    quantiles : pandas.DataFrame
        :func:`~spa_vl.analysis.metrics.pairs.length_difference_quantiles` (``q05`` … ``q95``, ``mean``, ``n``).
    title : str
        The figure's title.

    Returns
    -------
    Figure
        Boxes from the quartiles, whiskers at the 5th and 95th percentiles, a dot at the mean, a line at 0.
    """
    fig = SpaVLFigure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    if quantiles.empty:
        ax.text(0.5, 0.5, "no pairs with a known domain", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(title)
        return fig
    groups = [str(g) for g in quantiles.index]
    boxes = [{"label": f"{g} (n={int(r['n'])})", "whislo": r["q05"], "q1": r["q25"], "med": r["q50"], "q3": r["q75"], "whishi": r["q95"],
              "mean": r["mean"], "fliers": []} for g, (_, r) in zip(groups, quantiles.iterrows())]
    drawn = ax.bxp(boxes, orientation="horizontal", showmeans=True, patch_artist=True, meanprops={"marker": "o", "markersize": 3})
    palette = colours(groups)
    for patch, group in zip(drawn["boxes"], groups):
        patch.set_facecolor(palette[group])
    ax.axvline(0, color="0.3", linewidth=0.8, linestyle="--")
    ax.invert_yaxis()
    ax.set_xlabel("chosen words − rejected words (whiskers: 5th–95th percentile)")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title)
    return fig


def refusal_bars(table: pd.DataFrame, title: str = "Refusal share of each model's answers (train, 95 % Wilson)") -> Figure:
    """Per model: the share of its answers that refuse when chosen and when rejected, with intervals.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`refusal_by_model`.
    title : str
        The figure's title.

    Returns
    -------
    Figure
        Paired horizontal bars per model.
    """
    fig = SpaVLFigure(figsize=(8, 0.35 * max(len(table), 4) + 1.5), layout="constrained")
    ax = fig.subplots()
    if table.empty:
        ax.text(0.5, 0.5, "no provenance: chosen_model / rejected_model unknown", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        ax.set_title(title)
        return fig
    y = np.arange(len(table))
    palette = colours(["chosen", "rejected"])
    for offset, side in ((-0.2, "chosen"), (0.2, "rejected")):
        share = table[f"refuses when {side}"].to_numpy(float)
        low, high = table[f"refuses when {side} low"].to_numpy(float), table[f"refuses when {side} high"].to_numpy(float)
        err = np.clip(np.vstack([np.nan_to_num(share - low), np.nan_to_num(high - share)]), 0, None)  # rounding can make a bound cross the share
        ax.barh(y + offset, np.nan_to_num(share), height=0.4, xerr=err, color=palette[side], label=f"when {side}", capsize=2)
    ax.set_yticks(y, [str(m) for m in table.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the model's answers that refuse")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return fig


@dataclass
class PairSection(Section):
    """Length bias, refusals and no-signal pairs of every config with responses.

    Parameters
    ----------
    overall : :func:`~spa_vl.analysis.metrics.pairs.pair_stats` per config.
    by_group : the same per group, for each of :data:`~spa_vl.analysis.metrics.pairs.PAIR_GROUPS`.
    length_quantiles : :func:`~spa_vl.analysis.metrics.pairs.length_difference_quantiles` of train per domain.
    refusal_models : :func:`refusal_by_model`.
    near_identical : the diversity section's chosen↔rejected embedding distance summary (train sample),
        with a Wilson interval; empty when that section did not run.
    detector : :meth:`~spa_vl.analysis.metrics.refusal.RefusalDetector.describe`.
    """

    key = "pairs"
    title = "Preference pairs: length bias, refusals, pairs without signal"
    stage = "pair quality"
    order = 75

    overall: pd.DataFrame
    by_group: dict[str, pd.DataFrame]
    length_quantiles: pd.DataFrame
    refusal_models: pd.DataFrame
    near_identical: dict[str, Any]
    detector: dict[str, Any]

    @classmethod
    def compute(cls, inputs: SectionInputs) -> PairSection:
        """Compute the section from the report's inputs.

        Parameters
        ----------
        inputs : SectionInputs
            The frame, source, settings, encoder and earlier sections.

        Returns
        -------
        PairSection
        """
        frame = inputs.frame
        features = pairs.pair_features(frame)
        by_group = {g: pairs.pair_stats(frame, g, features) for g in pairs.PAIR_GROUPS if g in frame}
        train = (frame[SPLIT] == TRAIN).to_numpy()
        quantiles = pairs.length_difference_quantiles(frame[train], "class1", features[train])
        models = refusal_by_model(by_group["chosen_model"], by_group["rejected_model"]) if {"chosen_model", "rejected_model"} <= set(by_group) else pd.DataFrame()
        near: dict[str, Any] = {}
        diversity = inputs.done.get("diversity")
        signal = getattr(diversity, "preference_pairs", None) or {}
        if signal.get("pairs"):
            low, high = wilson_interval(np.array([signal["near_identical"]]), np.array([signal["pairs"]]))
            near = {"split": "train", "share": signal["near_identical_share"], "ci": [float(low[0]), float(high[0])], "n": signal["pairs"],
                    "threshold": signal["threshold"], "what": "chosen↔rejected cosine distance <= threshold on the diversity sample"}
        return cls(pairs.pair_stats(frame, None, features), by_group, quantiles, models, near, DEFAULT_DETECTOR.describe())

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json`` (per config; every share with ``_ci`` and its n).

        Returns
        -------
        dict
            ``pairs`` (per config), ``length``, ``refusal``, ``no_signal``, ``by_group`` (records per
            group column), ``detector``.
        """
        t = self.overall
        length = {
            "chosen_longer_share": _per_config(t, "chosen_longer_share"),
            "chosen_longer_ci": _interval(t, "chosen_longer_low", "chosen_longer_high"),
            "chosen_longer_n": _per_config(t, "chosen_longer_n"),
            "chosen_words_mean": _per_config(t, "chosen_words"),
            "rejected_words_mean": _per_config(t, "rejected_words"),
            "word_difference_mean": _per_config(t, "word_difference"),
            "word_difference_ci": _interval(t, "word_difference_low", "word_difference_high"),
            "word_ratio_geometric_mean": _per_config(t, "word_ratio"),
            "word_ratio_ci": _interval(t, "word_ratio_low", "word_ratio_high"),
            "word_ratio_n": _per_config(t, "word_ratio_n"),
        }
        refusal: dict[str, Any] = {"n": _per_config(t, "pairs")}
        for name, stem in REFUSAL_KEYS.items():
            refusal[f"{name}_share"] = _per_config(t, f"{stem}_share")
            refusal[f"{name}_ci"] = _interval(t, f"{stem}_low", f"{stem}_high")
        no_signal = {
            "both_refuse_share": refusal["both_share"], "both_comply_share": refusal["neither_share"],
            "identical_share": _per_config(t, "identical_share"), "identical_ci": _interval(t, "identical_low", "identical_high"),
            "n": refusal["n"], "near_identical_embedding": self.near_identical,
        }
        return {
            "pairs": _per_config(t, "pairs"), "length": length, "refusal": refusal, "no_signal": no_signal,
            "by_group": {g: table.assign(**{SPLIT: table[SPLIT].map(_config)}).rename(columns={SPLIT: "config"}).to_dict(orient="records")
                         for g, table in self.by_group.items()},
            "detector": self.detector,
        }

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        lines = []
        for r in self.overall.to_dict(orient="records"):
            lines.append(
                f"- Pairs ({_config(r[SPLIT])}, n = {r['pairs']:,}): chosen longer in {r['chosen_longer_share']:.1%} of "
                f"{r['chosen_longer_n']:,} untied pairs [{r['chosen_longer_low']:.1%}, {r['chosen_longer_high']:.1%}]; "
                f"chosen refuses {r['chosen_refuses_share']:.1%}, rejected refuses {r['rejected_refuses_share']:.1%}, "
                f"both {r['both_refuse_share']:.1%}, neither {r['neither_refuses_share']:.1%}; identical {r['identical_share']:.1%}"
            )
        return lines

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        out = [Table("pairs_overall", "Pair statistics per config (95 % intervals)", self.overall.set_index(SPLIT).T)]
        titles = {"class1": "domain", QUESTION_TYPE: "question type", "chosen_model": "chosen model", "rejected_model": "rejected model"}
        for group, table in self.by_group.items():
            show = ["pairs", "chosen_longer_share", "chosen_longer_n", "word_difference", "chosen_refuses_share", "rejected_refuses_share", "both_refuse_share"]
            out.append(Table(f"pairs_by_{group}", f"Pairs per {titles.get(group, group)}", table.set_index([SPLIT, group])[show], csv=table))
        out.append(Table("pairs_length_difference", "Chosen − rejected words per domain (train quantiles)", self.length_quantiles))
        if not self.refusal_models.empty:
            out.append(Table("pairs_refusal_by_model", "Refusal share of each model's answers (train)", self.refusal_models))
        return out

    def draw(self) -> list[Plot]:
        """Draw the section's figures from its computed tables.

        Returns
        -------
        list of Plot
        """
        return [
            Plot("pairs_length_difference", "Length difference (chosen − rejected words) per domain", length_difference_boxes(self.length_quantiles)),
            Plot("pairs_refusal_by_model", "Refusal shares per response model", refusal_bars(self.refusal_models)),
        ]


__all__ = ["PairSection", "length_difference_boxes", "refusal_bars", "refusal_by_model"]
