"""The hub's file layout: configs and their aliases, split file patterns, shard names, the card.

Canonical config names are ``train``, ``validation`` and ``eval``; the hub's ``default`` and
``test`` are accepted everywhere as aliases. Outputs always use the canonical names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import SpaVLError
from .taxonomy import LEVELS

HUB_ID = "sqrti/SPA-VL"
CARD_FILE = "README.md"
META_DIR = "meta_files"
#: Meta-file kinds on the hub; ``split``, ``safety`` and ``prefer`` hold one file per question type.
META_KINDS: tuple[str, ...] = ("split", "image_info", "model_answer", "prefer", "safety")


@dataclass(frozen=True)
class ConfigLayout:
    """One config: its canonical name, its name on the hub, and a file pattern per split.

    Attributes
    ----------
    name : str
        Canonical name: ``"train"``, ``"validation"`` or ``"eval"``.
    hub_name : str
        Its name on the hub and in the card: ``"default"``, ``"validation"`` or ``"test"``.
    splits : mapping of str to str
        Split name → glob of its shards relative to the source root, without ``.parquet``
        (e.g. ``{"train": "data/train-*"}``), in the hub's order.
    """

    name: str
    hub_name: str
    splits: Mapping[str, str]

    @property
    def split_names(self) -> tuple[str, ...]:
        """The config's split names, in order (e.g. ``("harm", "help")`` for eval)."""
        return tuple(self.splits)


CONFIGS: dict[str, ConfigLayout] = {
    "train": ConfigLayout("train", "default", {"train": "data/train-*"}),
    "validation": ConfigLayout("validation", "validation", {"validation": "validation/validation-*"}),
    "eval": ConfigLayout("eval", "test", {"harm": "test/harm-*", "help": "test/help-*"}),
}
CONFIG_ALIASES: dict[str, str] = {"default": "train", "test": "eval"}
#: Columns of each canonical config in the hub's Parquet files, in the hub's order (types: features.py).
HUB_COLUMNS: dict[str, tuple[str, ...]] = {
    "train": ("image", "question", "chosen", "rejected", "image_name"),
    "validation": ("image", "question", "chosen", "rejected", *LEVELS),
    "eval": ("image", "question", *LEVELS),
}
#: Text columns we analyse, where a config has them.
TEXT_COLUMNS: tuple[str, ...] = ("question", "chosen", "rejected")
#: Rows per split on the hub (the card's own numbers; 100,788 in all).
HUB_SPLIT_ROWS: dict[tuple[str, str], int] = {
    ("train", "train"): 93_258,
    ("validation", "validation"): 7_000,
    ("eval", "harm"): 265,
    ("eval", "help"): 265,
}
#: Train shards on the hub.
HUB_TRAIN_SHARDS = 8

_SHARD_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.parquet$")


def canonical_config(name: str) -> ConfigLayout:
    """The layout of a config given its canonical name or an alias.

    Parameters
    ----------
    name : str
        ``"train"``, ``"validation"``, ``"eval"``, or an alias (``"default"``, ``"test"``).

    Returns
    -------
    ConfigLayout
        The entry of :data:`CONFIGS` (canonical name).

    Raises
    ------
    SpaVLError
        ``name`` is neither a config nor an alias.
    """
    layout = CONFIGS.get(CONFIG_ALIASES.get(name, name))
    if layout is None:
        aliases = ", ".join(f"{a} (= {c})" for a, c in CONFIG_ALIASES.items())
        raise SpaVLError(f"unknown config {name!r}: valid names are {', '.join(CONFIGS)}; aliases {aliases}")
    return layout


def resolve_split(config: str, split: str) -> str:
    """Check that ``split`` belongs to ``config`` and return it.

    Parameters
    ----------
    config : str
        A config name or alias.
    split : str
        A split name.

    Returns
    -------
    str
        ``split`` unchanged.

    Raises
    ------
    SpaVLError
        The config is unknown, or ``split`` is not one of its splits.
    """
    layout = canonical_config(config)
    if split not in layout.splits:
        raise SpaVLError(
            f"unknown split {split!r} for config {layout.name!r}: valid splits are {', '.join(layout.splits)}"
        )
    return split


def config_split_keys(configs: list[str] | None = None) -> list[tuple[str, str]]:
    """``(config, split)`` pairs in canonical order, for all or some configs.

    Parameters
    ----------
    configs : list of str, optional
        Config names or aliases (duplicates kept once, in the order given); all configs when
        None or empty.

    Returns
    -------
    list of tuple of (str, str)
        ``(canonical config, split)``, e.g. ``[("train", "train"), ("validation", "validation"),
        ("eval", "harm"), ("eval", "help")]`` for all configs.

    Raises
    ------
    SpaVLError
        A config is unknown.
    """
    names = [canonical_config(c).name for c in (configs or list(CONFIGS))]
    return [(c, s) for c in dict.fromkeys(names) for s in CONFIGS[c].splits]


