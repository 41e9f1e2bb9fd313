"""The report's building blocks: settings, titled tables and figures, sections, stage timings, the report.

A report is a list of :class:`Section` objects. Each concrete section is a dataclass holding its
own numbers and declaring its titled tables (:class:`Table`) and figures (:class:`Plot`); it
subclasses :class:`Section` with an ``order`` and a ``stage`` name, and :meth:`Section.compute`
builds it from :class:`SectionInputs`. Defining the subclass registers it (:func:`registered_sections`),
:func:`spa_vl.analysis.report.build.compute_report` runs every registered section in ``order`` and
:mod:`spa_vl.analysis.report.render` writes whatever the sections declare, so adding a section touches only the
module that defines it.

Run-dependent numbers (stage times, texts this run encoded rather than read from the cache) live
in :class:`StageTime` / :attr:`Report.timings`, never in :attr:`Report.stats`: the same inputs and
seed give the same ``stats.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import pandas as pd
from matplotlib.figure import Figure

from ..inputs.frames import SPLIT
from ..metrics import contamination, diversity
from ..subsets.sampling import stratified_sample

TRAIN = "train/train"
EVAL_SPLITS = ("eval/harm", "eval/help")


@dataclass
class ReportSettings:
    """Knobs of the report.

    Parameters
    ----------
    diversity_sample : train rows embedded per text field (stratified by class1); None = all.
    model : sentence-transformers model name or path; None = the packaged all-MiniLM-L6-v2.
    seed : seed of every random draw (sample, k-means, PCA, curves).
    near_duplicate_threshold : cosine similarity at which two questions count as near-duplicates.
    pair_threshold : chosen/rejected cosine distance at or below which a pair is near-identical.
    batch_size : encoder batch size.
    bootstrap_resamples : resamples behind each 95 % interval of a sampled diversity number (0 = none).
    jaccard_threshold : word-shingle Jaccard at which an eval question is a lexical near-duplicate.
    contamination_embeddings : run the embedding pass of the contamination check (every distinct train
        question is encoded once, then cached).
    device : encoder device, ``cpu``, ``cuda`` or ``auto``.
    backend : encoder runtime, one of :data:`spa_vl.analysis.embeddings.backends.BACKENDS` (default fp32 ``torch``).
    """

    diversity_sample: int | None = 1000
    model: str | None = None
    seed: int = 0
    near_duplicate_threshold: float = 0.95
    pair_threshold: float = 0.05
    batch_size: int = 64
    bootstrap_resamples: int = diversity.N_RESAMPLES
    jaccard_threshold: float = contamination.JACCARD_THRESHOLD
    contamination_embeddings: bool = True
    device: str = "cpu"
    backend: str = "torch"


@dataclass(frozen=True)
class Table:
    """A titled table of a section.

    Parameters
    ----------
    name : stable key (``Report.tables[name]``); with ``csv`` also the CSV file's stem.
    title : heading shown above it.
    frame : the rows shown (index included).
    csv : every row, written as ``<name>.csv`` beside the report when ``frame`` is only a preview.
    """

    name: str
    title: str
    frame: pd.DataFrame
    csv: pd.DataFrame | None = None


@dataclass(frozen=True)
class Plot:
    """A titled figure of a section, written as ``<name>.png``.

    Parameters
    ----------
    name : stable key and file stem.
    title : caption shown above it (and its alt text).
    figure : the matplotlib figure, drawn from tables the section computed.
    """

    name: str
    title: str
    figure: Figure


@dataclass
class SectionInputs:
    """What every section is computed from.

    Parameters
    ----------
    source : the resolved :class:`spa_vl.sources.Source`.
    frame : :func:`spa_vl.analysis.inputs.frames.labelled_frame` of every split.
    settings : the :class:`ReportSettings`.
    encoder : the :class:`spa_vl.analysis.embeddings.encoder.Encoder` shared by every section (one cache, one model).
    progress : show progress bars inside a section (image hashing, encoding).
    done : sections computed so far, by ``key`` (a section may use an earlier one's numbers).
    """

    source: Any
    frame: pd.DataFrame
    settings: ReportSettings
    encoder: Any
    progress: bool = False
    done: dict[str, Section] = field(default_factory=dict)

    @cached_property
    def train(self) -> pd.DataFrame:
        """The train rows."""
        return self.frame[self.frame[SPLIT] == TRAIN]

    @cached_property
    def diversity_sample(self) -> pd.DataFrame:
        """The train rows embedded for diversity (stratified by class1, seeded; every row when the sample is None)."""
        train, settings = self.train, self.settings
        limit = len(train) if settings.diversity_sample is None else settings.diversity_sample
        return train.loc[stratified_sample(train, limit, "class1", settings.seed)] if len(train) else train


_REGISTRY: list[type[Section]] = []


class Section:
    """Base of the report's sections: subclass it as a dataclass with the section's numbers.

    Class attributes
    ----------------
    key : the section's entry in ``stats.json`` (None: its numbers go at the top level).
    title : heading of the section.
    stage : name of its step in progress bars and timings.
    order : position in the report (and the order sections are computed in).

    A subclass that sets ``stage`` is registered; it implements :meth:`compute` and
    :meth:`numbers`, and overrides :meth:`summary`, :meth:`tables`, :meth:`draw`, :meth:`pages`
    and :meth:`run_info` where it has any.
    """

    key: ClassVar[str | None] = None
    title: ClassVar[str] = ""
    stage: ClassVar[str] = ""
    order: ClassVar[int] = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "stage" in cls.__dict__:
            _REGISTRY.append(cls)

    @classmethod
    def compute(cls, inputs: SectionInputs) -> Section:
        """Compute the section.

        Parameters
        ----------
        inputs : the frame, source, settings, encoder and earlier sections.

        Returns
        -------
        An instance of the subclass.
        """
        raise NotImplementedError

    def numbers(self) -> dict[str, Any]:
        """The section's numbers for ``stats.json`` (JSON-ready, the same for the same inputs and seed).

        Returns
        -------
        dict
        """
        raise NotImplementedError

    def summary(self) -> list[str]:
        """Markdown lines for the report's summary list.

        Returns
        -------
        list of str
        """
        return []

    def tables(self) -> list[Table]:
        """The section's titled tables, in the order shown.

        Returns
        -------
        list of Table
        """
        return []

    def draw(self) -> list[Plot]:
        """Draw the section's titled figures from its tables (called once, by :meth:`figures`).

        Returns
        -------
        list of Plot
        """
        return []

    def figures(self) -> list[Plot]:
        """The section's titled figures, in the order shown (drawn on first use, then kept).

        Returns
        -------
        list of Plot
        """
        if "_figures" not in self.__dict__:
            self.__dict__["_figures"] = self.draw()
        return self.__dict__["_figures"]

    def pages(self) -> dict[str, str]:
        """Extra self-contained files written beside the report.

        Returns
        -------
        dict
            File name → text.
        """
        return {}

    def run_info(self) -> dict[str, Any]:
        """Run-dependent details for ``timings.json`` (e.g. seconds per pass); never in ``stats.json``.

        Returns
        -------
        dict
        """
        return {}


def registered_sections() -> list[type[Section]]:
    """Every registered section class, in report order.

    Returns
    -------
    Section subclasses sorted by ``order``.
    """
    return sorted(_REGISTRY, key=lambda cls: cls.order)


@dataclass(frozen=True)
class StageTime:
    """Wall time of one stage of a report run.

    Parameters
    ----------
    stage : the stage's name.
    seconds : wall time.
    texts_encoded : texts the model encoded in this stage (the others came from the embedding cache).
    """

    stage: str
    seconds: float
    texts_encoded: int = 0


@dataclass
class Report:
    """A computed report: its sections, plus what this run took.

    Parameters
    ----------
    source : description of the source (hub sources: label @ commit sha).
    settings : the :class:`ReportSettings` it was computed with.
    sections : the sections in report order.
    timings : wall time per stage (run-dependent: ``timings.json`` and the report's footer only).
    run : run-dependent details (encoder, per-pass seconds of sections).
    """

    source: str
    settings: ReportSettings
    sections: list[Section] = field(default_factory=list)
    timings: list[StageTime] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def section(self, key: str) -> Section | None:
        """The section whose ``key`` is ``key``.

        Parameters
        ----------
        key : str
            A section's ``key`` (``"diversity"``, ``"images"``...).

        Returns
        -------
        Section or None
        """
        return next((s for s in self.sections if s.key == key), None)

    @property
    def stats(self) -> dict[str, Any]:
        """Every section's numbers: the contents of ``stats.json``."""
        out: dict[str, Any] = {}
        for section in self.sections:
            numbers = section.numbers()
            if section.key is None:
                out.update(numbers)
            else:
                out[section.key] = numbers
        return out

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every declared table by name (the full rows where a table shows a preview)."""
        return {t.name: (t.csv if t.csv is not None else t.frame) for s in self.sections for t in s.tables()}

    @property
    def figures(self) -> dict[str, Figure]:
        """Every declared figure by name."""
        return {p.name: p.figure for s in self.sections for p in s.figures()}

    @property
    def pages(self) -> dict[str, str]:
        """Extra files of every section (file name → text)."""
        return {name: page for s in self.sections for name, page in s.pages().items()}

    @property
    def total_seconds(self) -> float:
        """Wall time of every stage together."""
        return sum(t.seconds for t in self.timings)

    @property
    def texts_encoded(self) -> int:
        """Texts the model encoded in this run (0 when every text came from the cache)."""
        return sum(t.texts_encoded for t in self.timings)

    def timings_dict(self) -> dict[str, Any]:
        """The contents of ``timings.json`` (without the writing stage, which :func:`spa_vl.analysis.report.render.write_report` adds).

        Returns
        -------
        dict
        """
        return {
            "total_seconds": round(self.total_seconds, 3),
            "texts_encoded": self.texts_encoded,
            "stages": [{"stage": t.stage, "seconds": round(t.seconds, 3), "texts_encoded": t.texts_encoded} for t in self.timings],
            **self.run,
        }


__all__ = ["ReportSettings", "Table", "Plot", "SectionInputs", "Section", "registered_sections", "StageTime", "Report", "TRAIN", "EVAL_SPLITS"]
