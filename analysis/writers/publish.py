"""``spa-vl publish``: the whole of SPA-VL, labelled and typed, as a dataset repo that plain ``datasets`` loads.

The folder keeps the hub's config/split layout (``default``/train under ``data/``, ``validation``,
``test`` with ``harm`` and ``help``) and adds, to every row, spa-vl's content-joined labels
``class1..3``, ``question_type``, ``chosen_model`` and ``rejected_model`` as **int64** ClassLabel
ids (-1 unknown). The features are declared twice, as ``datasets`` and the Hub's viewer read
them: in each Parquet file's ``huggingface`` schema metadata and in the card's YAML
``dataset_info`` (``class_label: names: {'0': ...}``), with ``configs``/``data_files``. Nobody
needs spa-vl to load it: ``datasets.load_dataset("owner/SPA-VL-labelled", "default")``.

Shards follow what the Hub handles well (docs/publish.md gives the sources): at most
:data:`SHARD_BYTES` of Arrow data per file (``datasets.config.MAX_SHARD_SIZE``, what
``push_to_hub`` uses) and row groups of at most :data:`ROW_GROUP_BYTES`
(``datasets.config.MAX_ROW_GROUP_SIZE``; the dataset viewer refuses to read row groups over
300,000,000 bytes and recommends 100–300 MB).

The card carries a content fingerprint of the data files (as each config's ``description``, a
builder parameter ``datasets`` hashes into the cache key), so a folder re-published with other rows
never makes ``datasets`` serve the old ones from its cache. The folder is built under a temp name
and renamed into place (:func:`spa_vl.atomic.staged_dir`); an existing folder is replaced only
with ``overwrite``. :func:`push` uploads it as one commit with ``huggingface_hub``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.table import table_cast

from spa_vl import __version__
from spa_vl.atomic import make_subfolder, staged_dir
from spa_vl.card import CITATION, LICENSE, card_metadata, content_fingerprint, dataset_info_entry, parquet_split_size
from spa_vl.columns import IMAGE_INFO_FIELDS, PREFER_FIELDS
from spa_vl.doctor import DoctorReport, diagnose
from spa_vl.errors import SpaVLError
from spa_vl.features import typed_features
from spa_vl.labels import encode_view, label_batch, source_label_space
from spa_vl.layout import CARD_FILE, HUB_ID, canonical_config, render_card, shard_name, split_file_stem, split_key
from spa_vl.meta import MetaIndex, read_meta_index
from spa_vl.opening import open_source
from spa_vl.progress import progress_bar
from spa_vl.sources import Source
from spa_vl.tables import available_splits, extra_columns, iter_batches, open_parquet, split_files
from spa_vl.taxonomy import LabelSpace

#: Most Arrow bytes per Parquet file (``datasets.config.MAX_SHARD_SIZE``, 500 MB, as ``push_to_hub``).
SHARD_BYTES = 500_000_000
#: Most Arrow bytes per row group (``datasets.config.MAX_ROW_GROUP_SIZE``, 100 MB; the viewer's limit is 300,000,000).
ROW_GROUP_BYTES = 100_000_000
#: Where each label column comes from, for the card.
LABEL_PROVENANCE: dict[str, str] = {
    "class1, class2, class3": "validation and test: the hub's own columns; train: `meta_files/image_info/meta.json`, "
    "matched by `image_name` (or a class path in `image_name`)",
    "question_type": "`meta_files/split/{easy,hardq,hards}.json`: the file whose record has the row's question, chosen "
    "and rejected texts (train and validation; test rows have no responses to match: -1)",
    "chosen_model, rejected_model": "`meta_files/model_answer/{easy,hardq,hards}.json`: the response model whose answer "
    "text equals the row's chosen / rejected text (train and validation; test has no responses)",
}


@dataclass
class PublishedSplit:
    """One split of a published folder.

    Attributes
    ----------
    config : str
        The hub config name (``default``, ``validation``, ``test``).
    split : str
        The split name.
    rows : int
        Rows written.
    files : list of str
        The shard paths, relative to the folder.
    num_bytes : int
        Uncompressed bytes of the split's row groups (the card's ``num_bytes``).
    file_bytes : int
        Bytes of the split's files on disk.
    """

    config: str
    split: str
    rows: int = 0
    files: list[str] = field(default_factory=list)
    num_bytes: int = 0
    file_bytes: int = 0


@dataclass
class PublishResult:
    """What :func:`publish` wrote.

    Attributes
    ----------
    folder : Path
        The published folder.
    fingerprint : str
        Content fingerprint of the data files (in the card).
    splits : list of PublishedSplit
        One per split written, in the hub's order.
    seconds : float
        Wall time of the run.
    """

    folder: Path
    fingerprint: str
    splits: list[PublishedSplit]
    seconds: float

    @property
    def shards(self) -> int:
        """Parquet files written."""
        return sum(len(s.files) for s in self.splits)

    @property
    def file_bytes(self) -> int:
        """Bytes of the Parquet files on disk."""
        return sum(s.file_bytes for s in self.splits)

    @property
    def rows(self) -> int:
        """Rows written, all splits."""
        return sum(s.rows for s in self.splits)


def shard_plan(rows: int, nbytes: int, *, shard_bytes: int = SHARD_BYTES, row_group_bytes: int = ROW_GROUP_BYTES) -> tuple[list[int], int]:
    """Rows per shard and rows per row group for a split of ``rows`` rows and ``nbytes`` Arrow bytes.

    Parameters
    ----------
    rows : int
        Rows of the split.
    nbytes : int
        Its uncompressed size (the source's row-group sizes; images dominate).
    shard_bytes : int, default :data:`SHARD_BYTES`
        Most bytes per shard.
    row_group_bytes : int, default :data:`ROW_GROUP_BYTES`
        Most bytes per row group.

    Returns
    -------
    tuple of (list of int, int)
        Rows of each shard (as few shards as keep each within ``shard_bytes`` at the split's mean
        row size, at least one; sizes differ by at most one row), and rows per row group (as many
        as fit ``row_group_bytes`` at the mean row size, at least 1).
    """
    per_row = max(nbytes / rows if rows else 1.0, 1.0)  # the split's mean row size: images dominate, and vary little
    count = max(1, math.ceil(rows / max(1, int(shard_bytes // per_row))))
    base, extra = divmod(rows, count)
    group = max(1, int(row_group_bytes // per_row))
    return [base + (i < extra) for i in range(count)], min(group, max(rows, 1))


class _ShardWriter:
    """Writes a stream of tables into the planned shards, cutting row groups of a fixed size."""

    def __init__(self, folder: Path, directory: str, stem: str, plan: list[int], group_rows: int, schema: pa.Schema):
        self.folder, self.directory, self.stem = folder, directory, stem
        self.plan, self.group_rows, self.schema = plan, group_rows, schema
        self.index, self.in_shard = 0, 0  # current shard, rows written to it
        self.files: list[str] = []
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.writer: pq.ParquetWriter | None = None

    def _open(self) -> pq.ParquetWriter:
        if self.writer is None:
            name = f"{self.directory}/{shard_name(self.stem, self.index, len(self.plan))}"
            make_subfolder(self.folder, self.directory)
            self.files.append(name)
            self.writer = pq.ParquetWriter(self.folder / name, self.schema, compression="snappy")
        return self.writer

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            room = self.plan[self.index] - self.in_shard - self.pending_rows
            head, table = table.slice(0, room), table.slice(room)
            self.pending.append(head)
            self.pending_rows += head.num_rows
            if self.pending_rows >= self.group_rows or self.in_shard + self.pending_rows == self.plan[self.index]:
                self._flush()

    def _flush(self) -> None:
        if not self.pending_rows:
            return
        table = pa.concat_tables(self.pending)
        ends_shard = self.in_shard + table.num_rows == self.plan[self.index]
        full = table.num_rows if ends_shard else table.num_rows - table.num_rows % self.group_rows
        self._open().write_table(table.slice(0, full), row_group_size=self.group_rows)  # whole row groups only
        self.in_shard += full
        rest = table.slice(full)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        if ends_shard:
            self._close_shard()

    def _close_shard(self) -> None:
        self._open().close()
        self.writer = None
        self.index, self.in_shard = self.index + 1, 0

    def close(self) -> list[str]:
        self._flush()
        if self.pending_rows:  # fewer rows than planned: the caller compares the counts
            self._open().write_table(pa.concat_tables(self.pending))
            self.pending, self.pending_rows = [], 0
        if self.writer is not None:
            self._close_shard()
        while self.index < len(self.plan):  # an empty split still gets its (empty) shard
            self._close_shard()
        return self.files


def publish_features(source: Source, config: str, space: LabelSpace, *, image_info: bool = False, reasons: bool = False) -> datasets.Features:
    """The features of one published config: the loader's typed features (and extra source columns).

    Parameters
    ----------
    source : Source
        The source (its extra columns are kept, as the loader keeps them).
    config : str
        A canonical config name.
    space : LabelSpace
        The source's label names.
    image_info : bool, default False
        Add the image_info fields (train).
    reasons : bool, default False
        Add prefer's reasons (configs with responses).

    Returns
    -------
    datasets.Features
        What :func:`spa_vl.load_dataset` returns for the config with the same options.
    """
    features = typed_features(config, space, image_info=image_info, reasons=reasons)
    features.update(datasets.Features.from_arrow_schema(extra_columns(source, config)))
    return features


def _labelled_tables(source: Source, config: str, split: str, meta: MetaIndex, features: datasets.Features,
                     space: LabelSpace, batch_rows: int) -> Iterator[pa.Table]:
    """The split's rows, labelled by content and cast to ``features`` (the builder's path)."""
    schema = features.arrow_schema
    models = all(c in features for c in ("chosen_model", "rejected_model"))
    info_fields = [f for f in IMAGE_INFO_FIELDS if f in features]
    reasons = all(f in features for f in PREFER_FIELDS)
    for path in split_files(source, config, split):
        for batch in iter_batches(source, config, path, batch_rows):
            labelled = label_batch(batch, meta, models=models, image_info=info_fields, reasons=reasons)
            yield table_cast(encode_view(labelled, space).select(schema.names), schema)


def _write_split(folder: Path, source: Source, config: str, split: str, meta: MetaIndex, features: datasets.Features,
                 space: LabelSpace, shard_bytes: int, row_group_bytes: int) -> PublishedSplit:
    layout = canonical_config(config)
    files = split_files(source, config, split)
    rows, nbytes = parquet_split_size([open_parquet(source, f) for f in files])
    plan, group_rows = shard_plan(rows, nbytes, shard_bytes=shard_bytes, row_group_bytes=row_group_bytes)
    directory, stem = split_file_stem(config, split)
    writer = _ShardWriter(folder, directory, stem, plan, group_rows, features.arrow_schema)
    for table in _labelled_tables(source, config, split, meta, features, space, min(group_rows, 1000)):
        writer.write(table)
    written = writer.close()
    out = PublishedSplit(layout.hub_name, split, files=written)
    out.rows, out.num_bytes = parquet_split_size([pq.ParquetFile(folder / f) for f in written])
    out.file_bytes = sum((folder / f).stat().st_size for f in written)
    if out.rows != rows:
        raise SpaVLError(f"{source.label}: {split_key(config, split)} has {rows} rows in its Parquet footers but {out.rows} were read: "
                         "re-download its shards")
    return out


def publish(
    source: str | os.PathLike | Source,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    image_info: bool = False,
    reasons: bool = False,
    shard_bytes: int = SHARD_BYTES,
    row_group_bytes: int = ROW_GROUP_BYTES,
    progress: bool = True,
) -> PublishResult:
    """Write the whole source, labelled and typed, as a dataset repo folder at ``out``.

    Parameters
    ----------
    source : str, os.PathLike or Source
        ``"sample"``, a mirror folder, or a hub id (pinned to one commit).
    out : str or os.PathLike
        The folder to write (built under a temp name, then renamed into place).
    overwrite : bool, default False
        Replace an existing non-empty ``out``.
    image_info : bool, default False
        Add the ``meta_files/image_info`` fields to train.
    reasons : bool, default False
        Add prefer's ``reason1`` and ``reason2`` to train and validation.
    shard_bytes : int, default :data:`SHARD_BYTES`
        Most Arrow bytes per Parquet file.
    row_group_bytes : int, default :data:`ROW_GROUP_BYTES`
        Most Arrow bytes per row group.
    progress : bool, default True
        Show a progress bar per split.

    Returns
    -------
    PublishResult
        The folder, its fingerprint, and rows, shards and bytes per split.

    Raises
    ------
    SpaVLError
        An unreadable source, ``out`` holding files without ``overwrite`` (:class:`~spa_vl.errors.UsageError`),
        another run writing ``out``, or a disk that refuses the write.
    """
    started = time.perf_counter()
    source = source if isinstance(source, Source) else open_source(source)
    meta, space = read_meta_index(source), source_label_space(source)
    keys = available_splits(source)
    report = diagnose(source)
    target = Path(out)
    with staged_dir(target, overwrite=overwrite, what="published dataset") as tmp:
        written: list[PublishedSplit] = []
        features: dict[str, datasets.Features] = {}
        for config, split in progress_bar(len(keys), "publish", "split", enabled=progress, iterable=keys):
            hub_name = canonical_config(config).hub_name
            features.setdefault(hub_name, publish_features(source, config, space, image_info=image_info, reasons=reasons))
            written.append(_write_split(tmp, source, config, split, meta, features[hub_name], space, shard_bytes, row_group_bytes))
        fingerprint = content_fingerprint(tmp, [f for s in written for f in s.files])
        text = render_card(_metadata(written, features, fingerprint), _card_body(source, written, report, fingerprint,
                                                                                 image_info=image_info, reasons=reasons))
        (tmp / CARD_FILE).write_text(text, encoding="utf-8")
    return PublishResult(target, fingerprint, written, time.perf_counter() - started)


def _metadata(written: list[PublishedSplit], features: dict[str, datasets.Features], fingerprint: str) -> dict[str, Any]:
    configs, infos = [], []
    for hub_name in dict.fromkeys(s.config for s in written):
        splits = [s for s in written if s.config == hub_name]
        layout = canonical_config(hub_name)
        configs.append({"config_name": hub_name, "data_files": [{"split": s.split, "path": layout.splits[s.split]} for s in splits]})
        infos.append(dataset_info_entry(hub_name, features[hub_name], {s.split: (s.rows, s.num_bytes) for s in splits}))
    rows = sum(s.rows for s in written)
    size = next((name for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
                 if rows < limit), "1M<n<10M")
    return card_metadata(configs, infos, fingerprint=fingerprint, pretty_name="SPA-VL (labelled)",
                         tags=["safety", "preference", "dpo", "vision-language"], size_categories=[size])


def _percent(covered: int, rows: int) -> str:
    return f"{covered:,} / {rows:,} ({100 * covered / rows:.2f} %)" if rows else "0 / 0"


def _coverage_table(report: DoctorReport, written: list[PublishedSplit]) -> str:
    lines = ["| config / split | rows | class1..3 | question_type | chosen/rejected model |", "|---|---:|---:|---:|---:|"]
    for s in written:
        key = split_key(canonical_config(s.config).name, s.split)
        joins = {c.join: c for c in report.coverage.get(key, [])}
        cells = [_percent(joins[j].covered, joins[j].rows) if j in joins else "—" for j in ("classes", "question_type", "models")]
        lines.append(f"| {s.config} / {s.split} | {s.rows:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _card_body(source: Source, written: list[PublishedSplit], report: DoctorReport, fingerprint: str, *,
               image_info: bool, reasons: bool) -> str:
    where = f"`{source.pinned_id}`" if source.pinned_id else f"`{source.label}` ({source.kind}, source fingerprint `{source.fingerprint}`)"
    shards = "\n".join(
        f"| {s.config} / {s.split} | {s.rows:,} | {len(s.files)} | {s.file_bytes / 1e6:,.1f} MB |" for s in written
    )
    provenance = "\n".join(f"| `{c}` | {text} |" for c, text in LABEL_PROVENANCE.items())
    options = ", ".join(o for o, on in (("--image-info", image_info), ("--reasons", reasons)) if on) or "none"
    return f"""
