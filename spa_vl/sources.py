"""Where SPA-VL comes from: the hub, a local mirror folder, or the embedded sample.

:func:`resolve_source` turns what a user typed into a :class:`Source`, failing with one clear
line when the folder is missing, is not in the hub layout, or the hub cannot be reached. A hub
source is pinned to one commit (:mod:`spa_vl.hub`): every file it lists, stamps or opens is that
commit's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import IO, Any

import fsspec

from .errors import SourceError, SpaVLError
from .hub import MIRROR_HINT, HubFile, HubRepo, resolve_repo
from .layout import CARD_FILE, CONFIGS, HUB_ID, META_DIR, parse_card, read_card

SAMPLE = "sample"
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[^\s@]+)?$")
_OFFLINE_HINT = MIRROR_HINT


@dataclass(frozen=True)
class Source:
    """A resolved SPA-VL source.

    Attributes
    ----------
    kind : str
        ``"sample"``, ``"mirror"`` or ``"hub"``.
    root : str
        Absolute folder for local sources; ``datasets/<owner>/<name>@<commit sha>`` for the hub.
    label : str
        What the user passed, used in messages.
    allow_partial : bool, default False
        Read a split even when some of its shards are missing (with a warning).
    strict : bool, default False
        Make label problems (new names, unparseable image paths) errors instead of warnings.
    revision : str or None, default None
        The commit sha every read of a hub source uses (None for local sources).
    repo : HubRepo or None, default None
        The pinned hub repository (files, sizes, card) of a hub source (None for local sources,
        including a hub id read offline from a ``snapshot_download`` folder).
    """

    kind: str
    root: str
    label: str
    allow_partial: bool = False
    strict: bool = False
    revision: str | None = None
    repo: HubRepo | None = field(default=None, compare=False, repr=False)

    @property
    def is_local(self) -> bool:
        """Whether the source is a folder on this machine (kind ``"sample"`` or ``"mirror"``)."""
        return self.kind != "hub"

    @property
    def description(self) -> str:
        """The label, with the commit sha for a hub source (what outputs record)."""
        return f"{self.label} @ {self.revision}" if self.revision else self.label

    @property
    def pinned_id(self) -> str | None:
        """``owner/name@sha`` of a hub source: resolving it again reads the same commit."""
        return f"{self.repo.repo_id}@{self.repo.sha}" if self.repo is not None else None

    @cached_property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem reading the source: local files, or ``HfFileSystem`` for the hub."""
        if self.is_local:
            return fsspec.filesystem("file")
        from huggingface_hub import HfFileSystem

        return HfFileSystem(endpoint=self.repo.endpoint if self.repo else None)

    def path(self, relative: str) -> str:
        """Full path of a file given relative to the source root.

        Parameters
        ----------
        relative : str
            A path relative to :attr:`root` (e.g. ``"data/train-00000-of-00008.parquet"``).

        Returns
        -------
        str
            ``<root>/<relative>``.
        """
        return f"{self.root}/{relative}"

    def relative(self, path: str) -> str:
        """Path relative to the source root.

        Parameters
        ----------
        path : str
            A full path (as :meth:`glob` returns).

        Returns
        -------
        str
            ``path`` without the ``<root>/`` prefix; ``path`` unchanged when it is not under the root.
        """
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    def glob(self, pattern: str) -> list[str]:
        """Files matching ``pattern`` (relative to the root), sorted by name.

        Hidden files (names starting with ``.``) are left out. A hub source matches against its
        commit's file list, without a request; ``*`` and ``?`` never cross a ``/``. Only
        ``pattern`` is a pattern: any character the filesystem allows in the root is literal.

        Parameters
        ----------
        pattern : str
            A glob relative to the root (e.g. ``"data/train-*"``).

        Returns
        -------
        list of str
            Full paths (see :meth:`path`), sorted.
        """
        if self.repo is not None:  # the commit's file list: no request
            match = _glob_regex(pattern).match
            return sorted(self.path(p) for p in self.repo.files if match(p) and not _is_hidden(p))
        # pathlib matches the pattern below the root only: a root holding `[`, `]`, `*` or `?`
        # (e.g. "brackets [v2]/SPA VL mirror") is a plain folder name, never a pattern (fsspec's
        # glob would read it as one and find nothing)
        root = Path(self.root)
        found = (self.path(p.relative_to(root).as_posix()) for p in root.glob(pattern))
        return sorted(p for p in found if not _is_hidden(p))

    def exists(self, relative: str) -> bool:
        """Whether a file exists in the source (a hub source: in its commit's file list).

        Parameters
        ----------
        relative : str
            A path relative to the root.

        Returns
        -------
        bool
            True when the file is there.
        """
        if self.repo is not None:
            return relative in self.repo.files
        return bool(self.fs.exists(self.path(relative)))

    def open(self, path: str, mode: str = "rb") -> IO[Any] | HubFile:
        """Open a full path (as returned by :meth:`glob`); a hub file is read with exact range requests.

        Parameters
        ----------
        path : str
            A full path in the source.
        mode : str, default "rb"
            The fsspec open mode; a pinned hub source always opens read-only binary.

        Returns
        -------
        file object
            A binary file (a :class:`~spa_vl.hub.HubFile` for a pinned hub source).
        """
        if self.repo is not None:
            return self.repo.open(self.relative(path))
        return self.fs.open(path, mode)

    def card_rows(self, hub_config: str, split: str) -> int | None:
        """Rows the source's card declares for a split (None when it does not say).

        Parameters
        ----------
        hub_config : str
            The config's name on the hub (``"default"``, ``"validation"`` or ``"test"``), as the
            card's ``dataset_info`` names it.
        split : str
            The split's name.

        Returns
        -------
        int or None
            The card's ``num_examples`` for that split.

        Raises
        ------
        SpaVLError
            The card's YAML front matter does not parse.
        """
        for info in self.card()[0].get("dataset_info") or []:
            if isinstance(info, dict) and info.get("config_name") == hub_config:
                for entry in info.get("splits") or []:
                    if entry.get("name") == split and "num_examples" in entry:
                        return int(entry["num_examples"])
        return None

    def card(self) -> tuple[dict[str, Any], str]:
        """The source's README YAML metadata and body (empty when there is no card).

        Returns
        -------
        tuple of (dict, str)
            ``(yaml_metadata, markdown_body)``; ``({}, "")`` without a card, ``({}, text)`` for a
            card without front matter.

        Raises
        ------
        SpaVLError
            The card's YAML front matter does not parse.
        """
        if self.repo is not None:
            return parse_card(self.repo.card, f"{self.repo.describe(CARD_FILE)}") if self.repo.card else ({}, "")
        card = Path(self.root, CARD_FILE)
        return read_card(card) if card.is_file() else ({}, "")

    def stamp(self, path: str) -> list:
        """``[relative path, size, modification or content id]``: what every content-keyed cache keys a file by.

        Parameters
        ----------
        path : str
            A full path in the source (as :meth:`glob` returns).

        Returns
        -------
        list
            ``[relative path (str), size in bytes (int), id (str)]``; the id is the content id
            (LFS sha256 or git blob id) for a pinned hub source, else the modification time or
            blob id the filesystem reports.
        """
        if self.repo is not None:
            relative = self.relative(path)
            size, content = self.repo.files[relative]
            return [relative, size, content]
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
    return PurePosixPath(path).name.startswith(".")


