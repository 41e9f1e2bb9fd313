"""``--format llamafactory``: LLaMA-Factory's sharegpt preference format with images.

As its ``data/README.md`` documents ("Preference Dataset" and "Multimodal Image Dataset" of the
sharegpt format): a JSON list of ::

    {"conversations": [{"from": "human", "value": "<image>" + question}],
     "chosen": {"from": "gpt", "value": chosen}, "rejected": {"from": "gpt", "value": rejected},
     "images": ["../images/<class1>/<class2>/<class3>/<file>"], "row_id": ..., labels ...}

and ``dataset_info.json`` entries with ``"formatting": "sharegpt"``, ``"ranking": true`` and the
columns and tags mapped. One ``<image>`` per image. Image paths are relative to the dataset folder,
which LLaMA-Factory joins to ``media_dir`` (its default is ``dataset_dir``), so the folder works
wherever it is moved. Extra keys (``row_id``, labels) are dropped by its converter.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from spa_vl.atomic import make_subfolder
from spa_vl.errors import SpaVLError
from spa_vl.taxonomy import LABEL_COLUMNS, SpaVLWarning

from .base import IMAGES_DIR, SubsetContext, SubsetWriter, dumps_json, register

LLAMAFACTORY_DIR = "llamafactory"
DATASET_INFO = "dataset_info.json"
TRAIN_FILE = "train.json"
EVAL_FILE = "eval.json"
#: LLaMA-Factory's default image placeholder (``IMAGE_PLACEHOLDER``).
IMAGE_TOKEN = "<image>"
USER_TAG, ASSISTANT_TAG = "human", "gpt"
#: The texts every record needs: LLaMA-Factory cannot train on a turn without text.
TEXT_COLUMNS: tuple[str, ...] = ("question", "chosen", "rejected")


def dataset_names(subset_name: str) -> tuple[str, str]:
    """``dataset`` and ``eval_dataset`` names of a subset in its ``dataset_info.json``.

    Parameters
    ----------
    subset_name : str
        The subset's name (:attr:`Subset.name <spa_vl.analysis.subsets.sampling.Subset.name>`).

    Returns
    -------
    tuple of (str, str)
        ``spa_vl_<subset_name>`` and ``spa_vl_<subset_name>_eval``.
    """
    return f"spa_vl_{subset_name}", f"spa_vl_{subset_name}_eval"


def dataset_entry(file_name: str) -> dict[str, Any]:
    """One ``dataset_info.json`` entry for a file written by this writer.

    Parameters
    ----------
    file_name : str
        The JSON file, relative to the dataset folder (``train.json`` or ``eval.json``).

    Returns
    -------
    dict of str to object
        ``file_name``, ``"formatting": "sharegpt"``, ``"ranking": True``, and the ``columns`` and
        ``tags`` mappings of the records.
    """
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "images": "images"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": USER_TAG, "assistant_tag": ASSISTANT_TAG},
    }


@register
class LlamaFactoryWriter(SubsetWriter):
    """``llamafactory/`` with ``train.json``, ``eval.json`` and ``dataset_info.json``.

    Parameters
    ----------
    context : SubsetContext
        What the subset's writers share.
    """

    name = "llamafactory"
    description = "LLaMA-Factory sharegpt preference JSON with images + dataset_info.json (ranking: true)"
    needs_eval = True

    def __init__(self, context: SubsetContext):
        super().__init__(context)
        self.records: list[dict] = []
        self.skipped: list[str] = []  # row ids left out: a null question or response

    def _without_text(self, rows: pa.Table, *, eval_rows: bool) -> pa.Table:
        """``rows`` less those with a null question, chosen or rejected (an error when strict)."""
        missing = np.zeros(rows.num_rows, dtype=bool)
        for column in TEXT_COLUMNS:
            missing |= rows.column(column).is_null().to_numpy(zero_copy_only=False)
        if not missing.any():
            return rows
        bad = rows.filter(pa.array(missing)).select(["row_id", *TEXT_COLUMNS]).to_pylist()
        described = ", ".join(
            f"row {r['row_id']} ({' and '.join(c for c in TEXT_COLUMNS if r[c] is None)} null)" for r in bad[:5]
        ) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        where = f"{'eval rows' if eval_rows else 'subset ' + self.context.subset.name} for --format llamafactory"
        if self.context.strict:
            raise SpaVLError(f"{where}: {len(bad)} row(s) have no text where LLaMA-Factory needs it: {described}; fix those rows "
                             f"in the source, or drop --strict to leave them out of llamafactory/ (with a warning)")
        warnings.warn(f"{where}: left out {len(bad)} row(s) with no text where LLaMA-Factory needs it: {described} "
                      f"(the other formats keep them; --strict refuses them)", SpaVLWarning, stacklevel=4)
        self.skipped += [r["row_id"] for r in bad]
        return rows.filter(pa.array(~missing))

    def _records(self, rows: pa.Table, *, eval_rows: bool) -> list[dict]:
        rows = self._without_text(rows, eval_rows=eval_rows)
        images = self.context.images.paths(rows, eval_rows=eval_rows)
        columns = rows.select(["row_id", "question", "chosen", "rejected", *LABEL_COLUMNS]).to_pydict()
        prefix = f"../{IMAGES_DIR}/"
        return [
            {
                "conversations": [{"from": USER_TAG, "value": IMAGE_TOKEN + question}],
                "chosen": {"from": ASSISTANT_TAG, "value": chosen},
                "rejected": {"from": ASSISTANT_TAG, "value": rejected},
                "images": [prefix + image],
                "row_id": row_id,
                **{c: columns[c][i] for c in LABEL_COLUMNS},
            }
            for i, (row_id, question, chosen, rejected, image) in enumerate(
                zip(columns["row_id"], columns["question"], columns["chosen"], columns["rejected"], images)
            )
        ]

    def add(self, file_index: int, rows: pa.Table) -> None:
        """Store the rows' images and keep their sharegpt preference records.

        Parameters
        ----------
        file_index : int
            Index of the source shard in the train split's files.
        rows : pyarrow.Table, shape (k, ...)
            The subset's rows of that shard: a labelled view with ``row_id``.
        """
        self.records += self._records(rows, eval_rows=False)

    def finish(self, eval_rows: pa.Table | None) -> dict[str, Any]:
        """Write ``train.json``, ``eval.json`` (when there are eval rows) and ``dataset_info.json``.

        Parameters
        ----------
        eval_rows : pyarrow.Table or None
            Held-out rows for ``eval.json`` (not written, nor listed, when None or empty).

        Returns
        -------
        dict of str to object
            ``folder``, ``datasets`` (dataset name → file name), ``rows`` (``train``, ``eval``) and
            ``skipped_missing_text`` (rows left out for a null question or response: count, row ids).
        """
        folder = self.context.folder / LLAMAFACTORY_DIR
        make_subfolder(self.context.folder, LLAMAFACTORY_DIR)
        train_name, eval_name = dataset_names(self.context.subset.name)
        (folder / TRAIN_FILE).write_text(dumps_json(self.records), encoding="ascii")
        info = {train_name: dataset_entry(TRAIN_FILE)}
        evals = self._records(eval_rows, eval_rows=True) if eval_rows is not None else []
        if evals:
            (folder / EVAL_FILE).write_text(dumps_json(evals), encoding="ascii")
            info[eval_name] = dataset_entry(EVAL_FILE)
        (folder / DATASET_INFO).write_text(dumps_json(info), encoding="ascii")
        return {"folder": LLAMAFACTORY_DIR, "datasets": {name: info[name]["file_name"] for name in info},
                "rows": {"train": len(self.records), "eval": len(evals)},
                "skipped_missing_text": {"rows": len(self.skipped), "row_ids": self.skipped}}

    @classmethod
    def instructions(cls, location: Path, section: dict[str, Any]) -> str:
        """A LLaMA-Factory DPO config whose ``dataset_dir`` is ``<location>/llamafactory``.

        Parameters
        ----------
        location : Path
            The subset folder's absolute location.
        section : dict of str to object
            The format's manifest section (its ``datasets`` names the train and eval datasets).

        Returns
        -------
        str
            Markdown section ``## LLaMA-Factory (DPO, reward model)``.
        """
        names = list(section.get("datasets", {}))
        train = names[0] if names else "spa_vl_<subset>"
        # TrainingArguments' eval_strategy defaults to "no": without these lines eval_dataset is never evaluated
        evaluation = (f"do_eval: true\neval_dataset: {names[1]}\neval_strategy: steps\neval_steps: 100\n"
                      f"per_device_eval_batch_size: 1\n") if len(names) > 1 else ""
        folder = Path(location) / LLAMAFACTORY_DIR
        return f"""## LLaMA-Factory (DPO, reward model)

Save as `spa_vl_dpo.yaml` and run `llamafactory-cli train spa_vl_dpo.yaml` (for a reward model,
`stage: rm` and drop the `pref_*` lines). Images are found relative to `dataset_dir`.

```yaml
model_name_or_path: Qwen/Qwen2.5-VL-7B-Instruct
template: qwen2_vl
stage: dpo
do_train: true
finetuning_type: lora
lora_target: all
pref_beta: 0.1
pref_loss: sigmoid
dataset_dir: {json.dumps(str(folder))}
dataset: {train}
{evaluation}cutoff_len: 2048
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 5.0e-6
num_train_epochs: 1.0
bf16: true
output_dir: saves/spa-vl-dpo
```
"""
