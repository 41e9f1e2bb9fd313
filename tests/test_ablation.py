import dataclasses
import inspect
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spa_vl.analysis.metrics.diversity import vendi_score
from spa_vl.analysis.subsets import ablation, recipes
from spa_vl.analysis.subsets.ablation import Sampler, ScaleLadder, train_pool
from spa_vl.analysis.subsets.recipes import (
    RECIPES,
    EmbeddingDiversitySubsets,
    QuestionTypeSubsets,
    ResponseModelSubsets,
    TaxonomyCoverage,
)
from spa_vl.analysis.subsets.sampling import Subset, check_sizes, nested_allocations, rank, stratified_sample, stratified_take
from spa_vl.cli import build_parser
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
        assert _shares_within_one_row(subset.rows_in(pool), pool)
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
        rows = subsets[f"qtype-{qtype}"].rows_in(pool)
        assert len(rows) == 30 and set(rows["question_type"]) == {qtype}
    assert set(subsets["qtype-mixed"].rows_in(pool)["question_type"]) == {"easy", "hardq", "hards"}
    with pytest.raises(SpaVLError, match="easy pool"):
        QuestionTypeSubsets(len(pool)).sample(pool)  # fits the pool, not the easy rows


def test_taxonomy_coverage(pool):
    subsets = TaxonomyCoverage(20, level="class1").sample(pool)
    assert [s.parameters["k"] for s in subsets] == list(range(1, pool["class1"].nunique() + 1))
    for s in subsets:
        assert set(s.rows_in(pool)["class1"]) <= set(s.parameters["categories"]) and len(s) == 20
    assert subsets[-1].rows_in(pool)["class1"].nunique() >= subsets[0].rows_in(pool)["class1"].nunique()


def test_response_model_subsets(pool):
    subsets = ResponseModelSubsets(10, ms=[4, 12]).sample(pool)
    for s in subsets:
        allowed = set(s.parameters["models"])
        assert len(allowed) == s.parameters["m"]
        rows = s.rows_in(pool)
        assert set(rows["chosen_model"]) | set(rows["rejected_model"]) <= allowed


def test_response_model_groups_contrast_a_named_group_with_all_models(pool):
    safe = ["gemini", "LLaVA1.5", "QwenVL", "InternLMXComposer", "InstructBLIP"]
    subsets = {s.name: s for s in ResponseModelSubsets(10, groups={"safe": safe}).sample(pool)}
    assert set(subsets) == {"models-safe", "models-all"}
    safe_rows = subsets["models-safe"].rows_in(pool)
    assert set(safe_rows["chosen_model"]) | set(safe_rows["rejected_model"]) <= set(safe)
    assert len(subsets["models-all"]) == 10 and subsets["models-all"].parameters["group"] == "all"
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
    subsets = {s.parameters["selection"]: s for s in EmbeddingDiversitySubsets(40, random_state=0).sample(pool, embeddings=x)}
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


# --- the sampler contract -------------------------------------------------------------------


def test_rank_depends_on_the_ids_and_seed_only(pool):
    ids = pool["row_id"].to_numpy()
    shuffled = np.random.default_rng(1).permutation(len(ids))
    assert np.array_equal(rank(ids[shuffled], 7), rank(ids, 7)[shuffled])  # row order does not matter
    assert sorted(rank(ids, 7)) == list(range(len(ids)))
    assert not np.array_equal(rank(ids, 7), rank(ids, 8))


@pytest.mark.parametrize("seed", [0, 11])
def test_the_report_sampler_and_a_recipe_pick_the_same_rows(pool, seed):
    subsets = {s.name: s for s in QuestionTypeSubsets(25, random_state=seed).sample(pool)}
    # the report's call (spa_vl.analysis.report.build: stratified_sample(train, limit, "class1", seed)) over the
    # rows the recipe draws qtype-easy from, in another order: the same rows
    easy = pool[pool["question_type"] == "easy"].sample(frac=1.0, random_state=3)
    picked = easy.loc[stratified_sample(easy, 25, "class1", seed), "row_id"]
    assert set(picked) == set(subsets["qtype-easy"].row_ids)
    typed = pool[pool["question_type"].isin(["easy", "hardq", "hards"])]
    mixed = typed.loc[stratified_sample(typed, 25, ["class1", "question_type"], seed), "row_id"]
    assert set(mixed) == set(subsets["qtype-mixed"].row_ids)
    assert set(mixed) == set(stratified_take(typed, 25, ["class1", "question_type"], seed)["row_id"])


def test_a_frame_without_row_ids_is_ranked_by_its_content(pool, sample_dir):
    # the train rows as a labelled frame would hold them (id columns, no row_id): the same ids as
    # the pool's, so the same seed picks the same rows
    from spa_vl.sources import resolve_source
    from spa_vl.tables import read_columns

    frame = read_columns(resolve_source(sample_dir), "train", "train", ["image_name", "question", "chosen", "rejected"]).to_pandas()
    ids = ablation.row_ids(frame)
    assert set(ids) == set(pool["row_id"])
    frame["class1"] = pool.set_index("row_id")["class1"][ids].to_numpy()
    by_content = ids[stratified_sample(frame, 40, "class1", 2)]
    by_id = pool.loc[stratified_sample(pool, 40, "class1", 2), "row_id"]
    assert len(by_content) == 40 and set(by_content) == set(by_id)


