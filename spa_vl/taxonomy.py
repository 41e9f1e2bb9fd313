"""The SPA-VL harm taxonomy and question types: the one place every label name comes from.

The reference names ship in ``spa_vl/data/taxonomy.json`` exactly as they appear in the data
(typos such as ``ToxicityHarms``, ``scamns``, ``disablity`` and the lower-case ``dangerous
information`` / ``false beliefs`` are the data's own). The tree is complete: 6 domains, 15
categories and 53 subcategories. (The paper's abstract and the dataset card say 13 categories;
the data has 15 distinct ``class2`` values.) Label ids follow ``label_order``: the 35
subcategories known before keep their ids and the 18 added since follow. A mirror may still hold
names beyond the reference: they are appended to the label set of that source, with a warning
(see :class:`LabelSpace`). The 12 response-model keys of ``meta_files/model_answer`` are a closed
label set (:data:`RESPONSE_MODELS`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc

from .columns import CHOSEN_MODEL, CLASS_LABEL_COLUMNS, LABEL_COLUMNS, LEVELS, MODEL_COLUMNS, QUESTION_TYPE, REJECTED_MODEL  # noqa: F401

#: Key used for rows whose label is unknown (in stats and reports).
UNKNOWN = "unknown"

# `<class1>/<class2>/<class3>/<file>` at the end of a path; anything before it (a `train/`
# prefix, say) is ignored. Backslashes are normalised to `/` before matching.
_IMAGE_PATH_PATTERN = r"(?:^|/)(?P<class1>[^/]+)/(?P<class2>[^/]+)/(?P<class3>[^/]+)/(?P<file>[^/]+)$"


class SpaVLWarning(UserWarning):
    """Warnings about the data: new label names, unmatched meta records, partial loads."""


@lru_cache(maxsize=1)
def _reference() -> dict:
    with resources.files("spa_vl").joinpath("data/taxonomy.json").open("r", encoding="utf-8") as f:
        return json.load(f)


def reference_tree() -> dict[str, dict[str, list[str]]]:
    """The taxonomy: ``{class1: {class2: [class3, ...]}}`` (6 / 15 / 53 names, the data's spellings).

    Returns
    -------
    dict of str to dict of str to list of str
        The shipped tree itself (cached; do not modify it).
    """
    return _reference()["known"]


def sizes_in_data() -> dict[str, int]:
    """Distinct names per level in the data: ``{"class1": 6, "class2": 15, "class3": 53}``.

    Returns
    -------
    dict of str to int
        A fresh dict, one count per level.
    """
    return dict(_reference()["sizes_in_data"])


def sizes_in_abstract() -> dict[str, int]:
    """Label counts per level as the paper's abstract and the card state them (6 / 13 / 53).

    Returns
    -------
    dict of str to int
        A fresh dict, one count per level.
    """
    return dict(_reference()["sizes_in_abstract"])


def reference_paths() -> list[tuple[str, str, str]]:
    """Every known ``(class1, class2, class3)`` triple, in reference order.

    Returns
    -------
    list of tuple of (str, str, str)
        One triple per subcategory (53).
    """
    return [(c1, c2, c3) for c1, cats in reference_tree().items() for c2, subs in cats.items() for c3 in subs]


def reference_names(level: str) -> list[str]:
    """Label names of one level (``class1``, ``class2`` or ``class3``) in id order.

    Parameters
    ----------
    level : str
        ``class1``, ``class2`` or ``class3``.

    Returns
    -------
    list of str
        Every name of that level; the names known before the taxonomy was completed come first,
        so their ClassLabel ids are stable.

    Raises
    ------
    ValueError
        If ``level`` is not a taxonomy level.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown taxonomy level {level!r}: expected one of {', '.join(LEVELS)}")
    return list(_reference()["label_order"][level])


def parent_of(level: str) -> dict[str, str]:
    """``{name: parent name}`` for ``class2`` (→ class1) or ``class3`` (→ class2) names.

    Parameters
    ----------
    level : str
        ``class2`` or ``class3``.

    Returns
    -------
    dict of str to str
        Each reference name of ``level`` mapped to its parent's name.

    Raises
    ------
    ValueError
        If ``level`` is ``class1`` (no parent) or not a taxonomy level.
    """
    position = LEVELS.index(level)
    if position == 0:
        raise ValueError("class1 names have no parent")
    return {path[position]: path[position - 1] for path in reference_paths()}


#: Question-type stems as they name the meta files, in canonical order.
QUESTION_TYPES: tuple[str, ...] = tuple(_reference()["question_types"])
#: Human titles of the question types ("easy question", ...).
QUESTION_TYPE_TITLES: Mapping[str, str] = dict(_reference()["question_types"])
#: Other spellings of question-type stems (the training code says ``hardd`` for ``hards``).
QUESTION_TYPE_ALIASES: Mapping[str, str] = dict(_reference()["question_type_aliases"])
#: The 12 response-model keys of ``meta_files/model_answer/*.json``, exactly as spelled there.
RESPONSE_MODELS: tuple[str, ...] = tuple(_reference()["response_models"])


def canonical_question_type(stem: str) -> str | None:
    """Map a meta-file stem or alias (``easy``, ``hardq``, ``hards``, ``hardd``) to its canonical stem.

    Parameters
    ----------
    stem : str
        A file stem or alias; surrounding whitespace and case are ignored.

    Returns
    -------
    str or None
        One of :data:`QUESTION_TYPES`, or ``None`` when ``stem`` is not a question type.
    """
    stem = stem.strip().lower()
    stem = QUESTION_TYPE_ALIASES.get(stem, stem)
    return stem if stem in QUESTION_TYPES else None


def parse_image_paths(image_names: pa.Array | pa.ChunkedArray) -> dict[str, pa.Array]:
    """Split ``<class1>/<class2>/<class3>/<file>`` paths into one string array per level.

    Vectorised over the whole column. Values that are not such a path (a bare file name, null)
    give null in every level: labels are never invented.

    Parameters
    ----------
    image_names : pyarrow.Array or pyarrow.ChunkedArray of string, shape (n,)
        Image paths; backslashes count as ``/``, and anything before the last four path parts is
        ignored.

    Returns
    -------
    dict of str to pyarrow.StringArray, each shape (n,)
        ``class1``, ``class2`` and ``class3``, null where the value is not such a path.
    """
    if isinstance(image_names, pa.ChunkedArray):
        image_names = image_names.combine_chunks()
    # Rows share images (one per question type), so parse each distinct path once and take.
    encoded = pc.dictionary_encode(image_names.cast(pa.string()))
    normalised = pc.replace_substring(encoded.dictionary, "\\", "/")
    parts = pc.extract_regex(normalised, _IMAGE_PATH_PATTERN)
    valid = parts.is_valid()
    return {level: pc.if_else(valid, parts.field(level), None).take(encoded.indices) for level in LEVELS}


@dataclass(frozen=True)
class LabelSpace:
    """The label names of one source, per labelled column, shared by all its configs.

    Ids follow list order, so a ClassLabel id means the same label in train, validation and eval.
    Build it with :meth:`from_observed`; ``new`` lists the names that are not in the reference.

    Attributes
    ----------
    names : Mapping of str to tuple of str
        The label names (in id order) of each ClassLabel column: ``class1..3``,
        ``question_type``, ``chosen_model`` and ``rejected_model``.
    new : Mapping of str to tuple of str
        Per taxonomy level, the names beyond the reference (appended at the end of ``names``).
    """

    names: Mapping[str, tuple[str, ...]]
    new: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def reference(cls) -> LabelSpace:
        """The reference names only (no data read).

        Returns
        -------
        LabelSpace
            Reference taxonomy names, the question types and the 12 response models; ``new`` empty.
        """
        names = {level: tuple(reference_names(level)) for level in LEVELS}
        names[QUESTION_TYPE] = QUESTION_TYPES
        names.update({column: RESPONSE_MODELS for column in MODEL_COLUMNS})
        return cls(names=names, new={})

    @classmethod
    def from_observed(cls, observed: Mapping[str, Iterable[str]], *, warn: bool = True) -> LabelSpace:
        """Reference names followed by the sorted new names seen in ``observed`` (per column).

        Question types and response models are closed sets: they come from file stems and the
        12 documented keys, never from free text.

        Parameters
        ----------
        observed : Mapping of str to iterable of str
            Names seen per taxonomy level (``class1..3``); other keys and ``None`` are ignored.
        warn : bool, default True
            Issue a :class:`SpaVLWarning` listing the new names, if there are any.

        Returns
        -------
        LabelSpace
            With ``new`` holding, per level, the names not in the reference.
        """
        base = cls.reference()
        names, new = dict(base.names), {}
        for level in LEVELS:
            known = set(names[level])
            extra = tuple(sorted({n for n in observed.get(level, ()) if n is not None and n not in known}))
            if extra:
                names[level] = names[level] + extra
                new[level] = extra
        space = cls(names=names, new=new)
        if warn and new:
            listed = "; ".join(f"{level}: {', '.join(map(repr, extra))}" for level, extra in new.items())
            warnings.warn(f"labels not in the reference taxonomy were found and appended to the label lists: {listed}", SpaVLWarning, stacklevel=2)
        return space

    def encode(self, column: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """String labels → int64 ids in this space; null or unlisted → -1.

        Parameters
        ----------
        column : str
            A key of :attr:`names` (e.g. ``class2``).
        values : pyarrow.Array or pyarrow.ChunkedArray of string, shape (n,)
            The labels.

        Returns
        -------
        pyarrow.Array or pyarrow.ChunkedArray of int64, shape (n,)
            The id of each label (chunked when ``values`` is).

        Raises
        ------
        KeyError
            If ``column`` is not a labelled column of this space.
        """
        ids = pc.index_in(values, value_set=pa.array(self.names[column], pa.string()))
        return pc.fill_null(ids.cast(pa.int64()), -1)
