"""Export ablation subsets in the formats training stacks read, with a manifest; verify; relocate.

Each subset becomes a folder ``OUT/<name>/`` holding, per requested format (one writer class per
format, :mod:`spa_vl.analysis.writers.base`):

* ``parquet`` — ``README.md`` + ``data/train-*.parquet`` for plain ``datasets.load_dataset(folder)``;
* ``rlhf`` — ``rlhf/`` for the official SPA-VL-RLHF code (config_train.json, config_test.json,
  eval.json, lists per question type), images under ``images/``;
* ``trl`` — ``trl/``, a ``datasets`` folder in TRL's vision preference format (train, test);
* ``llamafactory`` — ``llamafactory/`` with sharegpt preference JSON and ``dataset_info.json``;
* ``swift`` — ``swift_train.jsonl`` and ``swift_val.jsonl`` in ms-swift's custom-dataset format;

and always ``TRAIN.md`` (the training commands, with this folder's paths) and ``manifest.json``
(recipe, parameters, seed, source fingerprint, row ids, per-stratum counts, the folder's location,
each format's section, the eval rows, and the sha256 of every file: :func:`verify_subset`).

Eval rows (for the formats that take an eval set) are held out: drawn from the validation config
(default) or from train rows outside every subset of the run, stratified by class1 × question type,
and never a row of a subset. The source is streamed once for all subsets; every subset folder is
built under a temp name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa

from spa_vl import __version__
from spa_vl.atomic import atomic_write_text, make_subfolder, pending_publish, staged_dirs
from spa_vl.errors import SpaVLError
from spa_vl.features import typed_features
from spa_vl.labels import source_label_space
from spa_vl.meta import read_meta_index
from spa_vl.opening import open_source
from spa_vl.progress import progress_bar
from spa_vl.sources import Source
from spa_vl.tables import open_parquet, split_files
from spa_vl.taxonomy import QUESTION_TYPE, QUESTION_TYPES, UNKNOWN, LabelSpace, SpaVLWarning

from . import parquet, rlhf, trl, llamafactory, swift  # noqa: F401  # isort: skip (registers the formats, in this order)
from ..subsets.ablation import train_pool
from ..subsets.sampling import Subset, row_ids, stratified_take
from .base import WRITERS, ImageStore, SubsetContext, SubsetWriter, dumps_json, label_rows, unreadable_images, writer_classes
from .rlhf import MIN_ROWS, RLHF_DIR, RLHF_KEY  # noqa: F401 (public names of this module)

#: Every registered format, in registration order.
FORMATS: tuple[str, ...] = tuple(WRITERS)
DEFAULT_FORMATS: tuple[str, ...] = ("parquet", "rlhf")
EVAL_SOURCES: tuple[str, ...] = ("validation", "train")
DEFAULT_EVAL_SIZE = 1000
MANIFEST = "manifest.json"
TRAIN_GUIDE = "TRAIN.md"
TEXT_KEY_COLUMNS: tuple[str, ...] = ("question", "chosen", "rejected")
#: Key of the lock and publish journal of an ``out`` folder (``.spa-vl-lock``, ``.spa-vl-publish.json``).
OUT_KEY = ""
_SHARD = re.compile(r"^(?P<stem>.*)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


def export_features(space: LabelSpace) -> datasets.Features:
    """Features of an exported subset: the typed train features plus ``row_id``.

    Parameters
    ----------
    space : LabelSpace
        Label names of the source (the ClassLabel names of the taxonomy and question type).

    Returns
    -------
    datasets.Features
        :func:`~spa_vl.features.typed_features` of the train config, then ``row_id`` (string).
    """
    features = typed_features("train", space)
    features["row_id"] = datasets.Value("string")
    return features


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes.

    Parameters
    ----------
    path : Path
        The file (read in 1 MiB blocks).

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_keys(table: pa.Table) -> np.ndarray:
    """A 64-bit key per row from question, chosen and rejected (to hold eval rows out of subsets).

    Parameters
    ----------
    table : pyarrow.Table, shape (n, ...)
        Rows with ``question``, ``chosen`` and ``rejected`` columns (nulls count as ``""``).

    Returns
    -------
    numpy.ndarray of uint64, shape (n,)
        Pandas' keyed hash of the three texts, in row order.
    """
    frame = table.select(list(TEXT_KEY_COLUMNS)).to_pandas().fillna("")
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def _take(view: pa.Table, rows: pd.DataFrame) -> pa.Table:
    taken = view.take(pa.array(rows["position"].to_numpy()))
    return taken.append_column("row_id", pa.array(rows["row_id"].tolist(), pa.string()))


def _choose_eval(candidates: pd.DataFrame, size: int, seed: int, what: str) -> pd.DataFrame:
    """``size`` candidates (fewer if fewer exist), stratified by class1 × question type, seeded."""
    known = candidates[candidates[QUESTION_TYPE].isin(QUESTION_TYPES)].fillna({"class1": UNKNOWN})
    if len(known) < MIN_ROWS:
        other = "train" if what == "validation" else "validation"
        raise SpaVLError(
            f"only {len(known)} held-out {what} row(s) with a known question type, and the trainers' eval sets need at "
            f"least {MIN_ROWS}: pass --eval-from {other}, or leave rlhf, trl and llamafactory out of --format"
        )
    return stratified_take(known, min(size, len(known)), ["class1", QUESTION_TYPE], seed, what=f"held-out {what} rows")


def _validation_eval(source: Source, meta, exclude: np.ndarray, size: int, seed: int) -> tuple[pa.Table, list[str]]:
    try:
        files = split_files(source, "validation", "validation")
    except SpaVLError as e:
        raise SpaVLError(f"{e} (the eval rows come from the validation config: pass --eval-from train to use held-out train rows)") from e
    views, frames = [], []
    for file_index, path in enumerate(files):
        view = label_rows(open_parquet(source, path).read(), meta)
        frame = view.select([c for c in ("image_name", *TEXT_KEY_COLUMNS) if c in view.column_names]).to_pandas()
        labels = view.select(["class1", QUESTION_TYPE]).to_pandas()
        keep = ~np.isin(text_keys(view), exclude)
        frames.append(labels.assign(file=file_index, position=np.arange(len(frame)), _keep=keep, **{c: frame[c] for c in frame}))
        views.append(view)
    candidates = pd.concat(frames, ignore_index=True)
    candidates.insert(0, "row_id", row_ids(candidates))
    chosen = _choose_eval(candidates[candidates["_keep"]], size, seed, "validation")
    table = pa.concat_tables([_take(views[f], rows) for f, rows in chosen.groupby("file", sort=True)], promote_options="default")
    return table, chosen["row_id"].tolist()


def export_subsets(
    source: str | os.PathLike | Source,
    subsets: Sequence[Subset],
    out: str | os.PathLike,
    *,
    pool: pd.DataFrame | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    seed: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    eval_from: str = "validation",
    eval_size: int = DEFAULT_EVAL_SIZE,
    strict: bool = False,
) -> list[Path]:
    """Write every subset to ``out/<name>/`` in ``formats`` (see the module docstring).

    Parameters
    ----------
    source : str, os.PathLike or Source
        ``"sample"``, a mirror folder, or a hub id.
    subsets : sequence of Subset
        From a sampler's ``sample(pool)``: row ids, resolved against ``pool``.
    out : str or os.PathLike
        Folder receiving one subfolder per subset.
    pool : pandas.DataFrame, shape (n, ...), optional
        The :func:`~spa_vl.analysis.subsets.ablation.train_pool` of ``source`` the subsets were drawn from (read
        again from ``source`` when None).
    formats : sequence of str
        Names from :data:`FORMATS`.
    seed : int or None
        Recorded in the manifest, and seeds the choice of eval rows (0 when None).
    overwrite : bool
        Replace existing subset folders (each in one rename).
    progress : bool
        Show a progress bar over the source shards.
    eval_from : {"validation", "train"}
        Where the held-out eval rows of rlhf / trl / llamafactory come from: the validation config,
        or train rows in no subset of this call.
    eval_size : int
        At most this many eval rows (all candidates when fewer).
    strict : bool
        Refuse rows whose image bytes are not a readable image, and rows a format cannot hold
        (a null question or response); by default they are reported in a warning naming the
        rows (bad images are exported as they are, rows without text are left out of the formats
        that need text).

    Returns
    -------
    list of Path
        The subset folders, in the order of ``subsets``.

    Raises
    ------
    SpaVLError
        Unknown format, a subset a format cannot hold, row ids not in the pool, an existing folder
        without ``overwrite``, too few held-out rows, bad rows with ``strict``; nothing is
        published then. Another run writing into ``out``, a full or read-only disk, or ``out``
        naming a file raise :class:`~spa_vl.errors.OutputError` naming the user's path.
    """
    classes = writer_classes(list(formats))
    if eval_from not in EVAL_SOURCES:
        raise SpaVLError(f"--eval-from {eval_from!r} is unknown: choose from {', '.join(EVAL_SOURCES)}")
    if eval_size < MIN_ROWS:
        raise SpaVLError(f"--eval-size {eval_size} is too small: the trainers' eval sets need at least {MIN_ROWS} rows")
    source = open_source(source)
    targets = [Path(out).resolve() / s.name for s in subsets]
    if not targets:
        return []
    # the lock is held from here to the publish: a second run into ``out`` fails at once, and
    # every target is checked (``overwrite``) before any work is done
    with staged_dirs(targets, overwrite=overwrite, what="subset", key=OUT_KEY) as folders:
        _export(source, subsets, targets, folders, pool, classes, seed, progress, eval_from, eval_size, strict)
    return targets


def _export(source: Source, subsets, targets, folders, pool, classes, seed, progress, eval_from, eval_size, strict) -> None:
    pool = train_pool(source) if pool is None else pool
    rows = [subset.rows_in(pool) for subset in subsets]
    for cls in classes:
        for subset, subset_rows in zip(subsets, rows):
            cls.check(subset, subset_rows)
    meta, space = read_meta_index(source), source_label_space(source, warn=False)
    features = export_features(space)
    needs_eval = any(cls.needs_eval for cls in classes)
    eval_seed = 0 if seed is None else seed
    train_eval = None
    if needs_eval and eval_from == "train":
        # a repeat (-k) of a subset row has the same content: hold every copy out
        used = pd.Series(np.concatenate([np.asarray(s.row_ids, dtype=object) for s in subsets] or [np.zeros(0, object)])).str.split("-").str[0]
        held_out = pool[~pool["row_id"].str.split("-").str[0].isin(used)]
        train_eval = _choose_eval(held_out, eval_size, eval_seed, "train")
    needed = set().union(*(set(r["file"].unique().tolist()) for r in rows)) if subsets else set()
    if train_eval is not None:
        needed |= set(train_eval["file"].unique().tolist())
    groups = []
    for subset, subset_rows, target, folder in zip(subsets, rows, targets, folders):
        context = SubsetContext(subset, subset_rows, folder, target, features, space, seed, ImageStore(folder), strict)
        groups.append((context, [cls(context) for cls in classes]))
    exported_keys, eval_parts = [], []
    bad_images: dict[str, list[str]] = {}  # subset → "row <row_id> (<image_name>) of <shard>"
    files = split_files(source, "train", "train")
    for file_index, path in enumerate(progress_bar(len(files), "export", "shard", enabled=progress, iterable=files)):
        if file_index not in needed:
            continue
        view = label_rows(open_parquet(source, path).read(), meta)
        bad = _unreadable_positions(view, [context.rows for context, _ in groups], file_index)
        for context, writers in groups:
            shard_rows = context.rows[context.rows["file"] == file_index]
            if shard_rows.empty:
                continue
            _note_bad_images(context, shard_rows, view, bad, path, strict, bad_images)
            taken = _take(view, shard_rows)
            for writer in writers:
                writer.add(file_index, taken)
            if needs_eval and eval_from == "validation":
                exported_keys.append(text_keys(taken))
        if train_eval is not None:
            eval_rows = train_eval[train_eval["file"] == file_index]
            if not eval_rows.empty:
                eval_parts.append(_take(view, eval_rows))
    for name, rows_named in bad_images.items():
        warnings.warn(
            f"subset {name}: {len(rows_named)} row(s) hold image bytes that are not a readable image and were exported "
            f"as they are: {_first(rows_named)}; re-download those shards, or pass --strict to refuse them",
            SpaVLWarning, stacklevel=3,
        )
    eval_table: pa.Table | None = None
    eval_ids: list[str] = []
    if needs_eval and eval_from == "validation":
        exclude = np.concatenate(exported_keys) if exported_keys else np.zeros(0, np.uint64)
        eval_table, eval_ids = _validation_eval(source, meta, exclude, eval_size, eval_seed)
    elif train_eval is not None:
        eval_table, eval_ids = pa.concat_tables(eval_parts), train_eval["row_id"].tolist()
    eval_info = {"from": eval_from, "size": eval_size, "rows": len(eval_ids), "row_ids": eval_ids} if needs_eval else None
    for context, writers in groups:
        sections = {w.name: w.finish(eval_table if w.needs_eval else None) for w in writers}
        _finish_subset(context, sections, source, seed, eval_info)


def _first(names: list[str], shown: int = 5) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _unreadable_positions(view: pa.Table, frames: list[pd.DataFrame], file_index: int) -> set[int]:
    """Positions in the shard ``view`` of rows some subset takes whose image is not readable (each checked once)."""
    positions = sorted(set().union(*(set(f.loc[f["file"] == file_index, "position"].tolist()) for f in frames)))
    if not positions:
        return set()
    flags = unreadable_images(view.select(["image"]).take(pa.array(positions, pa.int64())))
    return {p for p, flag in zip(positions, flags) if flag}


def _note_bad_images(context: SubsetContext, shard_rows: pd.DataFrame, view: pa.Table, bad: set[int], path: str, strict: bool,
                     found: dict[str, list[str]]) -> None:
    hit = shard_rows[shard_rows["position"].isin(bad)]
    if hit.empty:
        return
    names = (view.column("image_name").take(pa.array(hit["position"].to_numpy())).to_pylist()
             if "image_name" in view.column_names else [None] * len(hit))
    described = [f"row {r} ({n or 'no image_name'}, position {p} of {path})" for r, n, p in zip(hit["row_id"], names, hit["position"])]
    if strict:
        raise SpaVLError(
            f"subset {context.subset.name}: {len(hit)} row(s) of {path} hold image bytes that are not a readable image: "
            f"{_first(described)}; re-download that shard, or drop --strict to export them as they are (with a warning)"
        )
    found.setdefault(context.subset.name, []).extend(described)


def _located_texts(location: Path, sections: dict[str, dict]) -> tuple[dict[str, str], list[str]]:
    """The files whose text depends on the folder's location, and the names of those that name it.

    The files are the writers' located files and ``TRAIN.md``; the names leave out those that do
    not really name the location (``TRAIN.md`` of a parquet-only subset does not).
    """
    texts: dict[str, str] = {}
    parts = []
    for name, section in sections.items():
        cls = WRITERS.get(name)
        if cls is None:
            raise SpaVLError(f"format {name!r} of this manifest is unknown to spa-vl {__version__}: upgrade spa-vl")
        texts.update(cls.located_files(location, section))
        parts.append(cls.instructions(location, section))
    located = sorted(texts)
    body = "\n".join(p for p in parts if p)
    texts[TRAIN_GUIDE] = (
        f"# Training on `{location.name}`\n\nWritten by `spa-vl ablate`. Absolute paths below name the folder where it "
        f"was written; after a move, `spa-vl ablate --relocate <folder>` rewrites them.\n\n{body}"
    )
    if str(location) in texts[TRAIN_GUIDE]:
        located.append(TRAIN_GUIDE)
    return texts, sorted(located)


def _finish_subset(context: SubsetContext, sections: dict[str, dict], source: Source, seed: int | None, eval_info: dict | None) -> None:
    folder, location, s = context.folder, context.location, context.subset
    texts, located = _located_texts(location, sections)
    for name, text in texts.items():
        make_subfolder(folder, Path(name).parent)
        (folder / name).write_text(text, encoding="utf-8")
    paths = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in paths}
    gaps = _shard_gaps(files)
    if gaps:  # a writer's file vanished: never publish (nor list as intact) an incomplete folder
        raise SpaVLError(f"{location}: {', '.join(gaps[:3])} missing from the folder being written: run the export again")
    manifest = {
        "format_version": 2,
        "spa_vl_version": __version__,
        "name": s.name,
        "recipe": s.recipe,
        "parameters": s.parameters,
        "seed": seed,
        "source": {"label": source.label, "kind": source.kind, "fingerprint": source.fingerprint, "revision": source.revision},
        "rows": len(s),
        "row_id": "16 hex digits of a keyed 64-bit hash of image_name, question, chosen, rejected (-k for repeats)",
        "row_ids": list(s.row_ids),
        "strata": s.strata_counts(context.rows),
        "metrics": s.metrics,
        "location": str(location),
        "located_files": located,
        "formats": sections,
        "eval": eval_info,
        "files": files,
        "sizes": {p.relative_to(folder).as_posix(): p.stat().st_size for p in paths},
    }
    (folder / MANIFEST).write_text(dumps_json(manifest), encoding="ascii")


def _shard_gaps(names) -> list[str]:
    """Shard files (``<stem>-0000K-of-0000M.parquet``) whose siblings are listed but which are not."""
    seen: dict[tuple[str, int], set[int]] = {}
    for name in names:
        match = _SHARD.match(name)
        if match:
            seen.setdefault((match["stem"], int(match["count"])), set()).add(int(match["index"]))
    return [f"{stem}-{i:05d}-of-{count:05d}.parquet" for (stem, count), present in sorted(seen.items())
            for i in range(count) if i not in present]


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SpaVLError(f"{folder / MANIFEST}: unreadable manifest ({e.__class__.__name__}): re-export the subset") from e


def _moved_from(folder: Path, manifest: dict[str, Any]) -> str | None:
    """The folder a subset was written in, when it has moved since and files still name that folder."""
    if manifest.get("located_files") and manifest.get("location") != str(folder.resolve()):
        return str(manifest.get("location"))
    return None


def verify_subset(folder: str | os.PathLike, *, hint: bool = True) -> list[str]:
    """Problems found re-hashing a subset against its manifest (empty when intact).

    Besides modified, missing and unlisted files, a folder moved since it was written is a
    problem when files name its old location (``spa-vl ablate --relocate`` fixes that).

    Parameters
    ----------
    folder : str or os.PathLike
        A subset folder written by :func:`export_subsets` (holding ``manifest.json``).
    hint : bool, default True
        End the moved-folder problem with the ``spa-vl ablate --relocate`` command for this folder
        (:func:`verify_tree` leaves it out: one command, :func:`relocate_roots`, fixes every subset
        of a moved tree).

    Returns
    -------
    list of str
        One message per problem, each starting with the path concerned; an unreadable or missing
        manifest is the one problem then.
    """
    folder = Path(folder)
    try:
        manifest = _read_manifest(folder)
    except SpaVLError:
        return [f"{folder / MANIFEST}: unreadable manifest"]
    problems = []
    sizes = manifest.get("sizes") or {}
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif name in sizes and path.stat().st_size != sizes[name]:
            problems.append(f"{path}: modified ({path.stat().st_size} bytes, the manifest says {sizes[name]})")
        elif sha256_file(path) != digest:
            problems.append(f"{path}: modified (sha256 differs from the manifest)")
    problems += [f"{folder / name}: missing (a shard of a set the manifest lists)" for name in _shard_gaps(manifest.get("files", {}))]
    listed = set(manifest.get("files", {})) | {MANIFEST}
    extra = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    problems += [f"{folder / name}: not in the manifest" for name in extra if name not in listed]
    old = _moved_from(folder, manifest)
    if old is not None:
        problems.append(f"{folder}: moved from {old}, and {', '.join(manifest['located_files'])} still name that folder"
                        + (f": run `{relocate_command(folder)}`" if hint else ""))
    return problems


def relocate_command(folder: str | os.PathLike) -> str:
    """The shell command that rewrites the paths of the subsets in ``folder`` after a move.

    Parameters
    ----------
    folder : str or os.PathLike
        A subset folder or a folder of subsets, as the user spelled it.

    Returns
    -------
    str
        ``spa-vl ablate --relocate FOLDER``, the folder quoted for a POSIX shell where needed.
    """
    return f"spa-vl ablate --relocate {shlex.quote(str(folder))}"


def _manifest_folders(root: Path) -> list[Path]:
    if (root / MANIFEST).is_file():
        manifests = [root / MANIFEST]
    else:  # listed, not globbed (a root with [ ] in its name); temp and set-aside folders are not subsets
        manifests = sorted(p / MANIFEST for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()) if root.is_dir() else []
    if not manifests:
        raise SpaVLError(f"{root}: no {MANIFEST} here or in its subfolders; pass a folder written by `spa-vl ablate`")
    return [m.parent for m in manifests]


def verify_tree(root: str | os.PathLike) -> dict[str, list[str]]:
    """:func:`verify_subset` for ``root`` itself or every subset folder below it.

    Parameters
    ----------
    root : str or os.PathLike
        A subset folder, or a folder whose subfolders are subsets (an ``out`` of
        :func:`export_subsets`).

    Returns
    -------
    dict of str to list of str
        Subset folder → its problems (empty when intact), in sorted folder order. A moved subset's
        problem names no command: :func:`relocate_roots` gives the folders to relocate, one for
        the whole tree when that fixes every moved subset.

    Raises
    ------
    SpaVLError
        If neither ``root`` nor any of its subfolders holds ``manifest.json``.
    """
    root = Path(root)
    results = {str(folder): verify_subset(folder, hint=False) for folder in _manifest_folders(root)}
    journal = pending_publish(root, OUT_KEY)
    if journal is not None:  # a run was killed while publishing: some subsets may still be the old ones
        results[str(root)] = [f"{journal}: a run was killed while publishing its subsets: run the same `spa-vl ablate --out {root}` "
                              f"again (it finishes the publish first), then verify"]
    return results


def moved_subsets(root: str | os.PathLike) -> dict[str, str]:
    """The subsets of ``root`` moved since they were written whose files still name the old folder.

    Reads the manifests only (no hashing). A subset with an unreadable manifest is not listed
    (:func:`verify_tree` reports it).

    Parameters
    ----------
    root : str or os.PathLike
        A subset folder, or a folder whose subfolders are subsets.

    Returns
    -------
    dict of str to str
        Moved subset folder → the folder it was written in, in sorted folder order.

    Raises
    ------
    SpaVLError
        If neither ``root`` nor any of its subfolders holds ``manifest.json``.
    """
    moved = {}
    for folder in _manifest_folders(Path(root)):
        try:
            old = _moved_from(folder, _read_manifest(folder))
        except SpaVLError:
            continue
        if old is not None:
            moved[str(folder)] = old
    return moved


def relocate_roots(root: str | os.PathLike) -> list[str]:
    """The fewest folders to pass to ``spa-vl ablate --relocate`` so that every moved subset of ``root`` is fixed.

    :func:`relocate_tree` of ``root`` rewrites every moved subset below it and leaves the others
    alone, so ``root`` itself is the one folder, unless a manifest below it is unreadable (then
    relocating ``root`` would stop there): then each moved subset is its own folder.

    Parameters
    ----------
    root : str or os.PathLike
        A subset folder, or a folder whose subfolders are subsets, as the user spelled it.

    Returns
    -------
    list of str
        ``[str(root)]``, the moved subsets' folders, or ``[]`` when none moved.

    Raises
    ------
    SpaVLError
        If neither ``root`` nor any of its subfolders holds ``manifest.json``.
    """
    moved = moved_subsets(root)
    if not moved:
        return []
    folders = _manifest_folders(Path(root))
    try:
        for folder in folders:
            _read_manifest(folder)
    except SpaVLError:
        return list(moved)
    return [str(root)]


def relocate_subset(folder: str | os.PathLike) -> bool:
    """Rewrite the files that name a subset's location after it moved; update its manifest.

    Parameters
    ----------
    folder : str or os.PathLike
        A subset folder written by :func:`export_subsets`.

    Returns
    -------
    bool
        True if files were rewritten, False if the folder is where it was written (or its manifest
        predates absolute paths).

    Raises
    ------
    SpaVLError
        The manifest is missing or unreadable, or names a format this version does not know.
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    location = folder.resolve()
    if "formats" not in manifest or manifest.get("location") == str(location):
        return False  # where it was written, or a manifest of format 1 (no absolute paths)
    texts, located = _located_texts(location, manifest["formats"])
    for name, text in texts.items():
        atomic_write_text(folder / name, text)
        manifest["files"][name] = sha256_file(folder / name)
        if "sizes" in manifest:
            manifest["sizes"][name] = (folder / name).stat().st_size
    manifest["location"] = str(location)
    manifest["located_files"] = located
    atomic_write_text(folder / MANIFEST, dumps_json(manifest))
    return True


def relocate_tree(root: str | os.PathLike) -> dict[str, bool]:
    """:func:`relocate_subset` for ``root`` itself or every subset folder below it.

    Parameters
    ----------
    root : str or os.PathLike
        A subset folder, or a folder whose subfolders are subsets.

    Returns
    -------
    dict of str to bool
        Subset folder → whether its files were rewritten, in sorted folder order.

    Raises
    ------
    SpaVLError
        If no ``manifest.json`` is found, or a subset's manifest is unreadable or names an unknown
        format.
    """
    return {str(folder): relocate_subset(folder) for folder in _manifest_folders(Path(root))}


__all__ = [
    "DEFAULT_EVAL_SIZE",
    "DEFAULT_FORMATS",
    "EVAL_SOURCES",
    "FORMATS",
    "MANIFEST",
    "RLHF_DIR",
    "RLHF_KEY",
    "SubsetWriter",
    "TRAIN_GUIDE",
    "export_features",
    "export_subsets",
    "moved_subsets",
    "relocate_command",
    "relocate_roots",
    "relocate_subset",
    "relocate_tree",
    "sha256_file",
    "verify_subset",
    "verify_tree",
]
