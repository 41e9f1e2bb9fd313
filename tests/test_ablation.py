import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.ablation import ScaleLadder, check_sizes, nested_allocations, stratified_take, train_pool
from analysis.recipes import EmbeddingDiversitySubsets, QuestionTypeSubsets, ResponseModelSubsets, TaxonomyCoverage
from analysis.diversity import vendi_score
from spa_vl.errors import SpaVLError


@settings(max_examples=60, deadline=None)
@given(
    strata=st.lists(st.integers(1, 400), min_size=1, max_size=12),
    fractions=st.lists(st.floats(0.001, 1.0), min_size=1, max_size=6),
)
def test_nested_allocations_are_nested_and_within_one_row(strata, fractions):
    total = sum(strata)
    sizes = sorted({max(1, int(f * total)) for f in fractions})
    allocations = nested_allocations(strata, sizes)
    share = np.asarray(strata) / total
    previous = np.zeros(len(strata))
    for n in sizes:
        a = allocations[n]
        assert a.sum() == n
        assert np.all(np.abs(a - n * share) < 1 + 1e-9)
        assert np.all(a >= previous) and np.all(a <= strata)
        previous = a


@pytest.fixture(scope="module")
def pool(sample_dir):
    return train_pool(sample_dir)


def test_pool_ids_are_unique_and_labels_present(pool):
    assert pool["row_id"].is_unique
    assert pool["row_id"].is_monotonic_increasing
    assert (pool["class1"] != "unknown").all()
    assert pool["chosen_model"].notna().all()


def _shares_within_one_row(subset_rows, pool, strata=("class1", "question_type")):
    n = len(subset_rows)
    expected = pool.groupby(list(strata)).size() * n / len(pool)
    got = subset_rows.groupby(list(strata)).size().reindex(expected.index, fill_value=0)
    return bool(np.all(np.abs(got - expected) < 1 + 1e-9))


@settings(max_examples=15, deadline=None)
@given(fractions=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5, unique=True), seed=st.integers(0, 10_000))
def test_scale_ladder_properties(pool, fractions, seed):
    sizes = sorted({max(1, int(f * len(pool))) for f in fractions})
    subsets = ScaleLadder(sizes=sizes, random_state=seed).sample(pool)
    previous: set = set()
    for subset in subsets:
        ids = subset.row_ids
        assert len(ids) == len(set(ids)) == subset.parameters["size"]  # no duplicate rows
        assert previous <= set(ids)  # nested
        assert _shares_within_one_row(subset.rows, pool)
        previous = set(ids)


def test_same_seed_same_rows_other_seed_other_rows(pool):
    a = ScaleLadder(sizes=[50, 120], random_state=1).sample(pool)
    b = ScaleLadder(sizes=[50, 120], random_state=1).sample(pool)
    c = ScaleLadder(sizes=[50, 120], random_state=2).sample(pool)
    assert [s.row_ids for s in a] == [s.row_ids for s in b]
    assert set(a[0].row_ids) != set(c[0].row_ids)


def test_row_ids_do_not_depend_on_shard_order(mirror, pool):
    data = mirror / "data"
    first, last = data / "train-00000-of-00008.parquet", data / "train-00007-of-00008.parquet"
    shutil.move(first, data / "swap")
    shutil.move(last, first)
    shutil.move(data / "swap", last)
    swapped = train_pool(mirror)
    assert set(swapped["row_id"]) == set(pool["row_id"])
    picked = ScaleLadder(sizes=[80], random_state=5).sample(swapped)[0]
    original = ScaleLadder(sizes=[80], random_state=5).sample(pool)[0]
    assert set(picked.row_ids) == set(original.row_ids)


@pytest.mark.parametrize(
    "sizes, message",
    [([10, 10_000], "has {n} rows, so sizes must be 1..{n}"), ([0, 5], "size 0 is invalid"), ([5, 5], "duplicate size")],
)
def test_bad_sizes_name_the_pool(pool, sizes, message):
    with pytest.raises(SpaVLError, match=message.format(n=len(pool)).replace("..", r"\.\.")):
        ScaleLadder(sizes=sizes).sample(pool)


