"""spa-vl: the loading script and analysis toolkit for SPA-VL (``sqrti/SPA-VL``).

    >>> import spa_vl
    >>> ds = spa_vl.load_dataset("sample", "validation", split="validation")
    >>> ds.features["class1"].names[:2]
    ['Malicious Use', 'Representation & ToxicityHarms']

``datasets`` is imported only when a loader is first used, so ``spa-vl stats`` and other
column-only paths stay light (pyarrow only).
"""

from importlib import import_module
from typing import Any

from ._version import __version__ as __version__
from .errors import SpaVLError
from .layout import CONFIGS, HUB_ID
from .taxonomy import LABEL_COLUMNS, LEVELS, QUESTION_TYPES, LabelSpace, SpaVLWarning

_LAZY = {
    "load_dataset": "loading",
    "load_builder": "loading",
    "SpaVL": "builder",
    "SpaVLConfig": "builder",
    "Source": "sources",
    "resolve_source": "sources",
    "open_source": "opening",
    "compute_stats": "stats",
    "diagnose": "doctor",
}


def __getattr__(name: str) -> Any:
    """Import a lazily exported name (``load_dataset``, ``SpaVL``, ...) from its module on first use.

    Parameters
    ----------
    name : str
        The attribute asked for.

    Returns
    -------
    object
        The function or class of that name in its submodule.

    Raises
    ------
    AttributeError
        ``name`` is not a lazy export.
    """
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'spa_vl' has no attribute {name!r}")


__all__ = [
    "CONFIGS",
    "HUB_ID",
    "LABEL_COLUMNS",
    "LEVELS",
    "QUESTION_TYPES",
    "LabelSpace",
    "Source",
    "SpaVL",
    "SpaVLConfig",
    "SpaVLError",
    "SpaVLWarning",
    "compute_stats",
    "diagnose",
    "load_builder",
    "load_dataset",
    "open_source",
    "resolve_source",
]
