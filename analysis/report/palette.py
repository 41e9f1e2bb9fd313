"""One colour per label, the same in every figure: static (matplotlib) and interactive (the explorer).

A label's colour depends on the label alone, never on which other labels a figure shows or in what
order: the 6 reference domains, the 3 question types and the 12 response models have fixed colours,
``"unknown"`` is grey, and any other name (a new domain, a category) gets a colour from its own
sha256, so it too is stable across figures and runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from spa_vl.taxonomy import QUESTION_TYPES, RESPONSE_MODELS, UNKNOWN, reference_names

UNKNOWN_COLOUR = "#9e9e9e"
# Tableau 10 for the domains (grey left out: it is "unknown"), then a colour-blind friendly set.
_DOMAIN_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
_TYPE_COLOURS = ("#0072b2", "#e69f00", "#009e73")
_MODEL_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939", "#ad494a",
)
_EXTRA_COLOURS = ("#6b6ecf", "#b5cf6b", "#e7ba52", "#d6616b", "#ce6dbd", "#3182bd", "#31a354", "#756bb1", "#636363", "#e6550d")


def _fixed() -> dict[str, str]:
    fixed = {name: _DOMAIN_COLOURS[i % len(_DOMAIN_COLOURS)] for i, name in enumerate(reference_names("class1"))}
    fixed.update({name: _TYPE_COLOURS[i] for i, name in enumerate(QUESTION_TYPES)})
    fixed.update({name: _MODEL_COLOURS[i] for i, name in enumerate(RESPONSE_MODELS)})
    fixed[UNKNOWN] = UNKNOWN_COLOUR
    return fixed


_FIXED = _fixed()


def colour(label: object) -> str:
    """The colour of one label, as ``#rrggbb``; depends on the label only.

    Parameters
    ----------
    label : object
        A label; compared as ``str(label)``.

    Returns
    -------
    str
        The fixed colour of a reference domain, question type, response model or ``"unknown"``;
        for any other name one of a set of extra colours, chosen by the name's sha256.
    """
    name = str(label)
    if name in _FIXED:
        return _FIXED[name]
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return _EXTRA_COLOURS[digest[0] % len(_EXTRA_COLOURS)]


def colours(labels: Iterable[object]) -> dict[str, str]:
    """``{label: "#rrggbb"}`` for every distinct label, in first-seen order (see :func:`colour`).

    Parameters
    ----------
    labels : iterable of object
        Labels, repeats allowed.

    Returns
    -------
    dict of str to str
        ``str(label)`` → its colour.
    """
    return {str(label): colour(label) for label in dict.fromkeys(labels)}