def test_question_type_subsets(pool):
    subsets = {s.name: s for s in QuestionTypeSubsets(30, random_state=0).sample(pool)}
    assert list(subsets) == ["qtype-easy", "qtype-hardq", "qtype-hards", "qtype-mixed"]
    for qtype in ("easy", "hardq", "hards"):
        rows = subsets[f"qtype-{qtype}"].rows
        assert len(rows) == 30 and set(rows["question_type"]) == {qtype}
    assert set(subsets["qtype-mixed"].rows["question_type"]) == {"easy", "hardq", "hards"}
    with pytest.raises(SpaVLError, match="easy pool"):
        QuestionTypeSubsets(10_000).sample(pool)


def test_taxonomy_coverage(pool):
    subsets = TaxonomyCoverage(20, level="class1").sample(pool)
    assert [s.parameters["k"] for s in subsets] == list(range(1, pool["class1"].nunique() + 1))
    for s in subsets:
        assert set(s.rows["class1"]) <= set(s.parameters["categories"]) and len(s.rows) == 20
    assert subsets[-1].rows["class1"].nunique() >= subsets[0].rows["class1"].nunique()


def test_response_model_subsets(pool):
    subsets = ResponseModelSubsets(10, ms=[4, 12]).sample(pool)
    for s in subsets:
        allowed = set(s.parameters["models"])
        assert len(allowed) == s.parameters["m"]
        assert set(s.rows["chosen_model"]) | set(s.rows["rejected_model"]) <= allowed


def test_response_model_groups_contrast_a_named_group_with_all_models(pool):
    safe = ["gemini", "LLaVA1.5", "QwenVL", "InternLMXComposer", "InstructBLIP"]
    subsets = {s.name: s for s in ResponseModelSubsets(10, groups={"safe": safe}).sample(pool)}
    assert set(subsets) == {"models-safe", "models-all"}
    assert set(subsets["models-safe"].rows["chosen_model"]) | set(subsets["models-safe"].rows["rejected_model"]) <= set(safe)
    assert len(subsets["models-all"].rows) == 10 and subsets["models-all"].parameters["group"] == "all"
    with pytest.raises(SpaVLError, match="unknown model\\(s\\) GPT-9"):
        ResponseModelSubsets(10, groups={"x": ["GPT-9"]}).sample(pool)


def test_train_pool_models_are_the_model_answer_keys(pool):
    from spa_vl.taxonomy import RESPONSE_MODELS

    assert pool["chosen_model"].notna().all() and set(pool["chosen_model"]) <= set(RESPONSE_MODELS)
    assert (pool["chosen_model"] != pool["rejected_model"]).all()


def test_response_model_recipe_stops_without_model_meta(pool):
    blind = pool.assign(chosen_model=None, rejected_model=None)
    with pytest.raises(SpaVLError, match="do not say which model wrote which response"):
        ResponseModelSubsets(10).sample(blind)


def test_embedding_subsets_order_by_diversity(pool):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))
    x = centres[rng.integers(0, 6, len(pool))] + rng.normal(0, 0.3, (len(pool), 16))
    subsets = {s.parameters["selection"]: s for s in EmbeddingDiversitySubsets(40, x, random_state=0).sample(pool)}
    vendi = {k: s.metrics["vendi_score"] for k, s in subsets.items()}
    assert vendi["max"] > vendi["random"] > vendi["min"]
    position = pool.reset_index().set_index("row_id")["index"]
    assert vendi["max"] == pytest.approx(vendi_score(x[position[subsets["max"].row_ids].to_numpy()]))


def test_stratified_take_and_check_sizes(pool):
    rows = stratified_take(pool, 25, ["class1"], 0)
    assert len(rows) == 25 and rows["row_id"].is_unique
    assert check_sizes([30, 10], 40) == [10, 30]


def test_invalid_meta_json_is_a_one_line_error_naming_the_file(mirror):
    answers = mirror / "meta_files/model_answer/easy.json"  # read for chosen_model / rejected_model
    answers.write_text(answers.read_text()[:200])  # truncated download
    with pytest.raises(SpaVLError, match=r"model_answer/easy.json: not valid JSON .*re-download the meta file"):
        train_pool(mirror)
