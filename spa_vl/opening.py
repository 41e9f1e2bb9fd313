"""``open_source``: what the public entry points call to turn a user's SOURCE into a :class:`Source`.

It is :func:`spa_vl.sources.resolve_source` plus the one thing the I/O layer must not do itself:
materialising the embedded sample. ``"sample"`` is generated on first use (see
:func:`spa_vl.sample.ensure_sample`) and then read like a mirror whose kind is ``"sample"``.
"""

from __future__ import annotations

import dataclasses
import os

from .sample import ensure_sample
from .sources import SAMPLE, Source, resolve_source


def open_source(
    source: str | os.PathLike | Source = SAMPLE,
    *,
    revision: str | None = None,
    allow_partial: bool | None = None,
    strict: bool | None = None,
) -> Source:
    """Resolve a SOURCE, generating the embedded sample first when it is ``"sample"``.

    Parameters
    ----------
    source : str, os.PathLike or Source, default "sample"
        ``"sample"``, a local mirror folder, or a hub id (``"sqrti/SPA-VL"``, ``"sqrti/SPA-VL@rev"``).
    revision : str, optional
        Hub sources: a branch, tag or commit sha, resolved to a commit once (ignored for the sample).
    allow_partial, strict : bool, optional
        The :class:`Source` flags (None keeps a Source's own).

    Returns
    -------
    Source
        Ready to read; a sample source has ``kind == "sample"`` and ``label == "sample"``.

    Raises
    ------
    SpaVLError
        The source cannot be resolved (see :func:`spa_vl.sources.resolve_source`).
    """
    if not isinstance(source, Source) and os.fspath(source) == SAMPLE:
        resolved = resolve_source(ensure_sample(), allow_partial=allow_partial, strict=strict)
        return dataclasses.replace(resolved, kind="sample", label=SAMPLE)
    return resolve_source(source, revision=revision, allow_partial=allow_partial, strict=strict)
