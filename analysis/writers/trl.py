"""``--format trl``: TRL's conversational vision preference format, as a ``datasets`` folder.

The layout of TRL's own vision DPO datasets (``trl-lib/rlaif-v``): an ``images`` list column and
conversational ``prompt`` / ``chosen`` / ``rejected`` columns whose message content is a list of
``{"type", "text"}`` parts. The image placeholder ``{"type": "image"}`` opens the user turn, one
per image, which is where TRL's ``prepare_multimodal_messages`` fills images in::

    {"images": [<image>],
     "prompt":   [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}],
     "chosen":   [{"role": "assistant", "content": [{"type": "text", "text": chosen}]}],
     "rejected": [{"role": "assistant", "content": [{"type": "text", "text": rejected}]}]}

Beside them: ``row_id`` and the labels (ClassLabel). Splits ``train`` (the subset) and ``test``
(the held-out eval rows), so ``datasets.load_dataset("<subset>/trl")`` is all a trainer needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spa_vl.atomic import make_subfolder
from spa_vl.card import card_metadata, dataset_info_entry
from spa_vl.layout import CARD_FILE, render_card, shard_name
from spa_vl.taxonomy import LabelSpace

from .base import SubsetContext, SubsetWriter, encode_rows, present_features, register

TRL_DIR = "trl"
_PART = datasets.Features({"type": datasets.Value("string"), "text": datasets.Value("string")})
MESSAGES = datasets.List({"role": datasets.Value("string"), "content": datasets.List(dict(_PART))})


#: Source columns that TRL's own columns replace; every other typed column (``row_id``, labels,
#: response models when the source names them) is passed through.
REPLACED: tuple[str, ...] = ("image", "image_name", "question", "chosen", "rejected")


def trl_features(extra: datasets.Features) -> datasets.Features:
    """Features of a TRL export: ``images``, ``prompt``, ``chosen``, ``rejected``, then ``extra``.

    Parameters
    ----------
    extra : datasets.Features
        Typed features of the source columns; those TRL's columns replace (:data:`REPLACED`) are
        dropped, the others (``row_id``, labels, response models) kept in order.

    Returns
    -------
    datasets.Features
        ``images`` (list of Image), ``prompt``, ``chosen``, ``rejected`` (:data:`MESSAGES`), then
        the kept ``extra`` features.
    """
    features = datasets.Features(
        {"images": datasets.List(datasets.Image()), "prompt": MESSAGES, "chosen": MESSAGES, "rejected": MESSAGES}
    )
    features.update({name: feature for name, feature in extra.items() if name not in REPLACED})
    return features


def _messages(role: str, parts: pa.StructArray, parts_per_message: int, n: int) -> pa.ListArray:
    """``n`` one-message conversations: each message has ``parts_per_message`` consecutive parts."""
    content = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * parts_per_message), parts)
    message = pa.StructArray.from_arrays([pa.repeat(pa.scalar(role), n), content], names=["role", "content"])
    return pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), message)


def _text_parts(texts: pa.Array) -> pa.StructArray:
    return pa.StructArray.from_arrays([pa.repeat(pa.scalar("text"), len(texts)), texts.cast(pa.string())], names=["type", "text"])


def trl_table(rows: pa.Table, space: LabelSpace, features: datasets.Features) -> pa.Table:
    """``rows`` (a labelled view with ``row_id``) in TRL's vision preference layout (vectorised).

    Columns of ``features`` that ``rows`` lacks (eval rows without response models) are null.

    Parameters
    ----------
    rows : pyarrow.Table, shape (n, ...)
        A labelled view with ``row_id``, ``image``, ``question``, ``chosen``, ``rejected`` and the
        label columns (strings).
    space : LabelSpace
        Label names to encode the label columns against (ClassLabel ids, -1 unknown).
    features : datasets.Features
        The export's features (:func:`trl_features`): the output columns, in order.

    Returns
    -------
    pyarrow.Table, shape (n, len(features))
        One image per row in ``images``, one-message ``prompt`` (image placeholder then the
        question), ``chosen`` and ``rejected`` conversations, then the other ``features`` columns,
        cast to their Arrow schema.
    """
    n = rows.num_rows
    question = rows.column("question").combine_chunks()
    # user turn: [image placeholder, question] for every row, interleaved
    types = pa.array(["image", "text"] * n, pa.string())
    order = np.zeros(2 * n, dtype=np.int64)
    order[1::2] = np.arange(1, n + 1)  # even slots: the null text of the placeholder
    texts = pa.concat_arrays([pa.nulls(1, pa.string()), question.cast(pa.string())]).take(pa.array(order))
    columns = {
        "images": pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), rows.column("image").combine_chunks()),
        "prompt": _messages("user", pa.StructArray.from_arrays([types, texts], names=["type", "text"]), 2, n),
        "chosen": _messages("assistant", _text_parts(rows.column("chosen").combine_chunks()), 1, n),
        "rejected": _messages("assistant", _text_parts(rows.column("rejected").combine_chunks()), 1, n),
    }
    encoded = encode_rows(rows, space)
    schema = features.arrow_schema
    for name in schema.names:
        if name not in columns:
            columns[name] = encoded.column(name) if name in encoded.column_names else pa.nulls(n, schema.field(name).type)
    return pa.table([columns[name] for name in schema.names], names=schema.names).cast(schema)


@register
class TrlWriter(SubsetWriter):
    """A ``datasets`` folder ``trl/`` in TRL's vision preference format, train and test splits.

    Parameters
    ----------
    context : SubsetContext
        What the subset's writers share.
    """

    name = "trl"
    description = "TRL vision preference dataset (images + conversational prompt/chosen/rejected), train/test"
    needs_eval = True

    def __init__(self, context: SubsetContext):
        super().__init__(context)
        self.features: datasets.Features | None = None  # fixed by the first shard's columns
        self.files = sorted(context.rows["file"].unique().tolist())
        self.sizes = {"train": [0, 0]}

    def _write(self, split: str, table: pa.Table, index: int, count: int) -> None:
        target = self.context.folder / TRL_DIR / "data" / shard_name(split, index, count)
        make_subfolder(self.context.folder, f"{TRL_DIR}/data")
        pq.write_table(table, target, row_group_size=500, compression="snappy")
        size = self.sizes.setdefault(split, [0, 0])
        size[0] += table.num_rows
        size[1] += table.nbytes

    def add(self, file_index: int, rows: pa.Table) -> None:
        """Write the rows as ``trl/data/train-<i>-of-<m>.parquet`` in TRL's layout (:func:`trl_table`).

        Parameters
        ----------
        file_index : int
            Index of the source shard in the train split's files.
        rows : pyarrow.Table, shape (k, ...)
            The subset's rows of that shard: a labelled view with ``row_id``.
        """
        self.features = self.features or trl_features(present_features(self.context.features, rows.column_names))
        self._write("train", trl_table(rows, self.context.space, self.features), self.files.index(file_index), len(self.files))

    def finish(self, eval_rows: pa.Table | None) -> dict[str, Any]:
        """Write the ``test`` split from the eval rows and the ``trl/README.md`` card.

        Parameters
        ----------
        eval_rows : pyarrow.Table or None
            Held-out rows for the ``test`` split (none written when None or empty).

        Returns
        -------
        dict of str to object
            ``{"folder": "trl", "rows": {split: rows}}``.
        """
        splits = [{"split": "train", "path": "data/train-*"}]
        self.features = self.features or trl_features(self.context.features)
        if eval_rows is not None and eval_rows.num_rows:
            self._write("test", trl_table(eval_rows, self.context.space, self.features), 0, 1)
            splits.append({"split": "test", "path": "data/test-*"})
        configs = [{"config_name": "default", "data_files": splits}]
        infos = [dataset_info_entry("default", self.features, {s: (v[0], v[1]) for s, v in self.sizes.items()})]
        name = self.context.subset.name
        metadata = card_metadata(configs, infos, pretty_name=f"SPA-VL subset {name} (TRL)", tags=["trl", "dpo", "vision"])
        (self.context.folder / TRL_DIR / CARD_FILE).write_text(render_card(metadata, self._card_body()), encoding="utf-8")
        return {"folder": TRL_DIR, "rows": {s: v[0] for s, v in self.sizes.items()}}

    def _card_body(self) -> str:
        return (
            f"\n# SPA-VL subset `{self.context.subset.name}` for TRL\n\n"
            "TRL's conversational vision preference format: `images` (a list with one image), and `prompt`, "
            "`chosen`, `rejected` as conversations whose user turn starts with the image placeholder "
            "`{\"type\": \"image\"}`. Split `train` is the subset; `test` holds held-out rows (see `../manifest.json`). "
            "`row_id` is the content id; the label columns are ClassLabel.\n\n"
            "```python\nimport datasets\nds = datasets.load_dataset(\"path/to/this/folder\")  # train, test\n```\n"
        )

    @classmethod
    def instructions(cls, location: Path, section: dict[str, Any]) -> str:
        """A ``DPOTrainer`` snippet and a ``trl dpo`` command loading ``<location>/trl``.

        Parameters
        ----------
        location : Path
            The subset folder's absolute location.
        section : dict of str to object
            The format's manifest section (unused).

        Returns
        -------
        str
            Markdown section ``## TRL (DPO)``.
        """
        folder = Path(location) / TRL_DIR
        return f"""## TRL (DPO)

```python
import datasets
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import DPOConfig, DPOTrainer

ds = datasets.load_dataset({str(folder)!r})  # splits: train, test
model_id = "Qwen/Qwen2.5-VL-3B-Instruct"         # any vision-language model TRL supports
trainer = DPOTrainer(
    model=AutoModelForImageTextToText.from_pretrained(model_id),
    args=DPOConfig(output_dir="spa-vl-dpo", eval_strategy="steps", eval_steps=100),  # the default "no" never evaluates
    train_dataset=ds["train"], eval_dataset=ds["test"],
    processing_class=AutoProcessor.from_pretrained(model_id),
)
trainer.train()
```

or from the shell (evaluating on the `test` split every 100 steps):
`trl dpo --dataset_name {folder} --dataset_test_split test --eval_strategy steps --eval_steps 100 --model_name_or_path Qwen/Qwen2.5-VL-3B-Instruct --output_dir spa-vl-dpo`
"""