def _glob_regex(pattern: str) -> re.Pattern:
    """Glob semantics of fsspec on repo paths: ``*`` and ``?`` never cross a ``/``."""
    parts = ("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z")


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
    """Resolve a local mirror folder or a hub id such as ``"sqrti/SPA-VL"``.

    The embedded ``"sample"`` is not generated here (this is the I/O layer): entry points call
    :func:`spa_vl.opening.open_source`, which materialises it and then calls this.

    Parameters
    ----------
    source : str, os.PathLike or Source, default "sample"
        A string naming an existing folder (or starting with ``.``, ``/`` or ``~``) is a mirror;
        ``owner/name`` (optionally ``owner/name@revision``) otherwise is a hub id. A
        :class:`Source` is returned as it is (with the flags below applied). ``"sample"`` itself
        is refused (see above).
    revision : str, optional
        Hub sources: a branch, tag or commit sha (default: the default branch). It is resolved to
        a commit sha once, here; every later read of the returned source uses that commit.
    allow_partial, strict : bool, optional
        Set the :class:`Source` flags (None keeps a Source's own).

    Returns
    -------
    Source
        A mirror (``kind="mirror"``, ``root`` the absolute folder) or a hub source pinned to one
        commit (``kind="hub"``). Offline (``HF_HUB_OFFLINE=1``), a hub id resolves to the commit an
        earlier run read, or to a ``snapshot_download`` folder of the Hugging Face cache (read as
        a mirror).

    Raises
    ------
    SourceError
        ``source`` is ``"sample"``; the Hub cannot be reached or refuses the request
        (:class:`~spa_vl.hub.HubError`).
    SpaVLError
        The folder is missing, is a file, or is not in the hub layout; the revision is given twice
        with different values; the repo or revision does not exist; offline, the hub id was never
        read here (one line suggesting a mirror).
    """
    flags: dict[str, bool] = {k: v for k, v in (("allow_partial", allow_partial), ("strict", strict)) if v is not None}
    if isinstance(source, Source):
        return dataclasses.replace(source, **flags) if flags else source  # type: ignore[arg-type]  # only bool fields
    label = os.fspath(source)
    if label == SAMPLE:
        raise SourceError(
            "'sample' is generated on first use by the entry points: call spa_vl.opening.open_source('sample') "
            "(spa_vl.load_dataset, compute_stats and the analysis functions do) or pass the sample's folder"
        )
    path = Path(label).expanduser()
    if path.exists() or not _HUB_ID_RE.match(label) or label.startswith((".", "/", "~")):
        _check_mirror(path, label)
        return Source(kind="mirror", root=str(path.resolve()), label=label, **flags)  # type: ignore[arg-type]
    repo_id, _, at = label.partition("@")
    if revision and at and revision != at:
        raise SpaVLError(f"{label!r} names revision {at!r} but {{option}} is given too: give one of them", parameter="revision", value=revision)
    pinned = resolve_repo(repo_id, revision or at or None)
    if isinstance(pinned, Path):  # offline, from a snapshot_download in the Hugging Face cache
        _check_mirror(pinned, label)
        return Source(kind="mirror", root=str(pinned), label=label, **flags)  # type: ignore[arg-type]
    return Source(kind="hub", root=f"datasets/{repo_id}@{pinned.sha}", label=label, revision=pinned.sha, repo=pinned, **flags)
