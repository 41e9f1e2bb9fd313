"""Response provenance from model_answer records: which key wrote a text, and when no key can say."""

from __future__ import annotations

import pyarrow as pa

from spa_vl.meta import _writers
from spa_vl.taxonomy import RESPONSE_MODELS


def _answers(rows: list[dict]) -> pa.Table:
    return pa.table({c: [r.get(c, f"{c} says something else about {r['question']}") for r in rows] for c in ("question", "image", *RESPONSE_MODELS)})


def test_writer_is_the_one_key_whose_answer_equals_the_text():
    answers = _answers([
        {"question": "q1", "image": "1.jpg", "Otter": "refuse", "gemini_jb": "comply"},
        # the same question on another image, where another model gave the same refusal text
        {"question": "q1", "image": "2.jpg", "QwenVL": "refuse", "LAMM": "comply"},
        # one text given by two models of one record: nobody can say which wrote it
        {"question": "q3", "image": "3.jpg", "gemini": "same", "LLaVA1.5": "same", "MiniGPT-4": "other"},
    ])
    records = pa.table({
        "question": ["q1", "q1", "q3", "\nq3 ", "  q1", "q9"],
        "image": ["1.jpg", "2.jpg", "3.jpg", "3.jpg", "1.jpg", "9.jpg"],
        "chosen": ["refuse", "refuse", "same", "other ", "refuse ", "x"],
        "rejected": ["comply", "comply", "other", "  same", "comply", "y"],
    })
    chosen, rejected = _writers(records, answers)
    # (question, answer) is ambiguous for q1 ("refuse" from Otter and QwenVL): the image decides;
    # whitespace-normalised text is a fallback that names one model or none (never a guess)
    assert chosen.to_pylist() == ["Otter", "QwenVL", None, "MiniGPT-4", None, None]
    assert rejected.to_pylist() == ["gemini_jb", "LAMM", "MiniGPT-4", None, None, None]
