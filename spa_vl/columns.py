"""Every column name spa-vl reads or writes, defined once (the bottom layer: imports nothing).

Hub columns are the Parquet files' own; label columns are what the loader derives from content
(never from row position); image_info columns are the optional fields of
``meta_files/image_info/meta.json`` that a labelled view can carry on request.
"""

from __future__ import annotations

#: The three taxonomy levels, as column names: domain, category, subcategory.
LEVELS: tuple[str, ...] = ("class1", "class2", "class3")
#: The derived column holding the question type (the ``split/*.json`` file an item is listed in).
QUESTION_TYPE = "question_type"
#: The taxonomy and question-type columns: what ``stats`` counts.
LABEL_COLUMNS: tuple[str, ...] = (*LEVELS, QUESTION_TYPE)
#: Which of the 12 response models wrote the chosen / the rejected answer.
CHOSEN_MODEL = "chosen_model"
REJECTED_MODEL = "rejected_model"
MODEL_COLUMNS: tuple[str, ...] = (CHOSEN_MODEL, REJECTED_MODEL)
#: Every column typed as ClassLabel by the loader, in output order.
CLASS_LABEL_COLUMNS: tuple[str, ...] = (*LABEL_COLUMNS, *MODEL_COLUMNS)

IMAGE = "image"
IMAGE_NAME = "image_name"
QUESTION = "question"
CHOSEN = "chosen"
REJECTED = "rejected"
#: The ``config/split`` key column of labelled frames (``train/train``, ``eval/harm``...).
SPLIT = "split"
#: Text columns we analyse, where a config has them.
TEXT_COLUMNS: tuple[str, ...] = (QUESTION, CHOSEN, REJECTED)
#: The text fields a row and a ``split/*.json`` record are matched on (those both sides have).
MATCH_FIELDS: tuple[str, ...] = TEXT_COLUMNS

#: Optional per-image fields of ``meta_files/image_info/meta.json`` (the card's list), with the
#: Arrow type each is read as. ``image`` (the train ``image_name``) and ``class1..3`` are the join
#: key and the labels; these are offered as extra columns on request.
IMAGE_INFO_FIELDS: dict[str, str] = {
    "width": "int64",
    "height": "int64",
    "text_similarity": "float64",
    "text_count": "int64",
    "url": "string",
    "md5": "string",
    "caption_laion": "string",
    "gemini_caption": "string",
}
#: GPT-4V's two reasons for its preference, from ``meta_files/prefer/*.json`` (optional columns).
PREFER_FIELDS: tuple[str, ...] = ("reason1", "reason2")
