"""Ablation subsets of the train config: the pool, the sampler interface and registry, the scale ladder.

The pool (:func:`train_pool`) has one row per train item with a stable, content-derived
``row_id``, its labels, and its place in the source (``file``, ``position``).

Samplers follow scikit-learn: the constructor only stores its parameters (with ``random_state``);
they are checked when :meth:`Sampler.sample` runs, which takes the data (the pool, and for some
recipes more, such as embeddings) and returns :class:`~spa_vl.analysis.subsets.sampling.Subset` objects (row ids
plus parameters). Every random draw goes through :func:`spa_vl.analysis.subsets.sampling.rank` over the rows'
ids, so the same seed picks the same rows whatever order the shards were read in, and the report's
stratified sample agrees with a recipe over the same rows. Each sampler class is registered by its
``name`` (:data:`SAMPLERS`), which drives ``spa-vl ablate --recipe``.

The scale ladder's allocations use :func:`~spa_vl.analysis.subsets.sampling.nested_allocations` (Balinski and
Young's quota method): every stratum's count is within one row of proportional at every size, and
counts never decrease as the size grows, so a ladder's subsets are nested.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from spa_vl.columns import MODEL_COLUMNS
from spa_vl.errors import UsageError
from spa_vl.labels import label_batch
from spa_vl.meta import read_meta_index
from spa_vl.opening import open_source
from spa_vl.sources import Source
from spa_vl.tables import check_schema, open_parquet, split_files
from spa_vl.taxonomy import LABEL_COLUMNS, QUESTION_TYPE, UNKNOWN

from .sampling import (  # noqa: F401 (row_ids, Subset, check_sizes, stratified_take: public names of this module too)
    ID_COLUMNS,
    Subset,
    check_sizes,
    nested_allocations,
    rank,
    row_ids,
    strata_codes,
    stratified_take,
    within_stratum_rank,
)

DEFAULT_SIZES: tuple[int, ...] = (100, 1_000, 5_000, 10_000, 30_000, 90_000)
DEFAULT_STRATA: tuple[str, ...] = ("class1", QUESTION_TYPE)


def default_sizes(pool_rows: int) -> list[int]:
    """The paper's ladder (:data:`DEFAULT_SIZES`) capped at the pool: the sizes a scale run takes by default.

    Parameters
    ----------
    pool_rows : int
        Rows in the pool.

    Returns
    -------
    list of int
        The sizes of :data:`DEFAULT_SIZES` that fit ``pool_rows``; ``[pool_rows]`` when none does.
    """
    return [s for s in DEFAULT_SIZES if s <= pool_rows] or [pool_rows]


def train_pool(source: str | os.PathLike | Source = "sample") -> pd.DataFrame:
    """Every train row, as the samplers draw from it; images are not read.

    Parameters
    ----------
    source : str, os.PathLike or Source
        ``"sample"``, a mirror folder, or a hub id.

    Returns
    -------
    pandas.DataFrame, shape (n, 10)
        ``row_id`` (:func:`~spa_vl.analysis.subsets.sampling.row_ids`), ``file``, ``position``, the label columns
        (``unknown`` where unknown), ``chosen_model``/``rejected_model`` (None where the meta files
        do not say) and ``question``; sorted by ``row_id``.

    Raises
    ------
    SpaVLError
        The source cannot be opened, has no train shards, or a shard lacks a required column
        (:func:`~spa_vl.tables.check_schema`).
    """
    source = open_source(source)
    meta = read_meta_index(source)
    frames = []
    for file_index, path in enumerate(split_files(source, "train", "train")):
        parquet = open_parquet(source, path)
        check_schema(parquet.schema_arrow, "train", path)
        table = parquet.read(columns=[c for c in ID_COLUMNS if c in parquet.schema_arrow.names])
        view = label_batch(table, meta, models=True)
        frame = table.to_pandas()
        frame[[*LABEL_COLUMNS, *MODEL_COLUMNS]] = view.select([*LABEL_COLUMNS, *MODEL_COLUMNS]).to_pandas()
        frame["file"], frame["position"] = file_index, np.arange(len(frame))
        frames.append(frame)
    pool = pd.concat(frames, ignore_index=True)
    pool.insert(0, "row_id", row_ids(pool))
    pool[list(LABEL_COLUMNS)] = pool[list(LABEL_COLUMNS)].fillna(UNKNOWN)
    keep = ["row_id", "file", "position", *LABEL_COLUMNS, "chosen_model", "rejected_model", "question"]
    return pool[keep].sort_values("row_id", kind="stable").reset_index(drop=True)


#: Registry name → sampler class (filled by :func:`register_sampler`; complete once
#: :mod:`spa_vl.analysis.subsets.recipes` is imported, see :data:`spa_vl.analysis.subsets.recipes.RECIPES`).
SAMPLERS: dict[str, type[Sampler]] = {}


def register_sampler(cls: type[Sampler]) -> type[Sampler]:
    """Class decorator: make ``cls`` available under ``cls.name`` (``spa-vl ablate --recipe``).

    Parameters
    ----------
    cls : type of Sampler
        A class with a unique ``name`` and a one-line ``description``.

    Returns
    -------
    type of Sampler
        ``cls`` itself.

    Raises
    ------
    ValueError
        ``cls`` has no ``name`` or ``description``, or another class is registered under its name.
    """
    if not cls.name or not cls.description:
        raise ValueError(f"sampler {cls.__name__} needs a name and a one-line description")
    if cls.name in SAMPLERS and SAMPLERS[cls.name] is not cls:
        raise ValueError(f"two samplers named {cls.name!r}: {SAMPLERS[cls.name].__name__} and {cls.__name__}")
    SAMPLERS[cls.name] = cls
    return cls


class Sampler:
    """A recipe that draws ablation subsets from a pool (the scikit-learn idiom).

    Subclasses are dataclasses whose fields are the parameters; ``__init__`` stores them unchecked
    and :meth:`sample` validates them (raising :class:`~spa_vl.errors.UsageError`) before drawing.

    Class attributes
    ----------------
    name : str
        Registry and ``--recipe`` name; also the subsets' ``recipe``.
    description : str
        One line for ``--help``.
    cli_parameters : dict of str to str
        Constructor parameter → ``argparse`` destination (:meth:`from_cli`).
    inputs : tuple of str
        Keyword data :meth:`sample` needs besides the pool (e.g. ``("embeddings",)``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    cli_parameters: ClassVar[dict[str, str]] = {}
    inputs: ClassVar[tuple[str, ...]] = ()

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their values.

        Returns
        -------
        dict of str to object
            Field name → value, in field order (a subclass's dataclass fields).
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_cli(cls, args: Any) -> Sampler:
        """The sampler the command line asks for: :attr:`cli_parameters` read from ``args``.

        Options left unset (``None``) keep the constructor's default.

        Parameters
        ----------
        args : argparse.Namespace
            Parsed ``spa-vl ablate`` arguments.

        Returns
        -------
        Sampler
            An instance of ``cls``, unchecked (:meth:`sample` validates it).
        """
        values = {param: getattr(args, dest, None) for param, dest in cls.cli_parameters.items()}
        return cls(**{param: value for param, value in values.items() if value is not None})

    def sample(self, pool: pd.DataFrame, **inputs: Any) -> list[Subset]:
        """Draw the subsets.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (n, ...)
            :func:`train_pool` rows (``row_id``, ``file``, ``position``, labels).
        **inputs
            The data named by :attr:`inputs`.

        Returns
        -------
        list of Subset

        Raises
        ------
        UsageError
            A parameter or an input is invalid for the pool.
        """
        raise NotImplementedError

    def _check_random_state(self) -> int:
        seed = getattr(self, "random_state", 0)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise UsageError(f"random_state={seed!r} is invalid for the {self.name} recipe: give a whole number >= 0")
        return int(seed)

    def largest_n(self, pool: pd.DataFrame) -> int:
        """The largest ``n`` this recipe can draw from ``pool`` (what its error messages suggest).

        Parameters
        ----------
        pool : pandas.DataFrame, shape (m, ...)
            :func:`train_pool` rows.

        Returns
        -------
        int
            ``len(pool)`` unless a recipe draws each subset from a part of the pool.
        """
        return len(pool)

    def _check_n(self, pool: pd.DataFrame) -> int:
        n = getattr(self, "n", None)
        if n is None:
            fits = self.largest_n(pool)
            raise UsageError(
                f"the {self.name} recipe needs the rows in each subset: set {{option}} "
                f"(the pool has {len(pool)} rows; this recipe can draw at most {fits} per subset)",
                parameter="n", value=max(1, min(1000, fits)),
            )
        check_sizes([n], len(pool))
        return int(n)


@register_sampler
@dataclass
class ScaleLadder(Sampler):
    """Nested subsets of increasing size, stratified by ``strata`` with the quota method.

    Parameters
    ----------
    sizes : sequence of int, optional
        Subset sizes, each in ``1..len(pool)``, given once (any order); default
        :func:`default_sizes` of the pool (the paper's ladder capped at the pool).
    strata : sequence of str
        Pool columns whose combination is a stratum.
    random_state : int
        Seed of the rank order inside each stratum.
    """

    name: ClassVar[str] = "scale"
    description: ClassVar[str] = "nested subsets of each size (default the paper's 100, 1K, 5K, 10K, 30K, 90K capped at the pool), stratified by class1 x question type"
    cli_parameters: ClassVar[dict[str, str]] = {"sizes": "sizes", "random_state": "seed"}

    sizes: Sequence[int] | None = None
    strata: Sequence[str] = DEFAULT_STRATA
    random_state: int = 0

    def sample(self, pool: pd.DataFrame) -> list[Subset]:  # type: ignore[override]
        """One subset per size, each contained in the next.

        Parameters
        ----------
        pool : pandas.DataFrame, shape (n, ...)
            :func:`train_pool` rows.

        Returns
        -------
        list of Subset
            ``scale-<size>`` in increasing size.

        Raises
        ------
        UsageError
            ``random_state`` is not a whole number >= 0, a size is outside ``1..len(pool)`` or
            repeated, or a stratum column is not in ``pool``.
        """
        seed = self._check_random_state()
        sizes = check_sizes(list(self.sizes) if self.sizes is not None else default_sizes(len(pool)), len(pool))
        codes = strata_codes(pool, self.strata)
        allocations = nested_allocations(np.bincount(codes), sizes)
        place = within_stratum_rank(codes, rank(pool["row_id"], seed))
        subsets = []
        for n in sizes:
            rows = pool[place < allocations[n][codes]]
            params = {"size": n, "sizes": sizes, "strata": list(self.strata), "seed": seed}
            subsets.append(Subset.of_rows(f"scale-{n}", self.name, params, rows))
        return subsets
