"""The dataset card: what SPA-VL is, and a typed ``dataset_info`` YAML for any folder in its layout.

:func:`write_card` makes plain ``datasets.load_dataset(folder, name)`` return ClassLabel taxonomy
columns with no script: it declares, per config, the columns the Parquet files really have, with
label columns typed over the folder's :class:`~spa_vl.taxonomy.LabelSpace`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets

from .atomic import atomic_write_text
from .errors import SpaVLError, UsageError
from .layout import CARD_FILE, CONFIGS, HUB_ID, canonical_config, hub_card_configs, read_card, render_card

DESCRIPTION = (
    "SPA-VL: a safety preference alignment dataset for vision-language models. 100,788 quadruples "
    "(image, question, chosen response, rejected response) over 6 harm domains, 15 categories (the "
    "abstract says 13; the data has 15) and "
    "53 subcategories, with easy questions, hard questions and hard statements; responses from 12 "
    "VLMs, preferences labelled by GPT-4V."
)
HOMEPAGE = f"https://huggingface.co/datasets/{HUB_ID}"
LICENSE = "cc-by-4.0"
CITATION = """@article{zhang2024spavl,
  title   = {SPA-VL: A Comprehensive Safety Preference Alignment Dataset for Vision Language Model},
  author  = {Zhang, Yongting and others},
  journal = {arXiv preprint arXiv:2406.12030},
  year    = {2024}
}"""


def features_yaml(features: datasets.Features) -> list[dict[str, Any]]:
    """The ``features`` list of a card's ``dataset_info`` entry.

    Parameters
    ----------
    features : datasets.Features
        The features of one config.

    Returns
    -------
    list of dict
        One ``{"name": ..., "dtype": ...}`` (or ``class_label`` / ``struct`` ...) mapping per
        column, as ``datasets`` writes it to a card.
    """
    return features._to_yaml_list()


def dataset_info_entry(
    config_name: str, features: datasets.Features, split_sizes: Mapping[str, tuple[int, int]]
) -> dict[str, Any]:
    """One ``dataset_info`` entry: features, and ``(num_examples, num_bytes)`` per split.

    Parameters
    ----------
    config_name : str
        The config the entry describes.
    features : datasets.Features
        Its features.
    split_sizes : Mapping of str to (int, int)
        ``(num_examples, num_bytes)`` per split name.

    Returns
    -------
    dict
        ``{"config_name", "features", "splits"}``; ``splits`` is a list of
        ``{"name", "num_bytes", "num_examples"}`` in the order of ``split_sizes``.
    """
    return {
        "config_name": config_name,
        "features": features_yaml(features),
        "splits": [{"name": s, "num_bytes": int(b), "num_examples": int(n)} for s, (n, b) in split_sizes.items()],
    }


def parquet_split_size(parquets: list) -> tuple[int, int]:
    """``(rows, uncompressed bytes)`` of a split from its Parquet footers.

    Parameters
    ----------
    parquets : list of pyarrow.parquet.ParquetFile
        The split's files (only their footer metadata is read).

    Returns
    -------
    tuple of (int, int)
        Total row count, and total uncompressed size of all row groups in bytes.
    """
    metas = [p.metadata for p in parquets]
    return sum(m.num_rows for m in metas), sum(m.row_group(i).total_byte_size for m in metas for i in range(m.num_row_groups))


def card_metadata(
    configs: list[dict[str, Any]], infos: list[dict[str, Any]], *, fingerprint: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Card YAML in the hub's key order: license, task tags, configs, dataset_info.

    Parameters
    ----------
    configs : list of dict
        The ``configs`` block (``config_name`` and ``data_files`` per config).
    infos : list of dict
        The ``dataset_info`` block, one :func:`dataset_info_entry` per config.
    fingerprint : str, optional
        The content fingerprint of the folder's data files (:func:`content_fingerprint`), written
        as each config's ``description``. ``datasets`` keys a local folder's cache by its card
        (``dataset_info`` and the configs' builder parameters, of which ``description`` is one),
        so a folder re-written with other rows must get another card, or ``load_dataset`` serves
        the old rows from its cache.
    **extra
        Further top-level keys, placed after the task tags and before ``configs``.

    Returns
    -------
    dict
        The card's YAML metadata, in key order.
    """
    if fingerprint is not None:
        configs = [{**c, "description": f"{FINGERPRINT_PREFIX}{fingerprint}"} for c in configs]
    return {"license": LICENSE, "task_categories": ["visual-question-answering"], **extra, "configs": configs, "dataset_info": infos}


#: How a card's config ``description`` names the content fingerprint.
FINGERPRINT_PREFIX = "SPA-VL data files, content fingerprint "


