"""``spa_vl.load_dataset``: SPA-VL as typed ``datasets`` objects, from the hub, a mirror or the sample."""

from __future__ import annotations

import errno
import os

import datasets
from datasets.exceptions import DatasetGenerationError

from .builder import SpaVL
from .errors import SpaVLError
from .layout import canonical_config, resolve_split
from .opening import open_source
from .sources import Source
from .tables import open_parquet, split_files


def load_builder(
    source: str | os.PathLike | Source = "sample", name: str = "train", *, revision: str | None = None, **kwargs
) -> SpaVL:
    """The :class:`~spa_vl.builder.SpaVL` builder of a config (aliases accepted), not yet prepared.

    A hub source is resolved to a commit sha here and handed to the builder as ``owner/name@sha``,
    so the builder, its cache id and every read use that one commit.

    Parameters
    ----------
    source : str, os.PathLike or Source, default "sample"
        ``"sample"``, a local mirror folder, or a hub id (``"sqrti/SPA-VL"``, ``"sqrti/SPA-VL@rev"``).
    name : str, default "train"
        The config: ``"train"`` (alias ``"default"``), ``"validation"`` or ``"eval"`` (alias ``"test"``).
    revision : str, optional
        Hub sources: a branch, tag or commit sha, resolved to one commit here.
    **kwargs
        Passed to :class:`~spa_vl.builder.SpaVL`: :class:`~spa_vl.builder.SpaVLConfig` fields
        (``allow_partial``, ``strict``, ``image_info``, ``reasons``, ``batch_size``) and builder
        arguments such as ``cache_dir``. Values that are None or False are dropped, so defaults
        leave the config's cache id plain.

    Returns
    -------
    SpaVL
        The builder; call ``download_and_prepare`` then ``as_dataset``, or ``as_streaming_dataset``.

    Raises
    ------
    SpaVLError
        The source cannot be resolved (see :func:`spa_vl.opening.open_source`), or the config is
        unknown.
    """
    resolved = open_source(source, revision=revision)
    # flags left at their defaults stay out of the config, so its cache id stays plain
    kwargs = {k: v for k, v in kwargs.items() if v is not None and v is not False}
    return SpaVL(config_name=name, data_dir=resolved.root if resolved.is_local else resolved.pinned_id, **kwargs)


def load_dataset(
    source: str | os.PathLike | Source = "sample",
    name: str = "train",
    split: str | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    streaming: bool = False,
    allow_partial: bool = False,
    strict: bool = False,
    image_info: bool = False,
    reasons: bool = False,
    num_proc: int | None = None,
) -> datasets.Dataset | datasets.DatasetDict | datasets.IterableDataset | datasets.IterableDatasetDict:
    """Load SPA-VL with typed features, like ``datasets.load_dataset``.

    Parameters
    ----------
    source : str, os.PathLike or Source, default "sample"
        ``"sample"`` (the embedded synthetic sample), a local mirror folder of ``sqrti/SPA-VL``,
        or a hub id (``"sqrti/SPA-VL"``).
    name : str, default "train"
        ``"train"`` (alias ``"default"``), ``"validation"`` or ``"eval"`` (alias ``"test"``).
    split : str, optional
        One split of the config (``"harm"``/``"help"`` for eval), or None for all of them.
    revision : str, optional
        Hub sources: a branch, tag or commit sha (default: the default branch), resolved to one
        commit sha for the whole load (also accepted as ``"sqrti/SPA-VL@<revision>"``).
    cache_dir : str, optional
        The ``datasets`` cache folder; the cache is keyed by the source files' content.
    streaming : bool, default False
        Return an ``IterableDataset`` read straight from the Parquet files.
    allow_partial : bool, default False
        Load a split even when some of its shards are missing (with a warning).
    strict : bool, default False
        New label names or unparseable image paths are errors instead of warnings.
    image_info : bool, default False
        Add train's ``meta_files/image_info/meta.json`` fields (width, height, text_similarity,
        text_count, url, md5, caption_laion, gemini_caption) as typed columns.
    reasons : bool, default False
        Add prefer's ``reason1`` and ``reason2`` to train and validation.
    num_proc : int, optional
        Processes ``download_and_prepare`` uses (labels do not depend on it); ignored when streaming.

    Returns
    -------
    datasets.Dataset, datasets.DatasetDict, datasets.IterableDataset or datasets.IterableDatasetDict
        ``Dataset`` when ``split`` is given, else ``DatasetDict`` keyed by split (iterable variants
        when streaming). Columns (:func:`~spa_vl.features.typed_features`): ``image`` (Image),
        ``question``; for train and validation ``chosen`` and ``rejected`` (strings) and ClassLabel
        ``chosen_model`` and ``rejected_model``; train's ``image_name``; ClassLabel ``class1``,
        ``class2``, ``class3`` and ``question_type``; then the optional columns asked for and any
        extra columns the files carry.

    Raises
    ------
    SpaVLError
        The source cannot be resolved, the config or split is unknown, or preparing fails on a
        file (a missing shard, a corrupt file, a refused or failed hub request; unwrapped from
        ``datasets``' ``DatasetGenerationError``).
    """
    builder = load_builder(
        source, name, revision=revision, cache_dir=cache_dir, allow_partial=allow_partial, strict=strict, image_info=image_info, reasons=reasons
    )
    if split is not None:
        resolve_split(builder.config.name, split)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    try:
        builder.download_and_prepare(num_proc=num_proc)
        return builder.as_dataset(split=split)
    except DatasetGenerationError as e:
        # our one-line errors (a corrupt file, a refused or failed hub request) come wrapped by `datasets`
        raise _unwrap(e, builder) from e
    except OSError as e:
        raise _cache_error(e, builder) from e
    except ValueError:  # `Instruction "validation" corresponds to no data!`: say which shard is empty
        _refuse_empty_splits(builder, split)
        raise


