"""``--format parquet``: a folder that plain ``datasets.load_dataset(folder)`` reads with typed features.

``README.md`` (YAML ``dataset_info`` with ClassLabel taxonomy and question type, Image, ``row_id``)
and ``data/train-0000K-of-0000M.parquet``, one shard per source shard the subset draws from.
"""

from __future__ import annotations

from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from spa_vl.atomic import make_subfolder
from spa_vl.card import card_metadata, content_fingerprint, dataset_info_entry
from spa_vl.layout import CARD_FILE, render_card, shard_name

from .base import SubsetContext, SubsetWriter, encode_rows, present_features, register


@register
class ParquetWriter(SubsetWriter):
    """Typed Parquet shards and a card at the subset's top level.

    Parameters
    ----------
    context : SubsetContext
        What the subset's writers share.
    """

    name = "parquet"
    description = "datasets folder (README card + data/train-*.parquet) for datasets.load_dataset"

    def __init__(self, context: SubsetContext):
        super().__init__(context)
        self.files = sorted(context.rows["file"].unique().tolist())
        self.features: datasets.Features | None = None  # the typed features of the columns the labelled rows have
        self.rows = 0
        self.bytes = 0

    def add(self, file_index: int, rows: pa.Table) -> None:
        """Write the rows as ``data/train-<i>-of-<m>.parquet``, ClassLabel-encoded, typed.

        ``i`` is the shard's place among the ``m`` source shards the subset draws from; the
        features are those of the first shard's columns (:func:`~spa_vl.analysis.writers.base.present_features`).

        Parameters
        ----------
        file_index : int
            Index of the source shard in the train split's files.
        rows : pyarrow.Table, shape (k, ...)
            The subset's rows of that shard: a labelled view with ``row_id``.
        """
        ctx = self.context
        self.features = self.features or present_features(ctx.features, rows.column_names)
        schema = self.features.arrow_schema
        table = encode_rows(rows, ctx.space).select(schema.names).cast(schema)
        target = ctx.folder / "data" / shard_name("train", self.files.index(file_index), len(self.files))
        make_subfolder(ctx.folder, "data")
        pq.write_table(table, target, row_group_size=500, compression="snappy")
        self.rows += table.num_rows
        self.bytes += table.nbytes

    def finish(self, eval_rows: pa.Table | None) -> dict[str, Any]:
        """Write the ``README.md`` card (``dataset_info`` with the features and the train size).

        Parameters
        ----------
        eval_rows : pyarrow.Table or None
            Ignored: this format has no eval split (always None, :attr:`needs_eval` is False).

        Returns
        -------
        dict of str to object
            ``{"folder": ".", "rows": <train rows written>}``.
        """
        ctx = self.context
        configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
        infos = [dataset_info_entry("default", self.features or ctx.features, {"train": (self.rows, self.bytes)})]
        shards = sorted(f.relative_to(ctx.folder).as_posix() for f in (ctx.folder / "data").glob("train-*.parquet"))
        metadata = card_metadata(configs, infos, fingerprint=content_fingerprint(ctx.folder, shards), pretty_name=f"SPA-VL subset {ctx.subset.name}")
        (ctx.folder / CARD_FILE).write_text(render_card(metadata, self._card_body()), encoding="utf-8")
        return {"folder": ".", "rows": self.rows}

    def _card_body(self) -> str:
        s = self.context.subset
        return (
            f"\n# SPA-VL subset `{s.name}`\n\nRecipe `{s.recipe}`, {len(s):,} rows of the SPA-VL train config, "
            f"written by `spa-vl ablate`. `manifest.json` lists the parameters, the seed, the source and the row ids.\n\n"
            "```python\nimport datasets\nds = datasets.load_dataset(\"path/to/this/folder\", split=\"train\")\n```\n"
        )

    @classmethod
    def instructions(cls, location, section) -> str:
        """The ``datasets.load_dataset`` snippet (it does not name ``location``).

        Parameters
        ----------
        location : Path
            The subset folder's absolute location (unused).
        section : dict of str to object
            The format's manifest section (unused).

        Returns
        -------
        str
            Markdown section ``## datasets (any trainer)``.
        """
        return (
            "## datasets (any trainer)\n\n"
            "```python\nimport datasets\nds = datasets.load_dataset(\"path/to/this/folder\", split=\"train\")  # ClassLabel, Image, row_id\n```\n"
        )