def content_fingerprint(folder: str | os.PathLike, files: list[str]) -> str:
    """A hex fingerprint of data files' names and bytes (what a card must change with).

    Parameters
    ----------
    folder : str or os.PathLike
        The folder the files are in.
    files : list of str
        POSIX paths relative to ``folder`` (order does not matter).

    Returns
    -------
    str
        32 hex digits: blake2b over each file's relative path and the sha256 of its bytes.
    """
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(files):
        file_hash = hashlib.sha256()
        with open(Path(folder) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                file_hash.update(block)
        digest.update(f"{name}\0{file_hash.hexdigest()}\n".encode())
    return digest.hexdigest()


def write_card(folder: str | os.PathLike, *, body: str | None = None, overwrite: bool = False) -> Path:
    """Write (or, with ``overwrite``, rewrite) ``folder/README.md`` with typed features for every config.

    The configs and data_files are kept from the existing card, else the hub's. Label columns
    (``class1``..``class3``, ``question_type``) become ClassLabel over the folder's label space
    (reference names + names found in the data); other columns keep their Parquet types. The
    Markdown body is kept unless ``body`` is given, and so are every YAML key the card does not
    own (``pretty_name``, ``language``, ...) with its value and place.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder in the hub's layout (Parquet shards and, optionally, ``README.md``).
    body : str, optional
        The Markdown body to write; default: the existing card's body, else :func:`default_body`.
        The card's other top-level YAML keys are always kept.
    overwrite : bool, default False
        Rewrite an existing ``README.md``; without it an existing card is refused, as every
        other writer refuses to replace a file.

    Returns
    -------
    pathlib.Path
        The card written, ``folder/README.md`` (written atomically).

    Raises
    ------
    SpaVLError
        If the folder is not a readable source, a card config's split matches no Parquet file, or
        the existing card cannot be parsed.
    UsageError
        If ``folder/README.md`` exists and ``overwrite`` is false (its parameter is ``overwrite``).
    """
    from .features import typed_features_for_schema
    from .labels import source_label_space
    from .sources import resolve_source
    from .tables import open_parquet, split_files

    folder = Path(folder)
    if (folder / CARD_FILE).exists() and not overwrite:
        raise UsageError(
            f"{folder / CARD_FILE} exists: pass {{option}} to rewrite it (its body and YAML keys other than configs and "
            f"dataset_info are kept), or copy the folder first", parameter="overwrite",
        )
    source = resolve_source(str(folder))
    old_meta, old_body = read_card(folder / CARD_FILE) if (folder / CARD_FILE).is_file() else ({}, "")
    configs = old_meta.get("configs") or hub_card_configs()
    space = source_label_space(source)
    infos = []
    for config in configs:
        name = config["config_name"]
        sizes, schema = {}, None
        for entry in config["data_files"]:
            parquets = [open_parquet(source, f) for f in _card_split_files(source, name, entry, split_files)]
            sizes[entry["split"]] = parquet_split_size(parquets)
            schema = schema or parquets[0].schema_arrow
        infos.append(dataset_info_entry(name, typed_features_for_schema(schema, space), sizes))
    ours = card_metadata(configs, infos, fingerprint=source.fingerprint)  # size+mtime stamps: no re-read of the data
    owned = {"configs", "dataset_info"}  # the only keys computed here; the rest keep their values and order
    metadata = {k: ours[k] if k in owned else v for k, v in old_meta.items()}
    metadata.update({k: v for k, v in ours.items() if k not in metadata})
    text = render_card(metadata, body if body is not None else (old_body or default_body(folder.name)))
    return atomic_write_text(folder / CARD_FILE, text)


def _card_split_files(source, config_name: str, entry: Mapping[str, Any], split_files) -> list[str]:
    # Hub configs resolve through our layout (with its checks); other configs by their own pattern.
    layout = CONFIGS.get(config_name) or (canonical_config(config_name) if config_name in ("default", "test") else None)
    if layout is not None and entry["split"] in layout.splits and layout.splits[entry["split"]] == entry["path"]:
        return split_files(source, layout.name, entry["split"])
    paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
    files = sorted(f for p in paths for f in source.glob(p) if f.endswith(".parquet"))
    if not files:
        raise SpaVLError(f"{source.label}: card config {config_name!r} split {entry['split']!r} matches no Parquet file ({entry['path']})")
    return files


def default_body(title: str) -> str:
    """Markdown body of a card we write from scratch.

    Parameters
    ----------
    title : str
        The card's heading (the folder name).

    Returns
    -------
    str
        Markdown: heading, :data:`DESCRIPTION`, a note on label columns, and the BibTeX citation.
    """
    return (
        f"\n# {title}\n\n{DESCRIPTION}\n\nLabel columns are typed (`ClassLabel`); -1 means the label is "
        f"unknown. Card written by `spa-vl card`.\n\n## Citation\n\n```bibtex\n{CITATION}\n```\n"
    )