# SPA-VL, labelled and typed

[SPA-VL]({"https://huggingface.co/datasets/" + HUB_ID}) (arXiv 2406.12030) in its hub layout (configs `default`
= train, `validation`, `test` with splits `harm` and `help`), with every row labelled and every image
embedded. Plain `datasets` loads it; no loading script, no spa-vl:

```python
import datasets
train = datasets.load_dataset("<this repo or folder>", "default", split="train")
train.features["class1"].int2str(train[0]["class1"])  # label ids are ClassLabel; -1 = unknown
```

Built from {where} by spa-vl {__version__} (`spa-vl publish`, options: {options}).
Content fingerprint of the data files: `{fingerprint}` (also each config's `description`,
so a re-published copy never shares a `datasets` cache with an older one).

## Labels

`class1`, `class2`, `class3`, `question_type`, `chosen_model` and `rejected_model` are int64
`ClassLabel` ids, declared in this card's `dataset_info` and in every Parquet file's `huggingface`
schema metadata; **-1 means unknown** (no record matched). The hub's train config has no class
columns: spa-vl joins them from the meta files by content (texts and `image_name`), never by row position.

| column | where it comes from |
|---|---|
{provenance}

`question_type` names follow the meta files (`easy`, `hardq`, `hards`); the training code
(EchoseChen/SPA-VL-RLHF) calls hard statements `hardd`. `chosen_model`/`rejected_model` name one
of the 12 response-model keys of `meta_files/model_answer` (`gemini_jb` is Gemini jailbroken).

