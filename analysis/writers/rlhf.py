r"""``--format rlhf``: the JSON the official SPA-VL-RLHF code (EchoseChen/SPA-VL-RLHF) reads as written.

What its code needs, and what this writer does about it:

* ``--config_train_path`` maps ``hardq``/``hardd``/``easy`` to JSON files that ``load_data`` opens
  exactly as written (relative to the working directory): the config holds absolute paths, which
  the manifest records and ``spa-vl ablate --relocate`` rewrites after a move;
* DPO and PPO turn ``id`` into ``torch.tensor(id, dtype=torch.long)``: ``id`` is an integer in
  int64 derived from the row's content id (kept as ``row_id``);
* the reward model always builds an eval set from ``--config_test_path`` (same keys), and
  ``infer_json.py`` reads a list of ``{id, image, question}``: ``config_test.json`` and
  ``eval.json`` come from held-out rows (the validation config by default), never subset rows;
* DPO and PPO print 3 examples, so fewer than 3 rows are refused;
* JSON is ASCII (``\uXXXX`` escapes), so ``open()`` in any locale reads it.

Files: ``rlhf/{hardq,hardd,easy}.json``, ``rlhf/test/{hardq,hardd,easy}.json``, ``rlhf/eval.json``,
``rlhf/config_train.json``, ``rlhf/config_test.json``; images under the subset's ``images/``
(``--image_folder``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from spa_vl.atomic import make_subfolder
from spa_vl.errors import SpaVLError
from spa_vl.taxonomy import QUESTION_TYPE, QUESTION_TYPE_ALIASES, QUESTION_TYPES

from ..subsets.recipes import RECIPE_CONTROLS
from ..subsets.sampling import Subset
from .base import IMAGES_DIR, SubsetContext, SubsetWriter, dumps_json, register, training_ids

RLHF_DIR = "rlhf"
TEST_DIR = "test"
#: The training code's names: its config calls hard statements ``hardd``.
RLHF_KEY = {qtype: next((a for a, c in QUESTION_TYPE_ALIASES.items() if c == qtype), qtype) for qtype in QUESTION_TYPES}
#: Key order of the official ``data/config_train.json``.
KEY_ORDER: tuple[str, ...] = ("hardq", "hardd", "easy")
#: DPO and PPO print their first 3 training examples; infer_json.py its first 3 eval items.
MIN_ROWS = 3
EVAL_LIST = "eval.json"


def _keys() -> list[str]:
    present = set(RLHF_KEY.values())
    return [k for k in KEY_ORDER if k in present] + sorted(present - set(KEY_ORDER))


def known_type_rows(rows: pd.DataFrame) -> int:
    """Rows with a known question type (the only ones the training code can take).

    Parameters
    ----------
    rows : pandas.DataFrame, shape (n, ...)
        A subset's pool rows (:meth:`spa_vl.analysis.subsets.sampling.Subset.rows_in`).

    Returns
    -------
    int
    """
    return int(rows[QUESTION_TYPE].isin(QUESTION_TYPES).sum())


@register
class RlhfWriter(SubsetWriter):
    """SPA-VL-RLHF lists of ``{id, image, question, chosen, rejected, row_id}`` per question type.

    Parameters
    ----------
    context : SubsetContext
        What the subset's writers share.
    """

    name = "rlhf"
    description = "SPA-VL-RLHF JSON (config_train.json, config_test.json, eval.json, TRAIN.md)"
    needs_eval = True

    def __init__(self, context: SubsetContext):
        super().__init__(context)
        self.records: dict[str, list[dict]] = {t: [] for t in QUESTION_TYPES}
        self.skipped = 0

    @classmethod
    def check(cls, subset: Subset, rows: pd.DataFrame) -> None:
        """Refuse a subset with fewer than :data:`MIN_ROWS` rows of a known question type.

        Parameters
        ----------
        subset : Subset
            The subset (its name for the message).
        rows : pandas.DataFrame, shape (n, ...)
            The subset's pool rows, with ``question_type``.

        Raises
        ------
        SpaVLError
            If fewer than :data:`MIN_ROWS` rows have a known question type.
        """
        n = known_type_rows(rows)
        if n < MIN_ROWS:
            raise SpaVLError(
                f"subset {subset.name}: {n} row(s) with a known question type, but the SPA-VL-RLHF format needs at least "
                f"{MIN_ROWS} (its DPO/PPO scripts print 3 examples): use a larger size, or leave rlhf out of --format"
            )

    def add(self, file_index: int, rows: pa.Table) -> None:
        """Store the rows' images and keep their records by question type (unknown types skipped).

        Parameters
        ----------
        file_index : int
            Index of the source shard in the train split's files.
        rows : pyarrow.Table, shape (k, ...)
            The subset's rows of that shard: a labelled view with ``row_id``.
        """
        self.skipped += self._collect(rows, self.records, eval_rows=False)

    def _collect(self, rows: pa.Table, into: dict[str, list[dict]], *, eval_rows: bool) -> int:
        """Append ``rows`` as records to ``into`` by question type; returns the rows left out."""
        images = self.context.images.paths(rows, eval_rows=eval_rows)
        columns = rows.select(["row_id", "question", "chosen", "rejected", QUESTION_TYPE]).to_pydict()
        ids = training_ids(columns["row_id"]).tolist()
        skipped = 0
        for i, qtype in enumerate(columns[QUESTION_TYPE]):
            if qtype not in into:
                skipped += 1  # the training code has no file for an unknown question type
                continue
            into[qtype].append(
                {
                    "id": ids[i],
                    "image": images[i],
                    "question": columns["question"][i],
                    "chosen": columns["chosen"][i],
                    "rejected": columns["rejected"][i],
                    "row_id": columns["row_id"][i],
                }
            )
        return skipped

    def finish(self, eval_rows: pa.Table | None) -> dict[str, Any]:
        """Write the train and test lists per question type and ``eval.json``.

        The configs naming them are :meth:`located_files`.

        Parameters
        ----------
        eval_rows : pyarrow.Table or None
            Held-out rows for ``test/*.json`` and ``eval.json`` (both empty lists when None).

        Returns
        -------
        dict of str to object
            ``folder``, ``image_folder``, ``rows`` and ``eval_rows`` (training key → records),
            ``skipped_unknown_question_type`` and a note on ``id``.
        """
        folder = self.context.folder / RLHF_DIR
        make_subfolder(self.context.folder, f"{RLHF_DIR}/{TEST_DIR}")
        tests: dict[str, list[dict]] = {t: [] for t in QUESTION_TYPES}
        if eval_rows is not None:
            self._collect(eval_rows, tests, eval_rows=True)
        for qtype in QUESTION_TYPES:
            name = f"{RLHF_KEY[qtype]}.json"
            (folder / name).write_text(dumps_json(self.records[qtype]), encoding="ascii")
            (folder / TEST_DIR / name).write_text(dumps_json(tests[qtype]), encoding="ascii")
        infer = [{"id": r["id"], "image": r["image"], "question": r["question"], "row_id": r["row_id"]} for t in QUESTION_TYPES for r in tests[t]]
        (folder / EVAL_LIST).write_text(dumps_json(infer), encoding="ascii")
        return {
            "folder": RLHF_DIR,
            "image_folder": IMAGES_DIR,
            "rows": {RLHF_KEY[t]: len(self.records[t]) for t in QUESTION_TYPES},
            "eval_rows": {RLHF_KEY[t]: len(tests[t]) for t in QUESTION_TYPES},
            "skipped_unknown_question_type": self.skipped,
            "id": "int64: a keyed 64-bit hash of row_id with the top bit cleared (0 <= id < 2**63)",
            "controls": _controls(self.context.subset),
        }

    @classmethod
    def located_files(cls, location: Path, section: dict[str, Any]) -> dict[str, str]:
        """``config_train.json`` and ``config_test.json``: training key → absolute JSON path.

        Parameters
        ----------
        location : Path
            The subset folder's absolute location.
        section : dict of str to object
            The format's manifest section (unused).

        Returns
        -------
        dict of str to str
            ``rlhf/config_train.json`` and ``rlhf/config_test.json`` → their JSON text.
        """
        root = Path(location) / RLHF_DIR
        train = {k: str(root / f"{k}.json") for k in _keys()}
        test = {k: str(root / TEST_DIR / f"{k}.json") for k in _keys()}
        return {f"{RLHF_DIR}/config_train.json": dumps_json(train), f"{RLHF_DIR}/config_test.json": dumps_json(test)}

    @classmethod
    def instructions(cls, location: Path, section: dict[str, Any]) -> str:
        """The DPO, reward-model, PPO and inference commands of SPA-VL-RLHF, with absolute paths.

        Parameters
        ----------
        location : Path
            The subset folder's absolute location.
        section : dict of str to object
            The format's manifest section (its ``rows`` per key are shown).

        Returns
        -------
        str
            Markdown section ``## SPA-VL-RLHF (EchoseChen/SPA-VL-RLHF)``.
        """
        location = Path(location)
        train = location / RLHF_DIR / "config_train.json"
        test = location / RLHF_DIR / "config_test.json"
        images = location / IMAGES_DIR
        keywords = " ".join(_keys())
        rows = ", ".join(f"{k} {n}" for k, n in section.get("rows", {}).items())
        common = (
            f"    --keywords {keywords} \\\n"
            f"    --image_folder {_shell(images)} \\\n"
        )
        controls = section.get("controls")
        controls = f"What this subset controls: {controls}\n\n" if controls else ""
        return f"""## SPA-VL-RLHF (EchoseChen/SPA-VL-RLHF)

{controls}Rows per keyword: {rows}. Run the commands from the root of your SPA-VL-RLHF clone, as its
`scripts/*.sh` do; the paths below are absolute, so any working directory works for the data.
Pass all three keywords (DPO's default is `easy` only) and the image folder. The other flags
(model paths, batch size, learning rate ...) are those of the repository's scripts.

DPO (`scripts/train_dpo_model_ds.sh`):

```bash
accelerate launch --config_file ./scripts/config.yaml ./train_dpo.py --do_train \\
    --config_train_path {_shell(train)} \\
{common}    --policy_model_name_or_path XXX/models/llava-v1.5-7b --vision_tower XXX/clip-vit-large-patch14-336 \\
    --output_dir ./results/dpo
```

Reward model (`scripts/train_reward_model.sh`; it always evaluates on `--config_test_path`):

```bash
torchrun --standalone --nnodes=1 --nproc-per-node=8 ./train_rm.py --do_train --do_eval \\
    --config_train_path {_shell(train)} \\
    --config_test_path {_shell(test)} \\
{common}    --model_name_or_path XXX/models/llava-v1.5-7b --vision_tower XXX/clip-vit-large-patch14-336 \\
    --output_dir ./results/rm
```

PPO (`scripts/train_ppo_model_ds.sh`, with the reward model above):

```bash
accelerate launch --config_file ./scripts/config.yaml ./train_ppo.py --do_train \\
    --config_train_path {_shell(train)} \\
{common}    --base_model_name XXX/models/llava-v1.5-7b --policy_model_name_or_path XXX/models/llava-v1.5-7b \\
    --reward_model_name_or_path ./results/rm/XXX --vision_tower XXX/clip-vit-large-patch14-336 \\
    --output_dir ./results/ppo
```

Answers on the held-out list (`scripts/infer_json.sh`):

```bash
torchrun --standalone --nnodes=1 --nproc-per-node=8 ./infer_json.py \\
    --dataset_path {_shell(location / RLHF_DIR / EVAL_LIST)} \\
    --image_folder {_shell(images)} \\
    --model_name_or_path XXX --vision_tower XXX/clip-vit-large-patch14-336 --output_dir ./results/eval
```

`id` is an integer (int64) for `torch.tensor(id, dtype=torch.long)`; `row_id` is the content id
of `manifest.json`. After moving this folder run `spa-vl ablate --relocate <folder>`.
"""


def _controls(subset: Subset) -> str:
    """One line for TRAIN.md: what the subset's recipe holds fixed or varies, with its measured shares."""
    text = RECIPE_CONTROLS.get(subset.recipe, "")
    shares = [f"{k.replace('_', ' ')} {v:.3f}" for k, v in subset.metrics.items() if k.endswith("_share") and isinstance(v, float)]
    return text + (f" (measured: {', '.join(shares)})" if text and shares else "")


def _shell(path: Path) -> str:
    """``path`` quoted for a POSIX shell when it needs it."""
    import shlex

    return shlex.quote(str(path))