def _refuse_empty_splits(builder: SpaVL, split: str | None) -> None:
    """A split whose shards hold no row cannot be a ``Dataset`` (``datasets`` says "corresponds to no data")."""
    layout = canonical_config(builder.config.name)
    for name in [resolve_split(layout.name, split)] if split is not None else list(layout.splits):
        files = split_files(builder.source, layout.name, name)
        if sum(open_parquet(builder.source, f).metadata.num_rows for f in files) == 0:
            shown = ", ".join(builder.source.relative(f) for f in files)
            other = "load another split (split=...) or " if split is None and len(layout.splits) > 1 else ""
            raise SpaVLError(
                f"{builder.source.label}: {layout.name}/{name} has no rows: its shard(s) {shown} hold 0 rows: "
                f"{other}re-download {'them' if len(files) > 1 else 'it'}"
            )


def _cache_error(error: OSError, builder: SpaVL) -> SpaVLError:
    where = getattr(builder, "_cache_dir_root", None) or builder.cache_dir  # the folder the user chose, not its deep entry
    if error.errno == errno.ENOSPC:
        return SpaVLError(
            f"the datasets cache {where} is full (no space left on device) while preparing {builder.config.name}: free space there, "
            "or move the cache with HF_DATASETS_CACHE=/bigger/disk (or cache_dir=...)"
        )
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return SpaVLError(
            f"the datasets cache {where} cannot be written ({error.strerror}) while preparing {builder.config.name}: "
            "move the cache with HF_DATASETS_CACHE=/writable/folder (or cache_dir=...)"
        )
    return SpaVLError(f"preparing {builder.config.name} in the datasets cache {where} failed ({error}): check that folder, or move it with HF_DATASETS_CACHE")


def _unwrap(error: DatasetGenerationError, builder: SpaVL) -> BaseException:
    """Our one-line error inside ``datasets``' wrapper; a full or read-only cache named with its fix."""
    cause: BaseException | None = error.__cause__ or error.__context__
    seen: list[BaseException] = []
    while cause is not None and cause not in seen:
        seen.append(cause)
        if isinstance(cause, SpaVLError):
            return cause
        cause = cause.__cause__ or cause.__context__
    os_error = next((c for c in seen if isinstance(c, OSError) and c.errno is not None), None)
    if os_error is not None:
        return _cache_error(os_error, builder)
    return error