**15, not 13, categories.** The paper's abstract and the original card say 6 domains, 13
categories and 53 subcategories; the data has 15 distinct `class2` values, and the `class2`
ClassLabel lists all 15 as the data spells them (typos included).

### Coverage (from `spa-vl doctor` on the source)

{_coverage_table(report, written)}

## Files

| config / split | rows | shards | size |
|---|---:|---:|---:|
{shards}

Shards hold at most {SHARD_BYTES / 1e6:.0f} MB of Arrow data and row groups at most {ROW_GROUP_BYTES / 1e6:.0f} MB
(`datasets`' own `MAX_SHARD_SIZE` and `MAX_ROW_GROUP_SIZE`; the Hub's dataset viewer cannot read
row groups over 300,000,000 bytes and recommends 100–300 MB).

## License and citation

The data is SPA-VL's, under its license, {LICENSE} (`{HUB_ID}`); this copy adds labels only.

```bibtex
{CITATION}
```
"""


def push(folder: str | os.PathLike, repo_id: str, *, private: bool = False, message: str | None = None) -> tuple[str, str]:
    """Upload a published folder to a Hub dataset repo as one commit, replacing what it held.

    Files of the repo that the folder does not hold (e.g. shards of an earlier publish with
    another shard count) are deleted in the same commit; ``.gitattributes`` is kept.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder written by :func:`publish`.
    repo_id : str
        ``owner/name`` of the dataset repo (created if missing).
    private : bool, default False
        Create the repo private (an existing repo keeps its visibility).
    message : str, optional
        Commit message (default names spa-vl's version).

    Returns
    -------
    tuple of (str, str)
        The commit's sha and the URL of the repo at that commit.

    Raises
    ------
    SpaVLError
        If ``folder`` holds no card, or the Hub refuses the upload (the message names the status).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.utils import HfHubHTTPError  # also where huggingface_hub 0.24 (our lowest) has it

    folder = Path(folder)
    if not (folder / CARD_FILE).is_file():
        raise SpaVLError(f"{folder}: no {CARD_FILE}: push a folder written by `spa-vl publish`")
    local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        remote = api.list_repo_files(repo_id, repo_type="dataset")
        operations: list[Any] = [CommitOperationDelete(path) for path in remote if path not in local and path != ".gitattributes"]
        operations += [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path)) for path in local]
        info = api.create_commit(repo_id, operations, repo_type="dataset",
                                 commit_message=message or f"spa-vl {__version__} publish")
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else "?"
        raise SpaVLError(f"{api.endpoint}: pushing {folder} to dataset {repo_id} failed (HTTP {status}): {str(e).splitlines()[0]}; "
                         "check the repo id and that your token (HF_TOKEN or `hf auth login`) may write to it") from e
    return info.oid, f"{api.endpoint}/datasets/{repo_id}/tree/{info.oid}"


__all__ = ["ROW_GROUP_BYTES", "SHARD_BYTES", "PublishResult", "PublishedSplit", "publish", "publish_features", "push", "shard_plan"]
