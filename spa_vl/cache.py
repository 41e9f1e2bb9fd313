"""Where spa-vl caches things (the sample, parsed meta files, embeddings).

``$SPA_VL_CACHE`` if set, else ``~/.cache/spa-vl``. Every cache below it is keyed by the content it
depends on (file names, sizes and modification times, model identity, parameters), never by a path.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The cache folder: ``$SPA_VL_CACHE``, else ``~/.cache/spa-vl``.

    Returns
    -------
    pathlib.Path
        The folder, ``~`` expanded; it is not created here.
    """
    return Path(os.environ.get("SPA_VL_CACHE") or Path.home() / ".cache" / "spa-vl").expanduser()
