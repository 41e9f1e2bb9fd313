"""Question-difficulty splits: views by question type (easy / hardq / hards) and what is in them."""

from __future__ import annotations

import pandas as pd

from spa_vl.columns import TEXT_COLUMNS
from spa_vl.taxonomy import QUESTION_TYPE, QUESTION_TYPES, UNKNOWN

from .distributions import balance, crosstab, known_labels

TYPE_ORDER: tuple[str, ...] = (*QUESTION_TYPES, UNKNOWN)


def by_question_type(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of each question type present (``unknown`` included), in canonical order.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``question_type`` column.

    Returns
    -------
    dict of str to pandas.DataFrame
        Question type (``easy``, ``hardq``, ``hards``, ``unknown``) → its rows, all columns kept;
        only types with rows.
    """
    present = set(frame[QUESTION_TYPE])
    return {t: frame[frame[QUESTION_TYPE] == t] for t in TYPE_ORDER if t in present}


def question_type_sizes(frame: pd.DataFrame) -> pd.Series:
    """Rows per question type.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``question_type`` column.

    Returns
    -------
    pandas.Series of int
        Indexed by the question types present, in canonical order (``unknown`` last).
    """
    return frame[QUESTION_TYPE].value_counts().reindex([t for t in TYPE_ORDER if t in set(frame[QUESTION_TYPE])])


def category_mix_by_type(frame: pd.DataFrame, level: str = "class1") -> pd.DataFrame:
    """Share of each category within each question type (columns sum to 1); unknown labels left out.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``question_type`` column.
    level : str, default "class1"
        The taxonomy level (``class1``, ``class2``, ``class3``).

    Returns
    -------
    pandas.DataFrame of float, shape (labels, question types)
        Rows are the labels of ``level``, columns the question types present in canonical order.
    """
    mix = crosstab(known_labels(frame, level, QUESTION_TYPE), level, QUESTION_TYPE, normalize="columns")
    return mix.reindex(columns=[t for t in TYPE_ORDER if t in mix.columns])


def balance_by_type(frame: pd.DataFrame, level: str = "class1") -> pd.DataFrame:
    """Balance measures of one taxonomy level within each question type; unknown labels left out.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``question_type`` column.
    level : str, default "class1"
        The taxonomy level.

    Returns
    -------
    pandas.DataFrame, one row per question type present
        The columns of :class:`~spa_vl.analysis.metrics.distributions.Balance` (``rows``, ``categories``,
        ``entropy_bits``, ``normalized_entropy``, ``effective_number``, ``imbalance_ratio``).
    """
    return pd.DataFrame(
        {t: balance(rows[level].value_counts()).to_dict() for t, rows in by_question_type(known_labels(frame, level, QUESTION_TYPE)).items()}
    ).T


def text_length_stats(frame: pd.DataFrame, columns: tuple[str, ...] = TEXT_COLUMNS) -> pd.DataFrame:
    """Word-count statistics per question type and text column; missing (null) texts are skipped.

    A word is a whitespace-separated token. Returns a frame indexed by (question_type, column) with
    the count of texts present, mean, median, p90, max words, mean characters and the number of empty
    (blank) texts among them.

    Parameters
    ----------
    frame : pandas.DataFrame
        A labelled frame (:func:`spa_vl.analysis.inputs.frames.labelled_frame`) with a ``question_type`` column.
    columns : tuple of str, default ``("question", "chosen", "rejected")``
        Text columns to measure; those absent, or null in every row of a type, are skipped.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``question_type``, ``column``); columns ``count``, ``mean_words``,
        ``median_words``, ``p90_words``, ``max_words``, ``mean_chars``, ``empty``. Empty (with those
        columns) when nothing is measured.
    """
    rows = []
    for qtype, part in by_question_type(frame).items():
        for column in columns:
            if column not in part:
                continue
            text = part[column].dropna()  # rows without the column (eval has no answers) are missing, not empty
            if text.empty:
                continue
            words = text.str.split().str.len()
            rows.append(
                {
                    QUESTION_TYPE: qtype,
                    "column": column,
                    "count": int(len(text)),
                    "mean_words": float(words.mean()),
                    "median_words": float(words.median()),
                    "p90_words": float(words.quantile(0.9)),
                    "max_words": int(words.max()),
                    "mean_chars": float(text.str.len().mean()),
                    "empty": int((text.str.strip() == "").sum()),
                }
            )
    if not rows:
        return pd.DataFrame(columns=["count", "mean_words", "median_words", "p90_words", "max_words", "mean_chars", "empty"])
    return pd.DataFrame(rows).set_index([QUESTION_TYPE, "column"])
