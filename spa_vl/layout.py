"""The hub's file layout: configs and their aliases, split file patterns, shard names, the card.

Canonical config names are ``train``, ``validation`` and ``eval``; the hub's ``default`` and
``test`` are accepted everywhere as aliases. Outputs always use the canonical names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

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
    """One config: its canonical name, its name on the hub, and a file pattern per split."""

    name: str
    hub_name: str
    splits: Mapping[str, str]

    @property
    def split_names(self) -> tuple[str, ...]:
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
    """The layout of a config given its canonical name or an alias."""
    layout = CONFIGS.get(CONFIG_ALIASES.get(name, name))
    if layout is None:
        aliases = ", ".join(f"{a} (= {c})" for a, c in CONFIG_ALIASES.items())
        raise SpaVLError(f"unknown config {name!r}: valid names are {', '.join(CONFIGS)}; aliases {aliases}")
    return layout


def resolve_split(config: str, split: str) -> str:
    """Check that ``split`` belongs to ``config`` and return it."""
    layout = canonical_config(config)
    if split not in layout.splits:
        raise SpaVLError(
            f"unknown split {split!r} for config {layout.name!r}: valid splits are {', '.join(layout.splits)}"
        )
    return split


def config_split_keys(configs: list[str] | None = None) -> list[tuple[str, str]]:
    """``(config, split)`` pairs in canonical order, for all or some configs."""
    names = [canonical_config(c).name for c in (configs or list(CONFIGS))]
    return [(c, s) for c in dict.fromkeys(names) for s in CONFIGS[c].splits]


def split_key(config: str, split: str) -> str:
    """The ``config/split`` key used by stats and reports (canonical names)."""
    return f"{canonical_config(config).name}/{split}"


def shard_name(stem: str, index: int, count: int) -> str:
    """The hub's shard file name, e.g. ``train-00003-of-00008.parquet``."""
    return f"{stem}-{index:05d}-of-{count:05d}.parquet"


def split_file_stem(config: str, split: str) -> tuple[str, str]:
    """``(folder, stem)`` of a split's shards, e.g. ``("data", "train")``, from its pattern."""
    folder, stem = canonical_config(config).splits[split].rsplit("/", 1)
    return folder, stem.rstrip("*").rstrip("-")


def missing_shards(file_names: list[str]) -> list[str]:
    """Shard names implied by ``-NNNNN-of-MMMMM`` in ``file_names`` but absent from it."""
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
    """``(yaml_metadata, body)`` of a card; an absent front matter gives ``({}, text)``."""
    return parse_card(Path(path).read_text(encoding="utf-8"), str(path))


def parse_card(text: str, where: str) -> tuple[dict[str, Any], str]:
    """``(yaml_metadata, body)`` of a card's text; ``where`` names it in errors."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        metadata = yaml.safe_load(match["yaml"]) or {}
    except yaml.YAMLError as e:
        raise SpaVLError(f"{where}: the YAML front matter does not parse ({e.__class__.__name__}); fix or delete it")
    return metadata, text[match.end():]


def render_card(metadata: Mapping[str, Any], body: str) -> str:
    """A card's text from its metadata and Markdown body (deterministic key order)."""
    front = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n{body if body.startswith(chr(10)) else chr(10) + body}"


def hub_card_configs() -> list[dict[str, Any]]:
    """The ``configs`` YAML block of the hub card: hub config names and their data_files."""
    return [
        {
            "config_name": layout.hub_name,
            "data_files": [{"split": split, "path": pattern} for split, pattern in layout.splits.items()],
        }
        for layout in CONFIGS.values()
    ]
