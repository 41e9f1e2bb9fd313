"""Response-model analyses against a frame whose provenance is known row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spa_vl.analysis.metrics import response_models as rm
from spa_vl.taxonomy import RESPONSE_MODELS


@pytest.fixture
def frame() -> pd.DataFrame:
    """Seeded pairs with planted tallies: gemini wins every pair against Otter, LLaVA1.5 splits with QwenVL."""
    rows = (
        [("A", "easy", "gemini", "Otter")] * 12
        + [("B", "easy", "LLaVA1.5", "QwenVL")] * 5
        + [("B", "hardq", "QwenVL", "LLaVA1.5")] * 5
        + [("A", "hards", "gemini_jb", "gemini")] * 3
        + [("B", "hards", "unknown", "Otter")] * 4  # unknown provenance: left out
    )
    frame = pd.DataFrame(rows, columns=["class1", "question_type", "chosen_model", "rejected_model"])
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_outcomes_count_each_models_wins_and_losses(frame):
    table = rm.model_outcomes(frame).set_index("model")
    assert table.loc["gemini", ["chosen", "rejected", "pairs"]].tolist() == [12, 3, 15]
    assert table.loc["Otter", ["chosen", "rejected"]].tolist() == [0, 12]  # the 4 unknown rows are not counted
    assert table.loc["LLaVA1.5", ["chosen", "rejected"]].tolist() == [5, 5]
    assert table["chosen"].sum() == table["rejected"].sum() == 25
    assert table.loc["gemini", "share of chosen"] == pytest.approx(12 / 25)
    assert list(table.index) == [m for m in RESPONSE_MODELS if m in table.index]  # the card's order


def test_outcomes_per_domain_and_type(frame):
    by_domain = rm.model_outcomes(frame, "class1").set_index(["class1", "model"])
    assert by_domain.loc[("B", "QwenVL"), ["chosen", "rejected"]].tolist() == [5, 5]
    assert ("B", "gemini") not in by_domain.index
    by_type = rm.model_outcomes(frame, "question_type").set_index(["question_type", "model"])
    assert by_type.loc[("hardq", "QwenVL"), "chosen share"] == 1.0
    assert by_type.loc[("hards", "gemini"), ["chosen", "rejected"]].tolist() == [0, 3]
    assert by_type.groupby(level=0)["share of chosen"].sum().to_numpy() == pytest.approx(1.0)


def test_wilson_interval_matches_the_closed_form_and_scipy():
    k, n = np.array([0, 5, 12, 30]), np.array([10, 10, 15, 30])
    low, high = rm.wilson_interval(k, n)
    for i in range(len(k)):
        ci = stats.binomtest(int(k[i]), int(n[i])).proportion_ci(confidence_level=0.95, method="wilson")
        assert (low[i], high[i]) == pytest.approx((ci.low, ci.high), abs=1e-6)
    assert np.isnan(rm.wilson_interval(np.array([0]), np.array([0]))[0]).all()


def test_pair_matrix_counts_each_chosen_rejected_pair(frame):
    matrix = rm.pair_matrix(frame)
    assert matrix.loc["gemini", "Otter"] == 12 and matrix.loc["Otter", "gemini"] == 0
    assert matrix.loc["LLaVA1.5", "QwenVL"] == matrix.loc["QwenVL", "LLaVA1.5"] == 5
    assert matrix.to_numpy().sum() == 25 and list(matrix.index) == list(matrix.columns)


def test_pair_distances_average_per_model_pair(frame):
    rng = np.random.default_rng(0)
    chosen = rng.normal(size=(len(frame), 8))
    chosen /= np.linalg.norm(chosen, axis=1, keepdims=True)
    rejected = chosen.copy()
    gemini_otter = ((frame["chosen_model"] == "gemini") & (frame["rejected_model"] == "Otter")).to_numpy()
    rejected[gemini_otter] = -chosen[gemini_otter]  # opposite: distance 2
    table = rm.pair_distances(frame, chosen, rejected).set_index(["chosen_model", "rejected_model"])
    assert table.loc[("gemini", "Otter"), "mean distance"] == pytest.approx(2.0)
    assert table.loc[("LLaVA1.5", "QwenVL"), "mean distance"] == pytest.approx(0.0)
    assert table.loc[("gemini", "Otter"), "rows"] == 12 and "unknown" not in table.index.get_level_values(0)
    with pytest.raises(ValueError, match="25 rows|29 rows"):
        rm.pair_distances(frame, chosen[:3], rejected[:3])


def test_no_provenance_is_said_not_invented(frame):
    without = frame.drop(columns=["chosen_model", "rejected_model"])
    assert rm.provenance_note(without) == rm.NO_PROVENANCE
    assert rm.model_outcomes(without).empty and rm.pair_matrix(without).empty
    all_unknown = frame.assign(chosen_model="unknown")
    assert rm.provenance_note(all_unknown) == rm.NO_PROVENANCE and rm.model_outcomes(all_unknown).empty
    assert rm.provenance_note(frame) is None
