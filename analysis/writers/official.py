"""The official training files for the whole train config: ``{easy,hardq,hardd}_train.json`` of SPA-VL-RLHF.

EchoseChen/SPA-VL-RLHF's ``data/config_train.json`` names ``hardq_train.json``, ``hardd_train.json``
and ``easy_train.json``; its ``load_data`` opens those paths as written, and its datasets open
``os.path.join(--image_folder, item["image"])`` and make ``torch.tensor(item["id"], dtype=torch.long)``.
The meta files hold bare per-folder image names and train's ``image_name`` is a global file name,
so nobody could rebuild the files (SPA-VL-RLHF issues #4–#6). Here every train row whose classes
and question type the content join finds becomes one item ``{id, image, question, chosen,
rejected, row_id}`` with ``image`` in the class-path layout of the hub's ``train.zip``:
``<class1>/<class2>/<class3>/<the split file's image name>``.

Images are written once each under ``images/`` from the Parquet bytes, or, with ``image_folder``,
not copied at all: the config then points at an already-unzipped ``train.zip`` and every path is
checked to exist there first.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spa_vl.atomic import make_subfolder, staged_dir
from spa_vl.columns import IMAGE_NAME, LEVELS, QUESTION_TYPE
from spa_vl.errors import SpaVLError
from spa_vl.labels import label_batch
from spa_vl.meta import MetaIndex, first_per_key, read_meta_index
from spa_vl.meta_files import read_meta_table
from spa_vl.opening import open_source
from spa_vl.progress import progress_bar
from spa_vl.sources import Source
from spa_vl.tables import iter_batches, split_files
from spa_vl.taxonomy import QUESTION_TYPES

from ..subsets.sampling import row_ids
from .base import dumps_json, training_ids
from .rlhf import KEY_ORDER, RLHF_KEY

#: File of each training key, as SPA-VL-RLHF's ``data/config_train.json`` names them.
TRAIN_FILES: dict[str, str] = {key: f"{key}_train.json" for key in KEY_ORDER}
CONFIG_FILE = "config_train.json"
IMAGES_DIR = "images"


@dataclass
class TrainingFiles:
    """What :func:`write_training_files` wrote.

    Attributes
    ----------
    folder : Path
        The output folder.
    image_folder : Path
        What ``--image_folder`` must be: ``folder/images`` or the unzipped ``train.zip``.
    rows : dict of str to int
        Items per training key (``hardq``, ``hardd``, ``easy``).
    skipped : dict of str to int
        Train rows left out: ``unknown_classes``, ``unknown_question_type``, ``unknown_image``
        (no split record gives its per-folder image name).
    images_written : int
        Image files written (0 with an external image folder).
    seconds : float
        Wall time.
    """

    folder: Path
    image_folder: Path
    rows: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    images_written: int = 0
    seconds: float = 0.0


def split_image_names(source: Source, meta: MetaIndex) -> pa.Table:
    """The ``image`` name of each split record, keyed by the item key the content join gives it.

    Parameters
    ----------
    source : Source
        The source holding ``meta_files/split/*.json``.
    meta : MetaIndex
        Its meta index (the same keys :func:`~spa_vl.labels.label_batch` puts in ``_item``).

    Returns
    -------
    pyarrow.Table
        Columns ``key`` (binary(16)) and ``image`` (string, the per-folder file name), one row per
        distinct key (its first record); empty without split files or match fields.
    """
    fields = list(meta.match_fields)
    parts = []
    for file in meta.of_kind("split") if fields else []:
        records = read_meta_table(source, file, ["image", *fields])
        if "image" not in records.column_names or not all(f in records.column_names for f in fields):
            continue
        keys = meta.item_of([records.column(f).combine_chunks().cast(pa.string()) for f in fields])
        names = pc.extract_regex(pc.replace_substring(records.column("image").combine_chunks().cast(pa.string()), "\\", "/"),
                                 r"(?P<name>[^/]*)$").field("name")
        parts.append(pa.table({"key": keys, "image": names}))
    if not parts:
        return pa.table({"key": pa.array([], pa.binary(16)), "image": pa.array([], pa.string())})
    table = pa.concat_tables(parts)
    table = table.filter(pc.and_(pc.is_valid(table.column("key")), pc.is_valid(table.column("image"))))
    return table.take(first_per_key(table.column("key").combine_chunks()))


def _class_paths(view: pa.Table, images: pa.Table) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Each row's ``<class1>/<class2>/<class3>/<image>`` (null when unknown) and why rows are unusable."""
    position = pc.index_in(view.column("_item"), value_set=images.column("key"))
    name = images.column("image").combine_chunks().take(position)
    levels = [view.column(level).combine_chunks() for level in LEVELS]
    unknown_classes = np.zeros(view.num_rows, dtype=bool)
    for level in levels:
        unknown_classes |= level.is_null().to_numpy(zero_copy_only=False)
    unknown_image = name.is_null().to_numpy(zero_copy_only=False)
    paths = pc.binary_join_element_wise(*levels, name, "/")
    return paths, unknown_classes, unknown_image


def write_training_files(
    source: str | os.PathLike | Source,
    out: str | os.PathLike,
    *,
    image_folder: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> TrainingFiles:
    """Write ``{hardq,hardd,easy}_train.json`` and ``config_train.json`` for every labelled train row.

    Parameters
    ----------
    source : str, os.PathLike or Source
        ``"sample"``, a mirror folder, or a hub id.
    out : str or os.PathLike
        The folder to write (built under a temp name, renamed into place).
    image_folder : str or os.PathLike, optional
        An already-unzipped ``train.zip`` (the folder holding the class folders): no image is
        copied, and every item's path must exist there.
    overwrite : bool, default False
        Replace an existing non-empty ``out``.
    progress : bool, default True
        Show a progress bar over the train shards.

    Returns
    -------
    TrainingFiles
        Items per key, rows left out and why, images written.

    Raises
    ------
    SpaVLError
        ``image_folder`` lacks items' images (the message names the first ones), no train row
        can be placed, ``out`` holds files without ``overwrite``, or the source is unreadable.
    """
    started = time.perf_counter()
    source = source if isinstance(source, Source) else open_source(source)
    meta = read_meta_index(source)
    images = split_image_names(source, meta)
    external = Path(image_folder).resolve() if image_folder is not None else None
    if external is not None and not external.is_dir():
        raise SpaVLError(f"{image_folder}: not a folder: pass the folder that holds train.zip's class folders (unzip train.zip first)")
    target = Path(out)
    skipped = {"unknown_classes": 0, "unknown_question_type": 0, "unknown_image": 0}
    records: dict[str, list[dict]] = {RLHF_KEY[t]: [] for t in QUESTION_TYPES}
    digests: dict[str, bytes] = {}
    missing: list[str] = []
    checked: set[str] = set()
    with staged_dir(target, overwrite=overwrite, what="training files") as tmp:
        files = split_files(source, "train", "train")
        for path in progress_bar(len(files), "training files", "shard", enabled=progress, iterable=files):
            for batch in iter_batches(source, "train", path, 1000):
                view = label_batch(batch, meta, models=False)
                paths, no_classes, no_image = _class_paths(view, images)
                qtypes = view.column(QUESTION_TYPE).combine_chunks()
                no_type = ~pc.is_in(qtypes, value_set=pa.array(QUESTION_TYPES)).to_numpy(zero_copy_only=False)
                skipped["unknown_classes"] += int(no_classes.sum())
                skipped["unknown_question_type"] += int((no_type & ~no_classes).sum())
                skipped["unknown_image"] += int((no_image & ~no_classes & ~no_type).sum())
                keep = pa.array(~(no_classes | no_type | no_image))
                rows = view.filter(keep)
                if not rows.num_rows:
                    continue
                frame = rows.select([IMAGE_NAME, "question", "chosen", "rejected"]).to_pandas()
                ids = row_ids(frame)
                kept_paths = paths.filter(keep).to_pylist()
                if external is None:
                    _write_images(tmp, kept_paths, rows.column("image").combine_chunks().field("bytes").to_pylist(), digests)
                else:
                    for image in kept_paths:  # several items share an image: each path is checked once
                        if image not in checked:
                            checked.add(image)
                            if not (external / image).is_file():
                                missing.append(image)
                texts = rows.select(["question", "chosen", "rejected", QUESTION_TYPE]).to_pydict()
                numbers = training_ids(ids).tolist()
                for i, image in enumerate(kept_paths):
                    records[RLHF_KEY[texts[QUESTION_TYPE][i]]].append(
                        {"id": numbers[i], "image": image, "question": texts["question"][i], "chosen": texts["chosen"][i],
                         "rejected": texts["rejected"][i], "row_id": ids.iloc[i]}
                    )
        if missing:
            raise SpaVLError(
                f"{image_folder}: {len(missing)} of the {len(checked)} image(s) the items name are not there, e.g. "
                f"{', '.join(missing[:3])}: pass the folder that holds the class folders of the unzipped train.zip, "
                "or leave --image-folder out to write the images from the Parquet files"
            )
        if not any(records.values()):
            raise SpaVLError(f"{source.label}: no train row has known classes, question type and split image name "
                             f"(left out: {skipped}): run `spa-vl doctor {source.label}`")
        for key, items in records.items():
            (tmp / TRAIN_FILES[key]).write_text(dumps_json(items), encoding="ascii")
        config = {key: str(target.resolve() / TRAIN_FILES[key]) for key in KEY_ORDER if key in records}
        (tmp / CONFIG_FILE).write_text(dumps_json(config), encoding="ascii")
        folder = external or target.resolve() / IMAGES_DIR
        (tmp / "TRAIN.md").write_text(_guide(target.resolve(), folder, {k: len(v) for k, v in records.items()}), encoding="utf-8")
    return TrainingFiles(target, folder, {k: len(v) for k, v in records.items()}, skipped,
                         0 if external else len(digests), time.perf_counter() - started)


def _guide(location: Path, images: Path, rows: dict[str, int]) -> str:
    """TRAIN.md: the official DPO command on these files (paths absolute, as written)."""
    import shlex

    counts = ", ".join(f"{k} {n}" for k, n in rows.items())
    return f"""# SPA-VL-RLHF training files (whole train)

Written by `spa-vl publish --format rlhf`. Items per keyword: {counts}. Images: `{images}`.
From the root of your EchoseChen/SPA-VL-RLHF clone (its `scripts/train_dpo_model_ds.sh` with these paths):

```bash
accelerate launch --config_file ./scripts/config.yaml ./train_dpo.py --do_train \\
    --config_train_path {shlex.quote(str(location / CONFIG_FILE))} \\
    --keywords {" ".join(KEY_ORDER)} \\
    --image_folder {shlex.quote(str(images))} \\
    --policy_model_name_or_path XXX/models/llava-v1.5-7b --vision_tower XXX/clip-vit-large-patch14-336 \\
    --output_dir ./results/dpo
```

`config_train.json` holds absolute paths: after moving this folder, write it again.
"""


def _write_images(folder: Path, paths: list[str], data: list[bytes | None], digests: dict[str, bytes]) -> None:
    """Write each class-path image once; two different images under one path are an error."""
    for path, image in zip(paths, data):
        digest = hashlib.blake2b(image or b"", digest_size=16).digest()
        if path in digests:
            if digests[path] != digest:
                raise SpaVLError(f"two different train images map to {path}: the split files' image names collide within "
                                 "a class folder; report this with `spa-vl doctor` output")
            continue
        digests[path] = digest
        target = folder / IMAGES_DIR / path
        make_subfolder(folder, target.parent.relative_to(folder))
        target.write_bytes(image or b"")


__all__ = ["CONFIG_FILE", "TRAIN_FILES", "TrainingFiles", "split_image_names", "write_training_files"]
