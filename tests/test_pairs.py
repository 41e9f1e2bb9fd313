"""Pair quality (issue 23): statistics, report numbers and recipes, checked against planted truth.

The planted mirror is the session sample with every chosen and rejected answer rewritten, in the
Parquet shards and consistently in every meta file (so labels still join by content), to a text
whose word count and refusal are known: the expected numbers are computed from that plan with
plain loops, never by the code under test.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spa_vl.analysis.inputs.frames import labelled_frame
from spa_vl.analysis.metrics import pairs
from spa_vl.analysis.report.pair_sections import PairSection
from spa_vl.analysis.report.render import jsonable
from spa_vl.analysis.report.sections import ReportSettings, SectionInputs
from spa_vl.analysis.subsets.ablation import ScaleLadder, train_pool
from spa_vl.analysis.subsets.recipes import LengthBalanced, RefusalCapped, drop_no_signal, with_pair_features
from spa_vl.cli import main
from spa_vl.errors import UsageError
from spa_vl.opening import open_source

#: Openings planted at the start of answers: (text, whether the detector's definition calls it a refusal).
OPENINGS = {
    "start": ("I'm sorry, but I cannot help with that.", True),
    "curly": ("I\u2019m sorry, I can\u2019t assist with this request.", True),
    "standalone": ("The picture shows a busy street. Unfortunately, I cannot provide that.", True),
    "ai": ("As an AI language model, I must stay neutral.", True),
    "lookalike": ("I can't stress enough how careful you must be. Sorry to hear about the trouble.", False),
    "help-but": ("I cannot help but notice the crowd.", False),
    "mid-sentence": ("This involves fraud, which I can't assist with.", False),  # a documented miss
    "plain": ("Here is what the picture shows.", False),
}
KINDS = list(OPENINGS)
CHANCES = {
    "chosen": [0.2, 0.1, 0.15, 0.1, 0.1, 0.05, 0.05, 0.25],
    "rejected": [0.05, 0.03, 0.05, 0.02, 0.15, 0.1, 0.05, 0.55],
}
RESPONSE_SPLITS = ("train/train", "validation/validation")


@dataclass(frozen=True)
class Planted:
    text: str
    words: int
    refuses: bool


def _replace(value, mapping):
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    return value


def plant(sample_dir: Path, target: Path) -> dict[str, Planted]:
    """Copy the sample to ``target`` with every answer replaced; old text → what was planted."""
    shutil.copytree(sample_dir, target)
    roles: dict[str, str] = {}
    for path in sorted(target.rglob("*.parquet")):
        table = pq.read_table(path, columns=None)
        if "chosen" in table.column_names:
            for role in ("rejected", "chosen"):  # a text seen in both roles is planted as chosen
                roles.update(dict.fromkeys(table.column(role).to_pylist(), role))
    rng = np.random.default_rng(23)
    plan = {}
    for i, old in enumerate(sorted(roles)):
        role = roles[old]
        kind = KINDS[rng.choice(len(KINDS), p=CHANCES[role])]
        opening, refusal = OPENINGS[kind]
        extra = int(rng.integers(0, 30)) if role == "chosen" else int(rng.integers(5, 50))  # chosen shorter, often
        text = " ".join([opening, f"item{i}", *["lorem"] * extra])
        plan[old] = Planted(text, len(opening.split()) + 1 + extra, refusal)
    mapping = {old: p.text for old, p in plan.items()}
    for path in sorted(target.rglob("*.parquet")):
        table = pq.read_table(path)
        if "chosen" not in table.column_names:
            continue
        for column in ("chosen", "rejected"):
            new = pa.array([mapping[t] for t in table.column(column).to_pylist()], table.schema.field(column).type)
            table = table.set_column(table.column_names.index(column), column, new)
        pq.write_table(table, path)
    for path in sorted((target / "meta_files").rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps(_replace(data, mapping), ensure_ascii=False), encoding="utf-8")
    return plan


@pytest.fixture(scope="module")
def planted(sample_dir, tmp_path_factory):
    target = tmp_path_factory.mktemp("planted") / "spa-vl"
    plan = plant(sample_dir, target)
    original = labelled_frame(sample_dir)
    rows = original[original["split"].isin(RESPONSE_SPLITS)]
    truth = pd.DataFrame({
        "split": rows["split"].to_numpy(),
        **{c: rows[c].to_numpy() for c in pairs.PAIR_GROUPS},
        "cw": [plan[t].words for t in rows["chosen"]],
        "rw": [plan[t].words for t in rows["rejected"]],
        "cr": [plan[t].refuses for t in rows["chosen"]],
        "rr": [plan[t].refuses for t in rows["rejected"]],
    })
    return {"mirror": target, "plan": plan, "original": original, "truth": truth, "by_text": {p.text: p for p in plan.values()}}


@pytest.fixture(scope="module")
def frame(planted):
    return labelled_frame(planted["mirror"])


def _expected(rows: pd.DataFrame) -> dict[str, float]:
    """The textbook numbers of one group of planted pairs, with loops."""
    untied = [(c, r) for c, r in zip(rows["cw"], rows["rw"]) if c != r]
    flags = list(zip(rows["cr"], rows["rr"]))
    n = len(flags)
    return {
        "pairs": n,
        "chosen_words": sum(rows["cw"]) / n,
        "word_difference": sum(c - r for c, r in zip(rows["cw"], rows["rw"])) / n,
        "word_ratio": math.exp(sum(math.log(c / r) for c, r in zip(rows["cw"], rows["rw"])) / n),
        "chosen_longer_n": len(untied),
        "chosen_longer_share": sum(c > r for c, r in untied) / len(untied) if untied else float("nan"),
        "chosen_refuses_share": sum(c for c, _ in flags) / n,
        "rejected_refuses_share": sum(r for _, r in flags) / n,
        "both_refuse_share": sum(c and r for c, r in flags) / n,
        "neither_refuses_share": sum(not c and not r for c, r in flags) / n,
    }


def test_planted_texts_keep_every_label_joined(planted, frame):
    original = planted["original"]
    labels = ["split", "class1", "class2", "class3", "question_type", "chosen_model", "rejected_model"]
    assert len(frame) == len(original)
    pd.testing.assert_frame_equal(frame[labels], original[labels])
    assert (frame["chosen_model"] != "unknown").sum() > 0.9 * len(planted["truth"])  # provenance joined through model_answer
    # the frame carries the planted texts, in the original rows' order
    responses = frame["split"].isin(RESPONSE_SPLITS)
    assert frame.loc[responses, "chosen"].tolist() == [planted["plan"][t].text for t in original.loc[responses, "chosen"]]


def test_planted_mix_exercises_every_case(planted):
    truth = planted["truth"]
    assert 0.1 < (truth["cw"] > truth["rw"]).mean() < 0.5  # a length bias to undo, with both sides present
    assert (truth["cw"] == truth["rw"]).any()  # ties
    assert (truth["cr"] & truth["rr"]).any() and (~truth["cr"] & ~truth["rr"]).any()


@pytest.mark.parametrize("by", [None, *pairs.PAIR_GROUPS])
def test_pair_stats_equal_the_planted_truth(planted, frame, by):
    table = pairs.pair_stats(frame, by)
    truth = planted["truth"]
    keys = ["split"] if by is None else ["split", by]
    if by is not None:
        truth = truth[truth[by] != "unknown"]
    groups = {k if isinstance(k, tuple) else (k,): g for k, g in truth.groupby(keys)}
    assert len(table) == len(groups)
    for row in table.to_dict(orient="records"):
        expected = _expected(groups[tuple(row[k] for k in keys)])
        for name, value in expected.items():
            assert row[name] == pytest.approx(value, nan_ok=True), (row, name)
        assert row["chosen_longer_low"] <= row["chosen_longer_share"] <= row["chosen_longer_high"] or row["chosen_longer_n"] == 0


def test_section_numbers_hold_the_issue_keys_per_config(planted, frame):
    source = open_source(planted["mirror"])
    section = PairSection.compute(SectionInputs(source, frame, ReportSettings(), None))
    numbers = json.loads(json.dumps(jsonable(section.numbers()), allow_nan=False))
    truth = planted["truth"]
    for split in RESPONSE_SPLITS:
        config = split.split("/")[0]
        expected = _expected(truth[truth["split"] == split])
        assert numbers["pairs"][config] == expected["pairs"]
        assert numbers["length"]["chosen_longer_share"][config] == pytest.approx(expected["chosen_longer_share"])
        assert numbers["length"]["chosen_longer_n"][config] == expected["chosen_longer_n"]
        low, high = numbers["length"]["chosen_longer_ci"][config]
        assert low < expected["chosen_longer_share"] < high
        assert numbers["refusal"]["chosen_share"][config] == pytest.approx(expected["chosen_refuses_share"])
        assert numbers["refusal"]["rejected_share"][config] == pytest.approx(expected["rejected_refuses_share"])
        assert numbers["refusal"]["both_share"][config] == pytest.approx(expected["both_refuse_share"])
        assert numbers["no_signal"]["both_comply_share"][config] == pytest.approx(expected["neither_refuses_share"])
        assert numbers["refusal"]["n"][config] == expected["pairs"]
    assert set(numbers["by_group"]) == set(pairs.PAIR_GROUPS)
    assert [p.name for p in section.figures()] == ["pairs_length_difference", "pairs_refusal_by_model"]
    quantiles = section.length_quantiles  # the figure's table: numpy's quantiles of the planted differences
    train = truth[(truth["split"] == "train/train") & (truth["class1"] != "unknown")]
    for domain, rows in train.groupby("class1"):
        assert quantiles.loc[domain, "q50"] == pytest.approx(statistics.median(rows["cw"] - rows["rw"]))


@pytest.fixture(scope="module")
def pool(planted):
    return with_pair_features(train_pool(planted["mirror"]), planted["mirror"])


def test_pool_features_are_the_planted_ones(planted, pool):
    files = sorted((planted["mirror"] / "data").glob("*.parquet"))
    texts = {i: pq.read_table(p, columns=["chosen", "rejected"]).to_pylist() for i, p in enumerate(files)}
    by_text = planted["by_text"]
    for row in pool.itertuples():
        answer = texts[row.file][row.position]
        assert row.chosen_words == by_text[answer["chosen"]].words
        assert row.rejected_words == by_text[answer["rejected"]].words
        assert row.chosen_refuses == by_text[answer["chosen"]].refuses
        assert row.rejected_refuses == by_text[answer["rejected"]].refuses


def _stratum_counts(rows: pd.DataFrame) -> dict:
    return rows.groupby(["class1", "question_type"]).size().to_dict()


@pytest.mark.parametrize("n", [30, 60, 90])
def test_length_balanced_has_chosen_longer_in_half_of_the_untied_pairs(pool, n):
    assert (pool["chosen_words"] > pool["rejected_words"]).sum() >= 0.55 * n  # the planted pool can balance n pairs
    (subset,) = LengthBalanced(n=n, random_state=3).sample(pool)
    rows = subset.rows_in(pool)
    untied = rows["chosen_words"] != rows["rejected_words"]
    share = (rows["chosen_words"] > rows["rejected_words"])[untied].mean()
    assert len(rows) == n and 0.45 <= share <= 0.55
    assert subset.metrics["chosen_longer_share"] == pytest.approx(share)
    pool_untied = pool["chosen_words"] != pool["rejected_words"]
    assert subset.metrics["pool_chosen_longer_share"] == pytest.approx((pool["chosen_words"] > pool["rejected_words"])[pool_untied].mean())
    ladder = ScaleLadder(sizes=[n], random_state=3).sample(pool)[0]
    assert _stratum_counts(rows) == _stratum_counts(ladder.rows_in(pool))  # stratified like the scale ladder
    assert LengthBalanced(n=n, random_state=3).sample(pool)[0].row_ids == subset.row_ids


def test_length_balanced_takes_every_longer_chosen_when_the_pool_has_too_few(pool):
    longer = int((pool["chosen_words"] > pool["rejected_words"]).sum())
    (subset,) = LengthBalanced(n=len(pool) - 5).sample(pool)  # nearly the whole pool: about a third is chosen-longer
    rows = subset.rows_in(pool)
    assert (rows["chosen_words"] > rows["rejected_words"]).sum() >= longer - 5
    assert subset.metrics["chosen_longer_share"] < 0.5


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3])
def test_refusal_recipe_caps_the_refusing_chosen_answers(pool, share):
    n = 80
    (subset,) = RefusalCapped(n=n, max_refusal_share=share, random_state=1).sample(pool)
    rows = subset.rows_in(pool)
    assert len(rows) == n
    assert rows["chosen_refuses"].sum() == math.floor(share * n)  # the pool has enough of both kinds: exactly at the cap
    assert subset.metrics["pool_chosen_refusal_share"] == pytest.approx(pool["chosen_refuses"].mean())
    ladder = _stratum_counts(ScaleLadder(sizes=[n]).sample(pool)[0].rows_in(pool))
    got = _stratum_counts(rows)
    off = sum(max(0, ladder.get(k, 0) - got.get(k, 0)) for k in {*ladder, *got})
    assert off == subset.metrics["rows_off_quota"]  # stratified like the ladder, except the rows the cap forced out
    if share >= 0.1:
        assert off == 0


def test_refusal_recipe_says_how_large_n_can_be(pool):
    complying = int((~pool["chosen_refuses"]).sum())
    with pytest.raises(UsageError, match=r"use at most n=\d+") as error:
        RefusalCapped(n=len(pool), max_refusal_share=0.0).sample(pool)
    assert f"the pool has {complying} pairs" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UsageError, match="needs a share in 0..1"):
        RefusalCapped(n=10, max_refusal_share=1.5).sample(pool)
    with pytest.raises(UsageError, match="with_pair_features"):
        LengthBalanced(n=10).sample(pool.drop(columns=["chosen_longer"]))


@pytest.mark.parametrize("kinds", [["both-refuse"], ["both-comply"], ["both-refuse", "both-comply"]])
def test_drop_no_signal_leaves_out_exactly_the_planted_no_signal_pairs(pool, kinds):
    kept = drop_no_signal(pool, kinds)
    c, r = pool["chosen_refuses"], pool["rejected_refuses"]
    bad = ((c & r) if "both-refuse" in kinds else False) | ((~c & ~r) if "both-comply" in kinds else False)
    assert kept["row_id"].tolist() == pool.loc[~bad, "row_id"].tolist()
    (subset,) = LengthBalanced(n=30).sample(kept)  # any recipe takes the smaller pool
    assert set(subset.row_ids) <= set(kept["row_id"])


def test_cli_prints_the_subset_and_pool_shares(planted, pool, tmp_path, capsys):
    out = tmp_path / "subsets"
    assert main(["ablate", str(planted["mirror"]), "--out", str(out), "--recipe", "length-balanced", "--n", "60",
                 "--format", "parquet", "--drop-no-signal", "both-refuse", "--quiet"]) == 0
    printed = capsys.readouterr().out
    dropped = int((pool["chosen_refuses"] & pool["rejected_refuses"]).sum())
    assert f"{dropped} of {len(pool)} pairs left out" in printed
    manifest = json.loads((out / "length-balanced-60" / "manifest.json").read_text())
    values = dict(re.findall(r"^  (\w+): ([\d.]+)$", printed, re.M))
    assert float(values["chosen_longer_share"]) == pytest.approx(manifest["metrics"]["chosen_longer_share"], abs=5e-5)
    kept = pool[~(pool["chosen_refuses"] & pool["rejected_refuses"])]
    untied = kept["chosen_words"] != kept["rejected_words"]
    assert float(values["pool_chosen_longer_share"]) == pytest.approx((kept["chosen_words"] > kept["rejected_words"])[untied].mean(), abs=5e-5)
    assert abs(manifest["metrics"]["chosen_longer_share"] - 0.5) <= 0.05


# --- properties of each statistic against a slow, obvious implementation -----------------------------

WHITESPACE = " \t\n\r\x0b\x0c\xa0\u2003\u3000"
texts_with_gaps = st.text(alphabet=st.sampled_from(list("abcXYZ.,'") + list(WHITESPACE)), max_size=40)


@given(st.lists(st.one_of(st.none(), texts_with_gaps), max_size=30))
def test_word_counts_are_python_split(texts):
    counts = pairs.word_counts(texts)
    for text, count in zip(texts, counts):
        assert (math.isnan(count) if text is None else count == len(text.split()))


@given(st.lists(st.tuples(texts_with_gaps, texts_with_gaps), max_size=30))
def test_normalized_equal_is_lower_and_collapsed_whitespace(pairs_of_texts):
    a, b = [x for x, _ in pairs_of_texts], [y for _, y in pairs_of_texts]
    got = pairs.normalized_equal(a, b)
    assert got.tolist() == [" ".join(x.lower().split()) == " ".join(y.lower().split()) for x, y in pairs_of_texts]


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=50))
def test_mean_interval_is_mean_plus_minus_z_standard_error(values):
    mean, low, high, n = pairs.mean_interval(np.array(values))
    assert n == len(values)
    if n:
        assert mean == pytest.approx(statistics.fmean(values), abs=1e-6)
    if n >= 2:
        half = 1.959964 * statistics.stdev(values) / math.sqrt(n)
        assert (low, high) == pytest.approx((mean - half, mean + half), abs=1e-6)


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


pair_rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "unknown"]), st.integers(0, 6), st.integers(0, 6), st.booleans(), st.booleans()),
    min_size=1, max_size=40,
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(pair_rows)
def test_pair_stats_against_loops(rows):
    refusal = "I cannot help with that."
    frame = pd.DataFrame({
        "split": "train/train",
        "class1": [g for g, *_ in rows],
        "chosen": [" ".join([refusal] * cr + ["w"] * c) for _, c, _, cr, _ in rows],
        "rejected": [" ".join([refusal] * rr + ["w"] * r) for _, _, r, _, rr in rows],
    })
    table = pairs.pair_stats(frame, "class1").set_index("class1")
    for group in sorted({g for g, *_ in rows} - {"unknown"}):
        mine = [(c + 5 * cr, r + 5 * rr, cr, rr) for g, c, r, cr, rr in rows if g == group]
        got = table.loc[group]
        n = len(mine)
        untied = [(c, r) for c, r, *_ in mine if c != r]
        assert got["pairs"] == n and got["chosen_longer_n"] == len(untied)
        if untied:
            k = sum(c > r for c, r in untied)
            assert got["chosen_longer_share"] == pytest.approx(k / len(untied))
            assert (got["chosen_longer_low"], got["chosen_longer_high"]) == pytest.approx(_wilson(k, len(untied)))
        both = sum(cr and rr for *_, cr, rr in mine)
        assert got["both_refuse_share"] == pytest.approx(both / n)
        assert (got["both_refuse_low"], got["both_refuse_high"]) == pytest.approx(_wilson(both, n))
        assert got["neither_refuses_share"] == pytest.approx(sum(not cr and not rr for *_, cr, rr in mine) / n)
        ratios = [math.log(c / r) for c, r, *_ in mine if c and r]
        assert got["word_ratio_n"] == len(ratios)
        if ratios:
            assert got["word_ratio"] == pytest.approx(math.exp(statistics.fmean(ratios)))
    assert "unknown" not in table.index


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), st.sampled_from(["easy", "hardq"]), st.sampled_from([1.0, 0.0, np.nan])),
                min_size=4, max_size=80), st.data())
def test_length_balanced_is_as_even_as_the_strata_allow(rows, data):
    n = data.draw(st.integers(1, len(rows)))
    pool = pd.DataFrame({"row_id": [f"{i:016x}" for i in range(len(rows))], "class1": [a for a, _, _ in rows],
                         "question_type": [b for _, b, _ in rows], "chosen_longer": [c for *_, c in rows]})
    for column in pairs.FEATURE_COLUMNS:
        if column not in pool:
            pool[column] = 0
    taken = LengthBalanced(n=n).sample(pool)[0].rows_in(pool)
    assert len(taken) == n
    assert _stratum_counts(taken) == _stratum_counts(ScaleLadder(sizes=[n]).sample(pool)[0].rows_in(pool))
    longer, shorter = int((taken["chosen_longer"] == 1).sum()), int((taken["chosen_longer"] == 0).sum())
    # the most and least chosen-longer rows the strata's taken untied rows allow
    lo = hi = 0
    for key, part in taken.groupby(["class1", "question_type"]):
        avail = pool[(pool["class1"] == key[0]) & (pool["question_type"] == key[1])]
        untied = int(part["chosen_longer"].notna().sum())
        lo += max(0, untied - int((avail["chosen_longer"] == 0).sum()))
        hi += min(untied, int((avail["chosen_longer"] == 1).sum()))
    total = longer + shorter
    if lo <= total // 2 and -(-total // 2) <= hi:
        assert abs(longer - shorter) <= 1
    else:
        assert longer in (lo, hi)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["x", "y", "z"]), st.sampled_from(["easy", "hardq"]), st.booleans()), min_size=2, max_size=80),
       st.floats(0, 1), st.data())
def test_refusal_cap_always_holds_or_says_why(rows, share, data):
    n = data.draw(st.integers(1, len(rows)))
    pool = pd.DataFrame({"row_id": [f"{i:016x}" for i in range(len(rows))], "class1": [a for a, _, _ in rows],
                         "question_type": [b for _, b, _ in rows], "chosen_refuses": [c for *_, c in rows]})
    for column in pairs.FEATURE_COLUMNS:
        if column not in pool:
            pool[column] = 0
    cap = math.floor(share * n + 1e-9)
    if (~pool["chosen_refuses"]).sum() < n - cap:
        with pytest.raises(UsageError, match="use at most|no n fits"):
            RefusalCapped(n=n, max_refusal_share=share).sample(pool)
        return
    (subset,) = RefusalCapped(n=n, max_refusal_share=share).sample(pool)
    taken = subset.rows_in(pool)
    assert len(taken) == n and len(set(subset.row_ids)) == n
    assert taken["chosen_refuses"].sum() <= cap
    ladder = _stratum_counts(ScaleLadder(sizes=[n]).sample(pool)[0].rows_in(pool))
    got = _stratum_counts(taken)
    assert sum(max(0, ladder.get(k, 0) - got.get(k, 0)) for k in {*ladder, *got}) == subset.metrics["rows_off_quota"]


def test_explorer_filters_by_refusal_and_length(planted, frame):
    from spa_vl.analysis.report.explorer import explorer_html, explorer_rows, pair_labels

    labels = pair_labels(frame)
    truth = planted["truth"]
    responses = frame["split"].isin(RESPONSE_SPLITS).to_numpy()
    refusal = ["both refuse" if c and r else "chosen refuses" if c else "rejected refuses" if r else "neither refuses"
               for c, r in zip(truth["cr"], truth["rr"])]
    length = ["chosen longer" if c > r else "rejected longer" if c < r else "same length" for c, r in zip(truth["cw"], truth["rw"])]
    assert labels.loc[responses, "refusal"].tolist() == refusal
    assert labels.loc[responses, "length"].tolist() == length
    assert set(labels.loc[~responses, "refusal"]) == {"no answers"}  # eval rows have no pair
    questions = np.random.default_rng(0).normal(size=(len(frame), 4))
    rows, method = explorer_rows(frame, questions, max_points=60, method="pca")
    page = explorer_html(rows, method=method)
    for field in ("refusal", "length"):
        assert f'id="f-{field}"' in page
    assert '<option value="chosen refuses">chosen refuses</option>' in page
