"""Writers of ablation subsets: a ``datasets`` folder, the SPA-VL-RLHF format, and a manifest.

Each subset becomes a folder ``OUT/<name>/`` with

* ``README.md`` + ``data/train-0000K-of-0000M.parquet`` — plain ``datasets.load_dataset(folder)``
  gives typed features (ClassLabel taxonomy and question type, Image, ``row_id``);
* ``rlhf/easy.json``, ``rlhf/hardq.json``, ``rlhf/hardd.json`` (lists of ``{id, image, question,
  chosen, rejected}``), ``rlhf/config_train.json``, and the images under the paths they name;
* ``manifest.json`` — recipe, parameters, seed, source fingerprint, row ids in order, per-stratum
  counts, and the sha256 of every file written (checked by :func:`verify_subset`).

Source shards are streamed once for all subsets; every subset folder is built under a temp name
and renamed into place, so a killed export leaves no partial subset behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Sequence

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from spa_vl import __version__
from spa_vl.atomic import check_writable_dir, staged_dir
from spa_vl.card import card_metadata, dataset_info_entry
from spa_vl.errors import SpaVLError
from spa_vl.features import typed_features
from spa_vl.labels import encode_view, labelled_view, source_label_space
from spa_vl.layout import CARD_FILE, render_card, shard_name
from spa_vl.meta import read_meta_index
from spa_vl.sources import Source, resolve_source
from spa_vl.tables import open_parquet, split_files
from spa_vl.taxonomy import LEVELS, QUESTION_TYPE, QUESTION_TYPE_ALIASES, QUESTION_TYPES, LabelSpace

from .ablation import Subset

FORMATS: tuple[str, ...] = ("parquet", "rlhf")
MANIFEST = "manifest.json"
RLHF_DIR = "rlhf"
#: The training repo's names: its config calls hard statements ``hardd``.
RLHF_KEY = {qtype: next((a for a, c in QUESTION_TYPE_ALIASES.items() if c == qtype), qtype) for qtype in QUESTION_TYPES}


def export_features(space: LabelSpace) -> datasets.Features:
    """Features of an exported subset: the typed train features plus ``row_id``."""
    features = typed_features("train", space)
    features["row_id"] = datasets.Value("string")
    return features


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _image_path(row: dict, row_id: str) -> str:
    """The RLHF relative image path: ``<class1>/<class2>/<class3>/<file>`` when known."""
    name = PurePosixPath(str(row.get("image_name") or "").replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix or ".jpg"
    if name and all(row.get(level) for level in LEVELS):
        return "/".join([row["class1"], row["class2"], row["class3"], name])
    return f"unknown/{row_id}{suffix}"


class _SubsetWriter:
    """Accumulates one subset's shards, RLHF records and images inside its temp folder."""

    def __init__(self, subset: Subset, folder: Path, formats: Sequence[str], features: datasets.Features):
        self.subset, self.folder, self.formats, self.features = subset, folder, formats, features
        self.files = sorted(subset.rows["file"].unique().tolist())
        self.records: dict[str, list[dict]] = {t: [] for t in QUESTION_TYPES}
        self.images: dict[str, bytes] = {}
        self.skipped = 0
        self.sizes = [0, 0]

    def add(self, file_index: int, view: pa.Table, space: LabelSpace) -> None:
        rows = self.subset.rows[self.subset.rows["file"] == file_index]
        if rows.empty:
            return
        taken = view.take(pa.array(rows["position"].to_numpy()))
        taken = taken.append_column("row_id", pa.array(rows["row_id"].tolist(), pa.string()))
        if "parquet" in self.formats:
            schema = self.features.arrow_schema
            table = encode_view(taken, space).select(schema.names).cast(schema)
            target = self.folder / "data" / shard_name("train", self.files.index(file_index), len(self.files))
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, target, row_group_size=500, compression="snappy")
            self.sizes[0] += table.num_rows
            self.sizes[1] += table.nbytes
        if "rlhf" in self.formats:
            self._add_rlhf(taken)

    def _add_rlhf(self, taken: pa.Table) -> None:
        texts = taken.select(["row_id", "image_name", "question", "chosen", "rejected", *LEVELS, QUESTION_TYPE]).to_pylist()
        images = taken.column("image").combine_chunks().field("bytes").to_pylist()
        for row, data in zip(texts, images):
            if row[QUESTION_TYPE] not in self.records:
                self.skipped += 1  # the training code has no file for an unknown question type
                continue
            path = _image_path(row, row["row_id"])
            if self.images.get(path, data) != data:  # two different images under one name
                path = f"unknown/{row['row_id']}{PurePosixPath(path).suffix}"
            if path not in self.images:
                self.images[path] = data
                target = self.folder / RLHF_DIR / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data or b"")
            keys = ("question", "chosen", "rejected")
            self.records[row[QUESTION_TYPE]].append({"id": row["row_id"], "image": path, **{k: row[k] for k in keys}})

    def finish(self, source: Source, seed: int | None) -> None:
        if "parquet" in self.formats:
            configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
            infos = [dataset_info_entry("default", self.features, {"train": tuple(self.sizes)})]
            metadata = card_metadata(configs, infos, pretty_name=f"SPA-VL subset {self.subset.name}")
            (self.folder / CARD_FILE).write_text(render_card(metadata, self._card_body()), encoding="utf-8")
        if "rlhf" in self.formats:
            rlhf = self.folder / RLHF_DIR
            rlhf.mkdir(exist_ok=True)
            config = {}
            for qtype, records in self.records.items():
                name = f"{RLHF_KEY[qtype]}.json"
                (rlhf / name).write_text(json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
                config[RLHF_KEY[qtype]] = name
            ordered = {k: config[k] for k in ("hardq", "hardd", "easy") if k in config}
            (rlhf / "config_train.json").write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
        self._write_manifest(source, seed)

    def _card_body(self) -> str:
        s = self.subset
        return (
            f"\n# SPA-VL subset `{s.name}`\n\nRecipe `{s.recipe}`, {len(s.rows):,} rows of the SPA-VL train config, "
            f"written by `spa-vl ablate`. `manifest.json` lists the parameters, the seed, the source and the row ids.\n\n"
            "```python\nimport datasets\nds = datasets.load_dataset(\"path/to/this/folder\", split=\"train\")\n```\n"
        )

    def _write_manifest(self, source: Source, seed: int | None) -> None:
        s = self.subset
        files = {
            p.relative_to(self.folder).as_posix(): sha256_file(p)
            for p in sorted(self.folder.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format_version": 1,
            "spa_vl_version": __version__,
            "name": s.name,
            "recipe": s.recipe,
            "parameters": s.parameters,
            "seed": seed,
            "source": {"label": source.label, "kind": source.kind, "fingerprint": source.fingerprint},
            "rows": len(s.rows),
            "row_id": "16 hex digits of a keyed 64-bit hash of image_name, question, chosen, rejected (-k for repeats)",
            "row_ids": s.row_ids,
            "strata": s.strata_counts(),
            "metrics": s.metrics,
            "rlhf_skipped_unknown_question_type": self.skipped,
            "files": files,
        }
        (self.folder / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def export_subsets(
    source: str | os.PathLike | Source,
    subsets: Sequence[Subset],
    out: str | os.PathLike,
    *,
    formats: Sequence[str] = FORMATS,
    seed: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write every subset to ``out/<name>/`` (see the module docstring); returns the folders."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise SpaVLError(f"unknown export format(s) {unknown or formats}: choose from {', '.join(FORMATS)}")
    source = resolve_source(source)
    targets = [Path(out) / s.name for s in subsets]
    for target in targets:  # refuse before any work is done
        check_writable_dir(target, overwrite=overwrite, what="subset")
    meta, space = read_meta_index(source), source_label_space(source, warn=False)
    features = export_features(space)
    needed = set().union(*(set(s.rows["file"].unique().tolist()) for s in subsets)) if subsets else set()
    with contextlib.ExitStack() as stack:
        writers = [
            _SubsetWriter(s, stack.enter_context(staged_dir(t, overwrite=overwrite, what="subset")), formats, features)
            for s, t in zip(subsets, targets)
        ]
        files = split_files(source, "train", "train")
        for file_index, path in enumerate(tqdm(files, desc="export", unit="shard", disable=not progress)):
            if file_index not in needed:
                continue
            view = labelled_view(open_parquet(source, path).read(), meta)
            for writer in writers:
                writer.add(file_index, view, space)
        for writer in writers:
            writer.finish(source, seed)
    return targets


def verify_subset(folder: str | os.PathLike) -> list[str]:
    """Problems found re-hashing a subset against its manifest (empty when intact)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return [f"{folder / MANIFEST}: unreadable manifest ({e.__class__.__name__})"]
    problems = []
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{path}: modified (sha256 differs from the manifest)")
    listed = set(manifest.get("files", {})) | {MANIFEST}
    extra = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    problems += [f"{folder / name}: not in the manifest" for name in extra if name not in listed]
    return problems


def verify_tree(root: str | os.PathLike) -> dict[str, list[str]]:
    """:func:`verify_subset` for ``root`` itself or every subset folder below it."""
    root = Path(root)
    manifests = [root / MANIFEST] if (root / MANIFEST).is_file() else sorted(root.glob(f"*/{MANIFEST}"))
    if not manifests:
        raise SpaVLError(f"{root}: no {MANIFEST} here or in its subfolders; pass a folder written by `spa-vl ablate`")
    return {str(m.parent): verify_subset(m.parent) for m in manifests}
