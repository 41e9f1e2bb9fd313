"""``--format swift``: ms-swift's custom-dataset format for preference training (DPO, RM, ...).

ms-swift's "Custom Dataset" documentation: the standard keys are ``messages`` (required),
``rejected_response`` (for DPO and the other RLHF trainers) and ``images`` (paths), with one
``<image>`` tag in the content per image. One JSON object per line::

    {"messages": [{"role": "user", "content": "<image>" + question},
                  {"role": "assistant", "content": chosen}],
     "rejected_response": rejected, "images": ["images/<class1>/<class2>/<class3>/<file>"],
     "row_id": ..., "class1": ..., ...}

The files sit at the subset's top level (``swift_train.jsonl``, ``swift_val.jsonl``) so the
relative image paths name the same files whether ms-swift resolves them against the working
directory (``cd`` into the subset, as TRAIN.md does) or against the dataset file's folder.
Rows without a question, chosen or rejected text are left out (counted in the manifest).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from spa_vl.taxonomy import LABEL_COLUMNS

from .base import IMAGES_DIR, SubsetContext, SubsetWriter, register

TRAIN_FILE = "swift_train.jsonl"
VAL_FILE = "swift_val.jsonl"
#: ms-swift's image tag in message content.
IMAGE_TAG = "<image>"
TEXT_COLUMNS: tuple[str, ...] = ("question", "chosen", "rejected")


def swift_record(question: str, chosen: str, rejected: str, image: str, **extra: Any) -> dict[str, Any]:
    """One ms-swift preference record (messages, rejected_response, images, then ``extra`` keys).

    Parameters
    ----------
    question : str
        The user turn (the ``<image>`` tag is put before it).
    chosen : str
        The preferred answer (the assistant turn).
    rejected : str
        The rejected answer.
    image : str
        The image path, as ms-swift should open it.
    **extra
        Further keys (``row_id``, labels), which ms-swift's preprocessor leaves alone.

    Returns
    -------
    dict of str to object
    """
    return {
        "messages": [{"role": "user", "content": IMAGE_TAG + question}, {"role": "assistant", "content": chosen}],
        "rejected_response": rejected,
        "images": [image],
        **extra,
    }


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in records)


@register
class SwiftWriter(SubsetWriter):
    """ms-swift JSONL for ``swift rlhf --rlhf_type dpo`` (train and held-out val files).

    Parameters
    ----------
    context : SubsetContext
        What the subset's writers share.
    """

    name = "swift"
    description = "ms-swift custom-dataset JSONL (messages, rejected_response, images) for swift rlhf"
    needs_eval = True

    def __init__(self, context: SubsetContext):
        super().__init__(context)
        self.records: list[dict] = []
        self.skipped: list[str] = []

    def _records(self, rows: pa.Table, *, eval_rows: bool) -> list[dict]:
        missing = np.zeros(rows.num_rows, dtype=bool)
        for column in TEXT_COLUMNS:
            missing |= rows.column(column).is_null().to_numpy(zero_copy_only=False)
        if missing.any():
            self.skipped += rows.filter(pa.array(missing)).column("row_id").to_pylist()
            rows = rows.filter(pa.array(~missing))
        images = self.context.images.paths(rows, eval_rows=eval_rows)
        columns = rows.select(["row_id", *TEXT_COLUMNS, *LABEL_COLUMNS]).to_pydict()
        return [
            swift_record(columns["question"][i], columns["chosen"][i], columns["rejected"][i], f"{IMAGES_DIR}/{image}",
                         row_id=columns["row_id"][i], **{c: columns[c][i] for c in LABEL_COLUMNS})
            for i, image in enumerate(images)
        ]

    def add(self, file_index: int, rows: pa.Table) -> None:
        """Store the rows' images and keep their records.

        Parameters
        ----------
        file_index : int
            Index of the source shard in the train split's files.
        rows : pyarrow.Table, shape (k, ...)
            The subset's rows of that shard: a labelled view with ``row_id``.
        """
        self.records += self._records(rows, eval_rows=False)

    def finish(self, eval_rows: pa.Table | None) -> dict[str, Any]:
        """Write ``swift_train.jsonl`` and ``swift_val.jsonl`` (held-out rows; empty when None).

        Parameters
        ----------
        eval_rows : pyarrow.Table or None
            Held-out rows for the val file.

        Returns
        -------
        dict of str to object
            ``files`` (train, val), ``rows`` (train, val) and ``skipped_missing_text``.
        """
        evals = self._records(eval_rows, eval_rows=True) if eval_rows is not None else []
        (self.context.folder / TRAIN_FILE).write_text(_jsonl(self.records), encoding="ascii")
        (self.context.folder / VAL_FILE).write_text(_jsonl(evals), encoding="ascii")
        return {"files": {"train": TRAIN_FILE, "val": VAL_FILE}, "rows": {"train": len(self.records), "val": len(evals)},
                "skipped_missing_text": {"rows": len(self.skipped), "row_ids": self.skipped}}

    @classmethod
    def instructions(cls, location: Path, section: dict[str, Any]) -> str:
        """The ``swift rlhf`` DPO command, run from the subset folder, evaluating on the val file.

        Parameters
        ----------
        location : Path
            The subset folder's absolute location.
        section : dict of str to object
            The format's manifest section (its ``rows``).

        Returns
        -------
        str
            Markdown section ``## ms-swift (DPO)``.
        """
        import shlex

        rows = section.get("rows", {})
        return f"""## ms-swift (DPO)

{rows.get("train", 0)} train and {rows.get("val", 0)} held-out rows in ms-swift's custom-dataset format
(`messages` with `<image>`, `rejected_response`, `images`). Image paths are relative to this folder:

```bash
cd {shlex.quote(str(location))}
swift rlhf --rlhf_type dpo --model Qwen/Qwen2.5-VL-7B-Instruct --train_type lora \\
    --dataset {TRAIN_FILE} --val_dataset {VAL_FILE} --split_dataset_ratio 0 \\
    --eval_strategy steps --eval_steps 100 --output_dir output/spa-vl-dpo
```
"""
