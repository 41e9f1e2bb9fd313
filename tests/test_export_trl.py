"""The TRL export, read by plain ``datasets.load_dataset`` and by TRL's own data utilities.

The tokenizer is built here (``tokenizers`` + ``PreTrainedTokenizerFast`` with our chat template):
nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil

import datasets
import pytest
from helpers import NON_ASCII, c_locale_python
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from spa_vl.analysis.writers.export import verify_subset
from spa_vl.cli import main

trl_data = pytest.importorskip("trl.data_utils")

IMAGE_TOKEN = "<image>"
# Renders structured content the way vision chat templates do: an image part becomes the image token.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}<|{{ message['role'] }}|>"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<image>{%- else -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}</s>{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"[UNK]": 0, "[PAD]": 1, "<s>": 2, "</s>": 3, IMAGE_TOKEN: 4}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", bos_token="<s>", eos_token="</s>",
        additional_special_tokens=[IMAGE_TOKEN], chat_template=CHAT_TEMPLATE,
    )


@pytest.fixture(scope="module")
def loaded(all_formats, tmp_path_factory):
    cache = tmp_path_factory.mktemp("trl-cache")
    return [datasets.load_dataset(str(f / "trl"), cache_dir=str(cache)) for f in all_formats["folders"]]


def test_loads_with_plain_datasets_with_rows_labels_and_held_out_test_split(all_formats, loaded):
    for rows, folder, ds in zip(all_formats["rows"], all_formats["folders"], loaded):
        manifest = json.loads((folder / "manifest.json").read_text(encoding="ascii"))
        train, test = ds["train"], ds["test"]
        assert train.num_rows == len(rows) and test.num_rows == manifest["eval"]["rows"] >= 3
        assert train["row_id"] == manifest["row_ids"] and test["row_id"] == manifest["eval"]["row_ids"]
        assert isinstance(train.features["images"], datasets.List) and isinstance(train.features["images"].feature, datasets.Image)
        for column in ("class1", "class2", "class3", "question_type"):
            feature = train.features[column]
            assert isinstance(feature, datasets.ClassLabel)
            assert [feature.int2str(i) if i >= 0 else "unknown" for i in train[column]] == rows[column].tolist()
        assert not set(test["row_id"]) & set(train["row_id"])


def test_trl_sees_a_conversational_vision_preference_example(loaded, tokenizer, unicode_mirror):
    train = loaded[0]["train"]
    example = train[0]
    assert trl_data.is_conversational(example)
    (turn,) = example["prompt"]
    assert turn["role"] == "user" and [p["type"] for p in turn["content"]] == ["image", "text"]
    assert len(example["images"]) == 1 and example["images"][0].size[0] > 0
    # the placeholder is where TRL fills images in
    filled = trl_data.prepare_multimodal_messages(example["prompt"], images=example["images"])
    assert filled[0]["content"][0]["image"] is example["images"][0]
    rendered = trl_data.maybe_apply_chat_template(example, tokenizer)
    question, chosen, rejected = (turn["content"][1]["text"], example["chosen"][0]["content"][0]["text"], example["rejected"][0]["content"][0]["text"])
    assert rendered["prompt"] == f"<|user|>{IMAGE_TOKEN}{question}</s><|assistant|>"
    assert rendered["chosen"] == f"{chosen}</s>" and rendered["rejected"] == f"{rejected}</s>"
    assert chosen.endswith(NON_ASCII)
    ids = tokenizer(rendered["prompt"])["input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)) == len(example["images"])


def test_trl_applies_the_chat_template_to_the_whole_split(loaded, tokenizer):
    test = loaded[0]["test"]
    templated = test.remove_columns("images").map(trl_data.maybe_apply_chat_template, fn_kwargs={"processing_class": tokenizer})
    assert templated.num_rows == test.num_rows
    assert all(p.startswith(f"<|user|>{IMAGE_TOKEN}") and p.endswith("<|assistant|>") for p in templated["prompt"])
    assert all(c.endswith("</s>") for c in templated["chosen"])


def test_trl_folder_reads_in_a_c_locale_from_anywhere_after_a_move(all_formats, tmp_path):
    moved = tmp_path / "moved" / "subset"
    shutil.copytree(all_formats["folders"][0], moved)
    assert main(["--quiet", "ablate", "--relocate", str(moved)]) == 0
    assert verify_subset(moved) == []
    code = (
        "import datasets, json\n"
        f"ds = datasets.load_dataset({str(moved / 'trl')!r}, cache_dir={str(tmp_path / 'cache')!r})\n"
        "print(json.dumps([m[0]['content'][0]['text'] for m in ds['train']['chosen']]))\n"
    )
    result = c_locale_python(code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    texts = json.loads(result.stdout.strip().splitlines()[-1])
    assert texts and all(t.endswith(NON_ASCII) for t in texts)
    assert str(moved / "trl") in (moved / "TRAIN.md").read_text(encoding="utf-8")
