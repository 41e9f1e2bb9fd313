"""Where SPA-VL comes from: the hub, a local mirror folder, or the embedded sample.

:func:`resolve_source` turns what a user typed into a :class:`Source`, failing with one clear
line when the folder is missing, is not in the hub layout, or the hub cannot be reached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any

import fsspec

from .errors import SpaVLError
from .layout import CARD_FILE, CONFIGS, HUB_ID, META_DIR, read_card

SAMPLE = "sample"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_OFFLINE_HINT = "use a local mirror folder (e.g. source='/data/SPA-VL') or source='sample'"


@dataclass(frozen=True)
class Source:
    """A resolved SPA-VL source.

    Attributes
    ----------
    kind : ``"sample"``, ``"mirror"`` or ``"hub"``.
    root : absolute folder for local sources; ``datasets/<owner>/<name>[@rev]`` for the hub.
    label : what the user passed, used in messages.
    allow_partial : read a split even when some of its shards are missing (with a warning).
    strict : make label problems (new names, unparseable image paths) errors instead of warnings.
    """

    kind: str
    root: str
    label: str
    allow_partial: bool = False
    strict: bool = False

    @property
    def is_local(self) -> bool:
        return self.kind != "hub"

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        if self.is_local:
            return fsspec.filesystem("file")
        from huggingface_hub import HfFileSystem

        return HfFileSystem()

    def path(self, relative: str) -> str:
        """Full path of a file given relative to the source root."""
        return f"{self.root}/{relative}"

    def relative(self, path: str) -> str:
        """Path relative to the source root."""
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    def glob(self, pattern: str) -> list[str]:
        """Files matching ``pattern`` (relative to the root), sorted by name."""
        try:
            found = self.fs.glob(self.path(pattern))
        except Exception as e:  # network errors surface here for hub sources
            raise _hub_error(self, e) if not self.is_local else e
        return sorted(p if self.is_local else str(p) for p in found if not _is_hidden(p))

    def exists(self, relative: str) -> bool:
        return bool(self.fs.exists(self.path(relative)))

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        """Open a full path (as returned by :meth:`glob`)."""
        return self.fs.open(path, mode)

    def card_rows(self, hub_config: str, split: str) -> int | None:
        """Rows the source's card declares for a split (None when it does not say)."""
        for info in self.card()[0].get("dataset_info") or []:
            if isinstance(info, dict) and info.get("config_name") == hub_config:
                for entry in info.get("splits") or []:
                    if entry.get("name") == split and "num_examples" in entry:
                        return int(entry["num_examples"])
        return None

    def card(self) -> tuple[dict[str, Any], str]:
        """The source's README YAML metadata and body (empty when there is no card)."""
        if not self.is_local:
            return {}, ""
        card = Path(self.root, CARD_FILE)
        return read_card(card) if card.is_file() else ({}, "")

    def stamp(self, path: str) -> list:
        """``[relative path, size, modification or blob id]``: what every content-keyed cache keys a file by."""
        info = self.fs.info(path)
        changed = info.get("mtime") or info.get("blob_id") or info.get("lfs") or info.get("last_commit")
        return [self.relative(path), info.get("size"), str(changed)]

    @cached_property
    def fingerprint(self) -> str:
        """A hash of every data and meta file's name, size and modification (or blob) id.

        Caches are keyed by it, so a mirror that changes in place is never served stale.
        """
        entries = []
        for pattern in [*(p for c in CONFIGS.values() for p in c.splits.values()), f"{META_DIR}/*/*.json"]:
            entries += [self.stamp(path) for path in self.glob(pattern)]
        digest = hashlib.sha256(json.dumps([self.kind, sorted(entries)]).encode()).hexdigest()
        return digest[:16]


def _is_hidden(path: str) -> bool:
    return Path(path).name.startswith(".")


def _hub_error(source: Source, error: BaseException) -> SpaVLError:
    return SpaVLError(
        f"cannot reach the Hugging Face Hub for {source.label!r} ({error.__class__.__name__}): {_OFFLINE_HINT}"
    )


def _hub_offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "")
    return bool(constants.HF_HUB_OFFLINE) or flag.strip().lower() in {"1", "true", "yes", "on"}


def _check_mirror(path: Path, label: str) -> None:
    if not path.exists():
        raise SpaVLError(
            f"source folder {label!r} does not exist: pass a local mirror of {HUB_ID} "
            f"(README.md and data/train-*.parquet shards), the hub id {HUB_ID!r}, or 'sample'"
        )
    if not path.is_dir():
        raise SpaVLError(f"source {label!r} is a file, not a folder: pass the mirror's top folder")
    metadata = read_card(path / CARD_FILE)[0] if (path / CARD_FILE).is_file() else {}
    has_shards = any(any(path.glob(p)) for c in CONFIGS.values() for p in c.splits.values())
    if not has_shards and not metadata.get("configs"):
        raise SpaVLError(
            f"{label!r} is not in the SPA-VL hub layout: expected README.md with `configs` or Parquet "
            "shards such as data/train-00000-of-00008.parquet, validation/validation-*.parquet, test/harm-*.parquet"
        )


def resolve_source(
    source: str | os.PathLike | Source = SAMPLE,
    *,
    revision: str | None = None,
    allow_partial: bool | None = None,
    strict: bool | None = None,
) -> Source:
    """Resolve ``"sample"``, a local mirror folder, or a hub id such as ``"sqrti/SPA-VL"``.

    A string naming an existing folder is a mirror; ``owner/name`` otherwise is a hub id.
    Offline (``HF_HUB_OFFLINE=1`` or no network) a hub id fails with one line suggesting a mirror.
    ``allow_partial`` and ``strict`` set the :class:`Source` flags (None keeps a Source's own).
    """
    flags = {k: v for k, v in (("allow_partial", allow_partial), ("strict", strict)) if v is not None}
    if isinstance(source, Source):
        return dataclasses.replace(source, **flags) if flags else source
    label = os.fspath(source)
    if label == SAMPLE:
        from .sample import ensure_sample

        return Source(kind="sample", root=str(ensure_sample()), label=label, **flags)
    path = Path(label).expanduser()
    if path.exists() or not _HUB_ID_RE.match(label) or label.startswith((".", "/", "~")):
        _check_mirror(path, label)
        return Source(kind="mirror", root=str(path.resolve()), label=label, **flags)
    hub = Source(kind="hub", root=f"datasets/{label}" + (f"@{revision}" if revision else ""), label=label, **flags)
    if _hub_offline():
        raise SpaVLError(f"the Hugging Face Hub is offline (HF_HUB_OFFLINE) so {label!r} cannot be read: {_OFFLINE_HINT}")
    try:
        hub.fs.ls(hub.root, detail=False)
    except FileNotFoundError:
        raise SpaVLError(f"no dataset {label!r} on the Hugging Face Hub: check the id (e.g. {HUB_ID!r})")
    except Exception as e:
        raise _hub_error(hub, e) from e
    return hub