def split_key(config: str, split: str) -> str:
    """The ``config/split`` key used by stats and reports (canonical names).

    Parameters
    ----------
    config : str
        A config name or alias.
    split : str
        A split name (not checked).

    Returns
    -------
    str
        E.g. ``"eval/harm"`` for ``("test", "harm")``.

    Raises
    ------
    SpaVLError
        The config is unknown.
    """
    return f"{canonical_config(config).name}/{split}"


def shard_name(stem: str, index: int, count: int) -> str:
    """The hub's shard file name, e.g. ``train-00003-of-00008.parquet``.

    Parameters
    ----------
    stem : str
        The split's file stem (e.g. ``"train"``).
    index : int
        The shard's index, from 0.
    count : int
        The number of shards.

    Returns
    -------
    str
        ``<stem>-<index:05d>-of-<count:05d>.parquet``.
    """
    return f"{stem}-{index:05d}-of-{count:05d}.parquet"


def split_file_stem(config: str, split: str) -> tuple[str, str]:
    """``(folder, stem)`` of a split's shards, e.g. ``("data", "train")``, from its pattern.

    Parameters
    ----------
    config : str
        A config name or alias.
    split : str
        One of its splits (an unknown split is a ``KeyError``).

    Returns
    -------
    tuple of (str, str)
        The folder relative to the source root and the file stem.

    Raises
    ------
    SpaVLError
        The config is unknown.
    """
    folder, stem = canonical_config(config).splits[split].rsplit("/", 1)
    return folder, stem.rstrip("*").rstrip("-")


def missing_shards(file_names: list[str]) -> list[str]:
    """Shard names implied by ``-NNNNN-of-MMMMM`` in ``file_names`` but absent from it.

    Parameters
    ----------
    file_names : list of str
        File names (no folders), e.g. ``["train-00000-of-00008.parquet", ...]``; names without
        the numbering are ignored.

    Returns
    -------
    list of str
        The missing shard names, sorted; empty when the numbering is complete.
    """
    present = set(file_names)
    missing: set[str] = set()
    for name in file_names:
        match = _SHARD_RE.match(name)
        if match:
            count = int(match["count"])
            missing |= {shard_name(match["stem"], i, count) for i in range(count)} - present
    return sorted(missing)


# ---------------------------------------------------------------------------------------------
# The card (README.md with YAML front matter)

_FRONT_MATTER = re.compile(r"\A---\s*\n(?P<yaml>.*?\n)---\s*\n?", re.DOTALL)


def read_card(path: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """``(yaml_metadata, body)`` of a card; an absent front matter gives ``({}, text)``.

    Parameters
    ----------
    path : str or os.PathLike
        The card file (``README.md``), read as UTF-8.

    Returns
    -------
    tuple of (dict, str)
        The YAML front matter as a dict and the Markdown body after it.

    Raises
    ------
    SpaVLError
        The file is not UTF-8 (e.g. saved as cp1252 by an editor), or the front matter does not
        parse as YAML.
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise SpaVLError(
            f"{path}: not UTF-8 (byte 0x{raw[e.start]:02x} at line {line}, byte {e.start}): save the card as UTF-8, "
            f"as the Hub stores it (e.g. `iconv -f cp1252 -t utf-8 README.md > README.utf8.md` and rename it)"
        ) from None
    return parse_card(text, str(path))


def parse_card(text: str, where: str) -> tuple[dict[str, Any], str]:
    """``(yaml_metadata, body)`` of a card's text; ``where`` names it in errors.

    Parameters
    ----------
    text : str
        The card's text: optional ``---`` YAML front matter, then Markdown.
    where : str
        What to call the card in an error (its path or hub file).

    Returns
    -------
    tuple of (dict, str)
        The front matter as a dict (``{}`` when absent or empty) and the body after it
        (``text`` itself when there is no front matter).

    Raises
    ------
    SpaVLError
        The front matter does not parse as YAML.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        metadata = yaml.safe_load(match["yaml"]) or {}
    except yaml.YAMLError as e:
        raise SpaVLError(f"{where}: the YAML front matter does not parse ({e.__class__.__name__}); fix or delete it") from e
    return metadata, text[match.end():]


def render_card(metadata: Mapping[str, Any], body: str) -> str:
    """A card's text from its metadata and Markdown body (deterministic key order).

    Parameters
    ----------
    metadata : mapping of str to object
        The YAML front matter, dumped in its own key order.
    body : str
        The Markdown after the front matter (a leading newline is added when it has none).

    Returns
    -------
    str
        A ``---`` line, the YAML, a ``---`` line, then the body; :func:`parse_card` reads it back.
    """
    front = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n{body if body.startswith(chr(10)) else chr(10) + body}"


def hub_card_configs() -> list[dict[str, Any]]:
    """The ``configs`` YAML block of the hub card: hub config names and their data_files.

    Returns
    -------
    list of dict
        One ``{"config_name": hub name, "data_files": [{"split": name, "path": pattern}, ...]}``
        per config, in :data:`CONFIGS` order.
    """
    return [
        {
            "config_name": layout.hub_name,
            "data_files": [{"split": split, "path": pattern} for split, pattern in layout.splits.items()],
        }
        for layout in CONFIGS.values()
    ]
