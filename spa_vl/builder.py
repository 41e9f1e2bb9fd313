"""The `datasets` builder for SPA-VL (used by ``spa_vl.py`` and by :func:`spa_vl.load_dataset`).

Modelled on ``datasets/packaged_modules/parquet``: a config dataclass and a builder with three
small methods; Arrow record batches end to end, the labels attached and encoded in one place.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import datasets
import pyarrow as pa
import pyarrow.compute as pc
from datasets.table import table_cast

from .card import CITATION, DESCRIPTION, HOMEPAGE, LICENSE
from .columns import CLASS_LABEL_COLUMNS, IMAGE_INFO_FIELDS, PREFER_FIELDS
from .features import typed_features
from .images import undecodable_rows
from .labels import encode_view, label_batch, labelling_fingerprint, source_label_space
from .layout import CONFIGS, HUB_ID, canonical_config
from .meta import read_meta_index
from .opening import open_source
from .sources import Source
from .tables import extra_columns, iter_batches, split_files
from .taxonomy import LabelSpace, SpaVLWarning

try:  # datasets >= 4.1 names table keys; older versions take any hashable
    from datasets.builder import Key
except ImportError:  # pragma: no cover - depends on the installed datasets
    def Key(shard: int, batch: int) -> str:  # noqa: N802
        """A table key of older ``datasets``.

        Parameters
        ----------
        shard : int
            Index of the shard (file) the table comes from.
        batch : int
            Index of the record batch within the shard.

        Returns
        -------
        str
            ``"{shard}_{batch}"``.
        """
        return f"{shard}_{batch}"

VERSION = datasets.Version("2.0.0")


@dataclass
class SpaVLConfig(datasets.BuilderConfig):
    """A SPA-VL config (``train``, ``validation``, ``eval``).

    Besides these fields it has those of :class:`datasets.BuilderConfig` (``name``, ``version``,
    ``data_dir``, ``data_files``, ``description``).

    Attributes
    ----------
    batch_size : int, default 1000
        Rows per Arrow record batch read from the Parquet shards.
    allow_partial : bool, default False
        Load a split even when some of its shards are missing (with a warning).
    strict : bool, default False
        Make label problems (new names, unparseable image paths) errors, not warnings.
    image_info : bool, default False
        Add the ``meta_files/image_info/meta.json`` fields (width, height, text_similarity,
        text_count, url, md5, caption_laion, gemini_caption) to train.
    reasons : bool, default False
        Add prefer's ``reason1`` and ``reason2`` to configs with responses.
    """

    batch_size: int = 1000
    allow_partial: bool = False
    strict: bool = False
    image_info: bool = False
    reasons: bool = False


def _mark_corrupt_images(table: pa.Table, rows, path: str, file_offset: int) -> pa.Table:
    """Replace unreadable image bytes by a path that says where they came from.

    Decoding such a row then fails with "No such file or directory: '<file>: row R has corrupt
    image bytes ...'", naming the row and the file, instead of PIL's anonymous BytesIO error.
    """
    images = table.column("image").combine_chunks()
    bad = set(int(r) for r in rows)
    notes = [
        f"{path}: row {file_offset + r} has corrupt image bytes; re-download the file"
        if r in bad else None
        for r in range(len(images))
    ]
    keep = pa.array([r not in bad for r in range(len(images))])
    fixed = pa.StructArray.from_arrays(
        [pc.if_else(keep, images.field("bytes"), pa.nulls(len(images), images.type.field("bytes").type)),
         pc.coalesce(pa.array(notes, pa.string()), images.field("path").cast(pa.string()))],
        names=["bytes", "path"],
    )
    return table.set_column(table.column_names.index("image"), "image", fixed)


class SpaVL(datasets.ArrowBasedBuilder):
    """SPA-VL with typed features: Image, strings, and ClassLabel taxonomy and question type.

    ``data_dir`` is a local mirror of ``sqrti/SPA-VL`` (the classic ``load_dataset(script, name,
    data_dir=...)`` convention), the embedded ``"sample"``, or a hub id; without it the hub is read.
    Config aliases ``default`` (= ``train``) and ``test`` (= ``eval``) are accepted.

    Parameters
    ----------
    *args
        Passed to :class:`datasets.ArrowBasedBuilder`.
    config_name : str, optional
        ``train``, ``validation``, ``eval`` or an alias; canonicalised before the builder sees it.
    data_dir : str, optional
        Where the data is read from (see above); resolved to a :class:`~spa_vl.sources.Source`
        (``self.source``) before ``datasets`` computes the cache key.
    **kwargs
        Passed to :class:`datasets.ArrowBasedBuilder`, including the :class:`SpaVLConfig` fields
        (``allow_partial`` and ``strict`` also apply to resolving the source). ``hash`` defaults to
        the source's content fingerprint plus the labelling fingerprint, ``dataset_name`` to
        ``"spa_vl"``.

    Raises
    ------
    SpaVLError
        If the config name is unknown or the source cannot be resolved.
    """

    BUILDER_CONFIG_CLASS = SpaVLConfig
    BUILDER_CONFIGS = [
        SpaVLConfig(name=layout.name, version=VERSION, description=f"SPA-VL {layout.name} (hub config {layout.hub_name!r})")
        for layout in CONFIGS.values()
    ]
    DEFAULT_CONFIG_NAME = "train"

    def __init__(self, *args, config_name: str | None = None, data_dir: str | None = None, **kwargs):
        if config_name is not None:
            config_name = canonical_config(config_name).name
        # Resolved before super().__init__, which calls _info(); the cache is keyed by the data's content.
        self.source: Source = open_source(
            data_dir or HUB_ID, allow_partial=bool(kwargs.get("allow_partial", False)), strict=bool(kwargs.get("strict", False))
        )
        kwargs.setdefault("hash", f"{self.source.fingerprint}-{labelling_fingerprint()}")
        kwargs.setdefault("dataset_name", "spa_vl")
        super().__init__(*args, config_name=config_name, data_dir=data_dir, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        space = source_label_space(self.source)
        features = typed_features(self.config.name, space, image_info=self.config.image_info, reasons=self.config.reasons)
        features.update(datasets.Features.from_arrow_schema(extra_columns(self.source, self.config.name)))
        return datasets.DatasetInfo(
            description=DESCRIPTION,
            features=features,
            homepage=HOMEPAGE,
            citation=CITATION,
            license=LICENSE,
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        layout = canonical_config(self.config.name)
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={"files": split_files(self.source, layout.name, split), "split": split},
            )
            for split in layout.splits
        ]

    def _generate_shards(self, files: list[str], split: str):
        yield from files

    def _generate_tables(self, files: list[str], split: str):
        # Every batch is labelled from its own content: any sharding or shuffling of `files` by
        # `datasets` (num_proc, streaming, split_dataset_by_node) gives every row the same labels.
        meta = read_meta_index(self.source)
        features = self.info.features
        space = LabelSpace(names={c: tuple(features[c].names) for c in CLASS_LABEL_COLUMNS if c in features})
        schema = features.arrow_schema
        models = all(c in features for c in ("chosen_model", "rejected_model"))
        info_fields = [f for f in IMAGE_INFO_FIELDS if f in features]
        reasons = all(f in features for f in PREFER_FIELDS)
        for file_index, path in enumerate(files):
            file_offset, bad_rows = 0, []
            for batch_index, batch in enumerate(iter_batches(self.source, self.config.name, path, self.config.batch_size)):
                table = pa.Table.from_batches([batch])
                if "image" in table.column_names:
                    bad = undecodable_rows(table.column("image"))
                    if len(bad):
                        table = _mark_corrupt_images(table, bad, path, file_offset)
                    bad_rows.extend((bad + file_offset).tolist())
                file_offset += table.num_rows
                labelled = encode_view(label_batch(table, meta, models=models, image_info=info_fields, reasons=reasons), space)
                yield Key(file_index, batch_index), table_cast(labelled.select(schema.names), schema)
            if bad_rows:
                shown = ", ".join(map(str, bad_rows[:10]))
                more = f" and {len(bad_rows) - 10} more" if len(bad_rows) > 10 else ""
                warnings.warn(
                    f"{path}: image bytes of row {shown}{more} are not an image; decoding those rows will fail "
                    "(statistics are unaffected); re-download the file",
                    SpaVLWarning,
                    stacklevel=2,
                )
