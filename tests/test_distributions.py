import math

import numpy as np
import pandas as pd
import pytest

from spa_vl.analysis.inputs.frames import labelled_frame
from spa_vl.analysis.metrics import distributions as d
from spa_vl.analysis.metrics.difficulty import balance_by_type, by_question_type, category_mix_by_type, text_length_stats


def test_entropy_hand_cases():
    assert d.shannon_entropy({"a": 5, "b": 5}) == pytest.approx(1.0)
    assert d.shannon_entropy({"a": 1, "b": 1, "c": 1, "d": 1}) == pytest.approx(2.0)
    assert d.shannon_entropy({"a": 7}) == 0.0
    assert d.shannon_entropy({}) == 0.0
    assert d.shannon_entropy({"a": 1, "b": 3}) == pytest.approx(-(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75)))


def test_normalized_entropy_effective_number_imbalance():
    assert d.normalized_entropy({"a": 2, "b": 2, "c": 2}) == pytest.approx(1.0)
    assert d.effective_number({"a": 2, "b": 2, "c": 2}) == pytest.approx(3.0)
    assert d.effective_number({"a": 9, "b": 0}) == pytest.approx(1.0)  # zero counts are not categories
    assert d.imbalance_ratio({"a": 10, "b": 2, "c": 5}) == pytest.approx(5.0)
    assert math.isnan(d.imbalance_ratio({}))
    with pytest.raises(ValueError):
        d.shannon_entropy({"a": -1})


def test_js_divergence_hand_cases():
    assert d.js_divergence({"a": 3, "b": 1}, {"a": 30, "b": 10}) == pytest.approx(0.0)
    assert d.js_divergence({"a": 1}, {"b": 4}) == pytest.approx(1.0)  # disjoint: 1 bit
    # p=(1,0), q=(1/2,1/2): JS = 1.5 - 0.5*log2(3)... computed by hand
    expected = 0.5 * (math.log2(1 / 0.75)) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert d.js_divergence({"a": 2}, {"a": 1, "b": 1}) == pytest.approx(expected)
    assert math.isnan(d.js_divergence({}, {"a": 1}))


@pytest.fixture(scope="module")
def frame(sample_dir):
    return labelled_frame(sample_dir)


def test_labelled_frame_has_every_split_and_unknown_is_a_label(mirror):
    (mirror / "meta_files/split/hards.json").unlink()
    frame = labelled_frame(mirror)
    assert list(dict.fromkeys(frame["split"])) == ["train/train", "validation/validation", "eval/harm", "eval/help"]
    counts = d.counts_by_split(frame, "question_type")
    assert "unknown" in counts.index and "hards" not in counts.index
    assert counts.sum().sum() == len(frame)  # no row dropped
    assert frame.loc[frame["split"] == "eval/harm", "chosen"].isna().all()


def test_counts_shares_and_balance_by_split(frame):
    counts = d.counts_by_split(frame, "class1")
    shares = d.shares_by_split(frame, "class1")
    assert np.allclose(shares.sum(), 1.0)
    table = d.balance_by_split(frame, "class1")
    for split in counts.columns:
        assert table.loc[split, "rows"] == counts[split].sum()
        assert table.loc[split, "entropy_bits"] == pytest.approx(d.shannon_entropy(counts[split]))
    div = d.divergence_between_splits(frame, "class3")
    assert np.allclose(np.diag(div), 0.0) and np.allclose(div, div.T)


def test_difficulty_views(frame):
    parts = by_question_type(frame)
    assert list(parts) == ["easy", "hardq", "hards", "unknown"]
    assert set(parts["unknown"]["split"]) == {"eval/harm", "eval/help"}  # eval has no question type, by design
    assert sum(len(p) for p in parts.values()) == len(frame)
    mix = category_mix_by_type(frame)
    assert np.allclose(mix.sum(), 1.0)
    lengths = text_length_stats(frame)
    easy_questions = parts["easy"]["question"].str.split().str.len()
    assert lengths.loc[("easy", "question"), "mean_words"] == pytest.approx(easy_questions.mean())
    assert lengths.loc[("easy", "question"), "max_words"] == easy_questions.max()
    # eval has no chosen: only rows that have it count
    assert lengths.loc[("easy", "chosen"), "count"] == len(parts["easy"])  # null chosen counts as 0 words
    assert set(balance_by_type(frame).index) == {"easy", "hardq", "hards"}  # unknown is never a group


def test_empty_frames_give_zero_not_errors():
    empty = pd.DataFrame({"split": [], "class1": [], "question_type": [], "question": []})
    assert d.counts_by_split(empty, "class1").empty
    assert d.balance({}).rows == 0
    assert text_length_stats(empty.assign(class2=[], class3=[])).empty