INVALID = [
    (lambda: ScaleLadder(sizes=[0, 5]), {}, "size 0 is invalid"),
    (lambda: ScaleLadder(sizes=[5], random_state=-1), {}, "random_state=-1"),
    (lambda: ScaleLadder(sizes=[5], strata=["colour"]), {}, "stratum column"),
    (lambda: QuestionTypeSubsets(), {}, "needs the rows in each subset: set n=1000|needs the rows in each subset: set n="),
    (lambda: QuestionTypeSubsets(n=-3), {}, "size -3 is invalid"),
    (lambda: QuestionTypeSubsets(n=10, random_state="zero"), {}, "random_state='zero'"),
    (lambda: TaxonomyCoverage(10, level="class9"), {}, "level='class9' is not a taxonomy level"),
    (lambda: TaxonomyCoverage(10, ks=[0, 2]), {}, "k must be 1.."),
    (lambda: ResponseModelSubsets(10, ms=[99]), {}, "m must be 1.."),
    (lambda: ResponseModelSubsets(10, groups={"x": ["GPT-9"]}), {}, r"unknown model\(s\) GPT-9"),
    (lambda: EmbeddingDiversitySubsets(10), {}, "one question embedding per pool row"),
    (lambda: EmbeddingDiversitySubsets(10), {"embeddings": np.zeros((3, 4))}, r"got shape \(3, 4\)"),
]


@pytest.mark.parametrize("make, inputs, message", INVALID)
def test_invalid_parameters_raise_at_sampling_time_not_construction(pool, make, inputs, message):
    sampler = make()  # the constructor only stores (scikit-learn): no error yet
    assert isinstance(sampler, Sampler)
    with pytest.raises(SpaVLError, match=message) as error:
        sampler.sample(pool, **inputs)
    assert "\n" not in str(error.value)


def test_the_registry_lists_every_recipe_and_drives_the_cli():
    defined = {
        cls for module in (ablation, recipes) for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, Sampler) and cls is not Sampler
    }
    assert set(RECIPES.values()) == defined
    assert list(RECIPES) == [cls.name for cls in RECIPES.values()]
    assert all(cls.description and "\n" not in cls.description for cls in RECIPES.values())
    parser = build_parser()
    ablate = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("ablate"))
    actions = {a.dest: a for a in ablate._actions}
    assert list(actions["recipe"].choices) == list(RECIPES)
    # argparse formats help with %, so the help holds each description with % escaped as %%
    assert all(cls.description.replace("%", "%%") in " ".join(actions["recipe"].help.split()) for cls in RECIPES.values())
    for cls in RECIPES.values():  # every CLI option a recipe reads exists, and is a constructor parameter
        fields = {f.name for f in dataclasses.fields(cls)}
        assert set(cls.cli_parameters) <= fields and set(cls.cli_parameters.values()) <= set(actions)
        assert set(cls.inputs) <= set(inspect.signature(cls.sample).parameters)


@pytest.mark.parametrize("recipe, argv, expected", [
    ("scale", ["--sizes", "5,9", "--seed", "4"], ScaleLadder(sizes=[5, 9], random_state=4)),
    ("scale", [], ScaleLadder()),
    ("question-type", ["--n", "7"], QuestionTypeSubsets(n=7)),
    ("taxonomy", ["--n", "7", "--level", "class2", "--k", "1,3", "--seed", "2"], TaxonomyCoverage(7, level="class2", ks=[1, 3], random_state=2)),
    ("response-models", ["--n", "7", "--models", "2,4"], ResponseModelSubsets(7, ms=[2, 4])),
    ("embedding", ["--n", "7", "--seed", "1"], EmbeddingDiversitySubsets(7, random_state=1)),
])
def test_cli_options_map_to_constructor_parameters(recipe, argv, expected):
    args = build_parser().parse_args(["ablate", "--recipe", recipe, *argv])
    assert RECIPES[recipe].from_cli(args).get_params() == expected.get_params()


def test_the_embedding_recipe_takes_its_embeddings_in_sample(pool):
    assert "embeddings" not in {f.name for f in dataclasses.fields(EmbeddingDiversitySubsets)}
    assert EmbeddingDiversitySubsets.inputs == ("embeddings",)
    x = np.random.default_rng(4).normal(size=(len(pool), 8))
    sampler = EmbeddingDiversitySubsets(12, random_state=3)
    first, second = sampler.sample(pool, embeddings=x), sampler.sample(pool, embeddings=x[:, ::-1].copy())
    assert [s.row_ids for s in first][1] == [s.row_ids for s in second][1]  # random: the ranker, not the vectors
    assert [s.metrics for s in first] != [s.metrics for s in second]


def test_subsets_hold_row_ids_and_resolve_rows_against_the_pool(pool):
    subset = ScaleLadder(sizes=[30], random_state=0).sample(pool)[0]
    assert [f.name for f in dataclasses.fields(Subset)] == ["name", "recipe", "parameters", "row_ids", "metrics"]
    assert isinstance(subset.row_ids, list) and len(subset) == 30
    rows = subset.rows_in(pool)
    assert rows["row_id"].tolist() == subset.row_ids
    assert rows[["file", "position"]].apply(tuple, axis=1).is_monotonic_increasing  # source order
    counts = subset.strata_counts(pool)
    assert sum(counts.values()) == 30
    assert counts == {f"{a}|{b}": n for (a, b), n in rows.groupby(["class1", "question_type"]).size().items()}
    with pytest.raises(SpaVLError, match=r"subset scale-30: 30 of 30 row id\(s\) .* are not in the pool"):
        subset.rows_in(pool.assign(row_id=pool["row_id"] + "x"))


def test_the_reports_frame_and_the_pool_have_the_same_row_ids(sample_dir, pool):
    from spa_vl.analysis.inputs.frames import labelled_frame
    from spa_vl.analysis.subsets.sampling import row_ids

    frame = labelled_frame(sample_dir, configs=["train"])
    assert set(row_ids(frame)) == set(pool["row_id"])
