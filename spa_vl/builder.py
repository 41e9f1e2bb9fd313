"""The `datasets` builder for SPA-VL (used by ``spa_vl.py`` and by :func:`spa_vl.load_dataset`).

Modelled on ``datasets/packaged_modules/parquet``: a config dataclass and a builder with three
small methods; Arrow record batches end to end, the labels attached and encoded in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import pyarrow as pa
from datasets.table import table_cast

from .card import CITATION, DESCRIPTION, HOMEPAGE, LICENSE
from .features import typed_features
from .labels import encode_view, labelled_view, source_label_space
from .layout import CONFIGS, HUB_ID, canonical_config
from .meta import read_meta_index
from .sources import Source, resolve_source
from .tables import iter_batches, split_files

try:  # datasets >= 4.1 names table keys; older versions take any hashable
    from datasets.builder import Key
except ImportError:  # pragma: no cover - depends on the installed datasets
    def Key(shard: int, batch: int) -> str:  # noqa: N802
        return f"{shard}_{batch}"

VERSION = datasets.Version("1.0.0")


@dataclass
class SpaVLConfig(datasets.BuilderConfig):
    """A SPA-VL config (``train``, ``validation``, ``eval``).

    Args:
        batch_size: rows per Arrow record batch read from the Parquet shards.
        allow_partial: load a split even when some of its shards are missing (with a warning).
    """

    batch_size: int = 1000
    allow_partial: bool = False


class SpaVL(datasets.ArrowBasedBuilder):
    """SPA-VL with typed features: Image, strings, and ClassLabel taxonomy and question type.

    ``data_dir`` is a local mirror of ``sqrti/SPA-VL`` (the classic ``load_dataset(script, name,
    data_dir=...)`` convention), the embedded ``"sample"``, or a hub id; without it the hub is read.
    Config aliases ``default`` (= ``train``) and ``test`` (= ``eval``) are accepted.
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
        self.source: Source = resolve_source(data_dir or HUB_ID)
        kwargs.setdefault("hash", self.source.fingerprint)
        kwargs.setdefault("dataset_name", "spa_vl")
        super().__init__(*args, config_name=config_name, data_dir=data_dir, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        space = source_label_space(self.source)
        return datasets.DatasetInfo(
            description=DESCRIPTION,
            features=typed_features(self.config.name, space),
            homepage=HOMEPAGE,
            citation=CITATION,
            license=LICENSE,
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        layout = canonical_config(self.config.name)
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={"files": split_files(self.source, layout.name, split, allow_partial=self.config.allow_partial)},
            )
            for split in layout.splits
        ]

    def _generate_shards(self, files: list[str]):
        yield from files

    def _generate_tables(self, files: list[str]):
        meta = read_meta_index(self.source)
        space = source_label_space(self.source, warn=False)
        schema = self.info.features.arrow_schema
        for file_index, path in enumerate(files):
            for batch_index, batch in enumerate(iter_batches(self.source, self.config.name, path, self.config.batch_size)):
                view = encode_view(labelled_view(pa.Table.from_batches([batch]), meta), space)
                # Extra columns a mirror may carry are dropped here: the features are the contract.
                yield Key(file_index, batch_index), table_cast(view.select(schema.names), schema)
