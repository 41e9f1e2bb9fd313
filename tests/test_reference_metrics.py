"""Every metric behind a number in ``stats.json`` against a slow, obvious reading of its definition.

Each test draws small random inputs (hypothesis) and compares the library's vectorised function with
an implementation written here from the textbook definition: pairs from ``itertools.combinations``,
the Vendi score from the eigenvalues of the n×n kernel, entropy and Jensen–Shannon from
``scipy``, the Wilson interval from its formula, counts with plain dicts. The five defects an
independent recomputation found (issue 20) each have a test here that failed on the old code.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from spa_vl.analysis.metrics import difficulty, distributions, diversity, images, response_models
from spa_vl.taxonomy import UNKNOWN

SETTINGS = settings(max_examples=40, deadline=None)
GROUP_NAMES = st.sampled_from(["Malicious Use", "Privacy", "Misinformation Harms", "Toxic", UNKNOWN])


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@st.composite
def embeddings(draw, min_rows: int = 2, max_rows: int = 12, max_dim: int = 10) -> np.ndarray:
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(2, max_dim))
    seed = draw(st.integers(0, 2**31 - 1))
    x = np.random.default_rng(seed).normal(size=(n, d))
    if draw(st.booleans()) and n > 2:  # planted repeats: identical rows are the hard case
        x[1] = x[0]
    return x


# --- diversity -----------------------------------------------------------------------------------

@SETTINGS
@given(embeddings())
def test_mean_pairwise_cosine_distance_is_the_mean_over_all_pairs(x):
    u = _unit(x)
    expected = np.mean([1.0 - float(u[i] @ u[j]) for i, j in itertools.combinations(range(len(u)), 2)])
    assert diversity.mean_pairwise_cosine_distance(x) == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(embeddings(min_rows=1, max_rows=14, max_dim=8))
def test_vendi_score_is_exp_entropy_of_the_n_by_n_kernel_on_both_routes(x):
    """Vendi (Friedman & Dieng 2023): exp of the Shannon entropy of the eigenvalues of K/n, K_ij = cos(x_i, x_j).

    Rows from 1 to 14 in 2 to 8 dimensions exercise both routes of the library (n < d: the n×n Gram
    matrix; n >= d: the d×d covariance), which have the same non-zero eigenvalues.
    """
    u = _unit(x)
    lam = np.linalg.eigvalsh(u @ u.T / len(u))
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()
    expected = math.exp(-sum(v * math.log(v) for v in lam))
    assert diversity.vendi_score(x) == pytest.approx(expected, rel=1e-7)


def _vendi_by_covariance(x: np.ndarray) -> float:
    """The d×d route written out: exp entropy of the eigenvalues of (1/n) Σ u_i u_iᵀ."""
    u = _unit(x)
    lam = np.linalg.eigvalsh(u.T @ u / len(u))
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()
    return math.exp(-sum(v * math.log(v) for v in lam))


@SETTINGS
@given(embeddings(min_rows=1, max_rows=8, max_dim=24).filter(lambda x: len(x) < x.shape[1]))
def test_vendi_from_the_gram_matrix_equals_the_covariance_route_when_rows_are_fewer_than_dimensions(x):
    """n < d: the n×n Gram matrix U Uᵀ/n and the d×d covariance Uᵀ U/n share their non-zero eigenvalues."""
    assert diversity.vendi_score(x) == pytest.approx(_vendi_by_covariance(x), rel=1e-9)


@settings(max_examples=10, deadline=None)
@given(embeddings(min_rows=4, max_rows=12, max_dim=24).filter(lambda x: len(x) < x.shape[1]), st.integers(0, 1000))
def test_vendi_bootstrap_interval_is_the_same_on_the_gram_and_covariance_routes(x, seed):
    fast = diversity.bootstrap_interval(x, diversity.vendi_score, n_resamples=20, random_state=seed)
    slow = diversity.bootstrap_interval(x, _vendi_by_covariance, n_resamples=20, random_state=seed)
    assert fast == pytest.approx(slow, rel=1e-7, abs=1e-9)


@SETTINGS
@given(embeddings(min_rows=2, max_rows=10), st.floats(0.5, 0.999))
def test_near_duplicate_rate_is_the_share_of_rows_with_a_close_other_row(x, threshold):
    u = _unit(x)
    close = {i for i, j in itertools.combinations(range(len(u)), 2) if float(u[i] @ u[j]) >= threshold} | {
        j for i, j in itertools.combinations(range(len(u)), 2) if float(u[i] @ u[j]) >= threshold
    }
    got = diversity.near_duplicate_rate(x, threshold)
    # rows exactly at the threshold may round either way; the definition holds away from it
    margins = [abs(float(u[i] @ u[j]) - threshold) for i, j in itertools.combinations(range(len(u)), 2)]
    if min(margins) > 1e-9:
        assert got == pytest.approx(len(close) / len(u))


@st.composite
def interval_tables(draw) -> pd.DataFrame:
    k = draw(st.integers(2, 7))
    values = draw(st.lists(st.floats(0, 10, allow_nan=False), min_size=k, max_size=k))
    widths = draw(st.lists(st.floats(0, 3, allow_nan=False), min_size=k, max_size=k))
    table = pd.DataFrame({"vendi_score": values}, index=[f"group {i}" for i in range(k)])
    table["vendi_score_ci_low"] = table["vendi_score"] - widths
    table["vendi_score_ci_high"] = table["vendi_score"] + widths
    if draw(st.booleans()):
        table.iloc[0, 1:] = np.nan  # a group without an interval is left out
    return table


@SETTINGS
@given(interval_tables())
def test_intervals_overlap_names_every_pair_of_distinct_groups_once(table):
    """Defect 1: the old inner loop swapped ``a, b`` and so rebound the outer variable (pairs repeated and missed)."""
    got = diversity.intervals_overlap(table, "vendi_score")
    valid = [g for g in table.index if np.isfinite(table.loc[g, "vendi_score_ci_low"])]
    expected = {}
    for a, b in itertools.combinations(valid, 2):
        low_a, high_a = table.loc[a, "vendi_score_ci_low"], table.loc[a, "vendi_score_ci_high"]
        low_b, high_b = table.loc[b, "vendi_score_ci_low"], table.loc[b, "vendi_score_ci_high"]
        expected[frozenset((a, b))] = low_a <= high_b and low_b <= high_a
    pairs = [frozenset((a, b)) for a, b in zip(got["a"], got["b"])]
    assert len(pairs) == len(set(pairs)) == len(expected) and all(len(p) == 2 for p in pairs)
    assert {p: bool(o) for p, o in zip(pairs, got["overlap"])} == expected
    assert (got["vendi_score_a"] >= got["vendi_score_b"]).all()  # a is the larger one


def test_group_diversity_leaves_unknown_out_and_counts_it():
    """Defect 5: one row without a class made "unknown" a group of 1 and collapsed every group to n = 2."""
    x = np.random.default_rng(0).normal(size=(31, 6))
    groups = ["Malicious Use"] * 15 + ["Privacy"] * 15 + [UNKNOWN]
    table = diversity.group_diversity(x, groups, random_state=0)
    assert set(table.index) == {"Malicious Use", "Privacy"}
    assert (table["n"] == 15).all() and table.attrs["unknown_left_out"] == 1


# --- distributions -------------------------------------------------------------------------------

count_maps = st.dictionaries(st.sampled_from(list("abcdefg")), st.integers(0, 50), min_size=1)


@SETTINGS
@given(count_maps)
def test_entropy_and_effective_number_follow_scipy(counts):
    total = sum(counts.values())
    if not total:
        return
    expected = scipy_entropy(list(counts.values()), base=2)
    assert distributions.shannon_entropy(counts) == pytest.approx(expected, abs=1e-12)
    assert distributions.effective_number(counts) == pytest.approx(2**expected, rel=1e-9)


@SETTINGS
@given(count_maps, count_maps)
def test_js_divergence_is_scipys_jensen_shannon_squared(p, q):
    labels = sorted(set(p) | set(q))
    a, b = [p.get(k, 0) for k in labels], [q.get(k, 0) for k in labels]
    got = distributions.js_divergence(p, q)
    if not sum(a) or not sum(b):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(jensenshannon(a, b, base=2) ** 2, abs=1e-9)


@st.composite
def labelled_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    return pd.DataFrame({
        "split": draw(st.lists(st.sampled_from(["train/train", "validation/validation"]), min_size=n, max_size=n)),
        "class1": draw(st.lists(GROUP_NAMES, min_size=n, max_size=n)),
    })


@SETTINGS
@given(labelled_frames())
def test_counts_balance_and_divergence_count_known_labels_with_dicts(frame):
    """Defect 5: unknown is never a label of a distribution, so an all-unknown split has no divergence (not 1 bit)."""
    counts = distributions.counts_by_split(frame, "class1")
    for split in frame["split"].unique():
        plain = Counter(c for s, c in zip(frame["split"], frame["class1"]) if s == split)
        assert {k: v for k, v in counts[split].items() if v} == dict(plain)
    known = {s: Counter(c for t, c in zip(frame["split"], frame["class1"]) if t == s and c != UNKNOWN) for s in frame["split"].unique()}
    balance = distributions.balance_by_split(frame, "class1")
    divergence = distributions.divergence_between_splits(frame, "class1")
    for s, plain in known.items():
        assert balance.loc[s, "rows"] == sum(plain.values())
        if plain:
            assert balance.loc[s, "entropy_bits"] == pytest.approx(scipy_entropy(list(plain.values()), base=2), abs=1e-12)
    splits = list(known)
    for a, b in itertools.combinations(splits, 2):
        if known[a] and known[b]:
            labels = sorted(set(known[a]) | set(known[b]))
            expected = jensenshannon([known[a][k] for k in labels], [known[b][k] for k in labels], base=2) ** 2
            assert divergence.loc[a, b] == pytest.approx(expected, abs=1e-9)
        else:
            assert math.isnan(divergence.loc[a, b])
    assert distributions.unknown_by_split(frame, "class1") == {
        s: sum(1 for t, c in zip(frame["split"], frame["class1"]) if t == s and c == UNKNOWN) for s in frame["split"].unique()
    }


# --- difficulty ----------------------------------------------------------------------------------

@st.composite
def text_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(1, 25))
    words = st.lists(st.sampled_from(["a", "bb", "ccc", "  ", "\n"]), max_size=8).map(" ".join)
    chosen = draw(st.lists(st.one_of(st.none(), words), min_size=n, max_size=n))
    return pd.DataFrame({
        "split": ["validation/validation" if c is not None else "eval/harm" for c in chosen],
        "question_type": draw(st.lists(st.sampled_from(["easy", UNKNOWN]), min_size=n, max_size=n)),
        "class1": "Privacy",
        "question": draw(st.lists(words, min_size=n, max_size=n)),
        "chosen": pd.Series(chosen, dtype=object),
    })


@SETTINGS
@given(text_frames())
def test_text_lengths_count_whitespace_tokens_of_the_texts_present(frame):
    """Defect 2: missing answers (eval has none) were measured as empty strings of 0 words."""
    got = difficulty.text_length_stats(frame, ("question", "chosen"))
    for qtype in frame["question_type"].unique():
        for column in ("question", "chosen"):
            present = [t for t, q in zip(frame[column], frame["question_type"]) if q == qtype and t is not None]
            if not present:
                assert (qtype, column) not in got.index
                continue
            n_words = [len(t.split()) for t in present]
            row = got.loc[(qtype, column)]
            assert row["count"] == len(present)
            assert row["mean_words"] == pytest.approx(sum(n_words) / len(n_words))
            assert row["max_words"] == max(n_words)
            assert row["empty"] == sum(1 for t in present if not t.strip())


def test_category_mix_and_balance_by_type_leave_unknown_out():
    frame = pd.DataFrame({"question_type": ["easy", "easy", "hardq", UNKNOWN], "class1": ["A", UNKNOWN, "B", "A"]})
    assert set(difficulty.balance_by_type(frame).index) == {"easy", "hardq"}
    mix = difficulty.category_mix_by_type(frame)
    assert UNKNOWN not in mix.index and UNKNOWN not in mix.columns and np.allclose(mix.sum(), 1.0)


# --- intervals -----------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=6))
def test_wilson_interval_follows_its_formula(cases):
    successes = np.array([min(k, n) for k, n in cases])
    trials = np.array([n for _, n in cases])
    low, high = response_models.wilson_interval(successes, trials)
    z = 1.959964
    for k, n, lo, hi in zip(successes, trials, low, high):
        if n == 0:
            assert math.isnan(lo) and math.isnan(hi)
            continue
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert lo == pytest.approx(max(0.0, centre - half), abs=1e-12)
        assert hi == pytest.approx(min(1.0, centre + half), abs=1e-12)


# --- images --------------------------------------------------------------------------------------

@st.composite
def image_tables(draw) -> pd.DataFrame:
    names = draw(st.lists(st.sampled_from([f"{i}.jpg" for i in range(8)]), min_size=2, max_size=24))
    content = draw(st.dictionaries(st.sampled_from([f"{i}.jpg" for i in range(8)]), st.sampled_from("pqrstu"), min_size=8, max_size=8))
    return pd.DataFrame({
        "split": "train/train", "row": range(len(names)), "image_name": names,
        "sha256": [content[n] * 8 for n in names], "hash64": np.arange(len(names), dtype=np.uint64) << np.uint64(40),
        "format": "JPEG", "width": 8, "height": 8, "bytes": 10,
    })


@SETTINGS
@given(image_tables())
def test_reuse_of_one_image_name_is_not_counted_as_duplication(images_table):
    """Defect 4: three questions about one image read as "exact duplicates"; only the same bytes under two names are."""
    summary = images.find_duplicates(images_table, threshold=0).summary.set_index("kind")
    per_name = Counter(images_table["image_name"])
    assert summary.loc["reuse", "duplicated_images"] == sum(1 for c in per_name.values() if c > 1)
    assert summary.loc["reuse", "duplicated_rows"] == sum(c for c in per_name.values() if c > 1)
    names_of: dict[str, set[str]] = {}
    for name, sha in zip(images_table["image_name"], images_table["sha256"]):
        names_of.setdefault(sha, set()).add(name)
    shared = {sha for sha, names in names_of.items() if len(names) > 1}
    assert summary.loc["exact", "duplicated_images"] == len(shared)
    assert summary.loc["exact", "pairs"] == sum(math.comb(len(names_of[s]), 2) for s in shared)
    assert summary.loc["exact", "duplicated_rows"] == int(images_table["sha256"].isin(shared).sum())


# --- response models -----------------------------------------------------------------------------

MODELS = st.sampled_from(["gpt4v", "llava", "qwen", UNKNOWN])


@SETTINGS
@given(st.lists(st.tuples(MODELS, MODELS, GROUP_NAMES), min_size=1, max_size=30))
def test_model_outcomes_count_wins_and_losses_with_dicts(rows):
    frame = pd.DataFrame(rows, columns=["chosen_model", "rejected_model", "class1"])
    for by in (None, "class1"):
        got = response_models.model_outcomes(frame, by=by)
        chosen: Counter = Counter()
        rejected: Counter = Counter()
        for c, r, g in rows:
            if UNKNOWN in (c, r) or (by and g == UNKNOWN):
                continue
            key = (g,) if by else ()
            chosen[(*key, c)] += 1
            rejected[(*key, r)] += 1
        keys = [by] if by else []
        table = {tuple(row[[*keys, "model"]]): (row["chosen"], row["rejected"]) for _, row in got.iterrows()}
        assert table == {k: (chosen[k], rejected[k]) for k in set(chosen) | set(rejected)}
        for _, row in got.iterrows():
            assert row["chosen share"] == pytest.approx(row["chosen"] / (row["chosen"] + row["rejected"]))


# --- contamination -------------------------------------------------------------------------------

WORDS = st.sampled_from(["how", "to", "make", "a", "bomb", "hack", "bank", "steal", "data", "safely"])
QUESTIONS = st.lists(WORDS, min_size=3, max_size=9).map(" ".join)


def _shingle_set(text: str, k: int = 3) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i:i + k]) for i in range(len(words) - k + 1)} if len(words) >= k else ({tuple(words)} if words else set())


@settings(max_examples=25, deadline=None)
@given(st.lists(QUESTIONS, min_size=1, max_size=12), st.lists(QUESTIONS, min_size=1, max_size=6))
def test_exact_and_lexical_twins_are_every_pair_over_the_threshold_by_exact_jaccard(train, evals):
    """The MinHash/LSH stage only proposes candidates; every pair at exact Jaccard >= 0.7 must be found.

    Tolerance: a pair at J >= 0.7 is missed by the 32 bands of 4 with probability below 0.00015, so
    across these small draws the found set must equal the all-pairs definition exactly.
    """
    from spa_vl.analysis.metrics.contamination import ContaminationIndex

    index = ContaminationIndex(max_matches=100).fit(train)
    pairs, counts = index.find(evals, split="eval/harm")
    distinct = list(dict.fromkeys(train))

    def jaccard(a: str, b: str) -> float:
        x, y = _shingle_set(a), _shingle_set(b)
        return len(x & y) / len(x | y) if x | y else 0.0

    exact = {(i, distinct.index(q)) for i, q in enumerate(evals) if q in distinct}
    lexical = set()
    for i, q in enumerate(evals):
        for j, t in enumerate(distinct):
            if (i, j) not in exact and jaccard(q, t) >= index.jaccard_threshold:
                lexical.add((i, j))
    got = {(int(r.eval_row), distinct.index(r.train_question)): r.kind for r in pairs.itertuples()}
    assert {k for k, v in got.items() if v == "exact"} == exact
    assert {k for k, v in got.items() if v == "lexical"} == lexical
    assert counts["exact"] == len({i for i, _ in exact})
    # an eval question counts as lexically contaminated when any train question (its exact twin too) is over the threshold
    assert counts["lexical"] == sum(any(jaccard(q, t) >= index.jaccard_threshold for t in distinct) for q in evals)


def _half_sample_interval(x: np.ndarray, metric, n_resamples: int, seed: int, confidence: float = 0.95) -> tuple[float, float]:
    """The half-sample bootstrap written out: resamples of n // 2 rows without replacement, drawn one after
    another from one seeded generator; quantiles of their spread around their mean, scaled by
    sqrt(m / (n - m)), subtracted from the metric of all rows."""
    n, m = len(x), len(x) // 2
    rng = np.random.default_rng(seed)
    values = np.array([metric(x[np.sort(rng.choice(n, size=m, replace=False))]) for _ in range(n_resamples)])
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values - values.mean(), [alpha, 1 - alpha]) * math.sqrt(m / (n - m))
    return metric(x) - high, metric(x) - low


def _mean_distance_over_pairs(x: np.ndarray) -> float:
    u = _unit(x)
    return float(np.mean([1.0 - float(u[i] @ u[j]) for i, j in itertools.combinations(range(len(u)), 2)]))


def _vendi_by_kernel(x: np.ndarray) -> float:
    u = _unit(x)
    lam = np.linalg.eigvalsh(u @ u.T / len(u))
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()
    return math.exp(-sum(v * math.log(v) for v in lam))


@settings(max_examples=15, deadline=None)
@given(embeddings(min_rows=4, max_rows=14, max_dim=12), st.integers(0, 1000))
def test_bootstrap_diversity_of_all_resamples_at_once_is_the_half_sample_interval_of_the_textbook_metrics(x, seed):
    """bootstrap_diversity evaluates every resample at once (Gram sub-blocks or covariances, stacked eigen-
    decompositions; one product for the mean distance): the same interval as one resample at a time."""
    got = diversity.bootstrap_diversity(x, n_resamples=20, random_state=seed)
    for k, (name, textbook) in enumerate([("mean_pairwise_cosine_distance", _mean_distance_over_pairs), ("vendi_score", _vendi_by_kernel)]):
        assert diversity.BOOTSTRAP_METRICS[k] == name  # metric k is seeded with seed + k
        expected = _half_sample_interval(x, textbook, 20, seed + k)
        assert (got[f"{name}_ci_low"], got[f"{name}_ci_high"]) == pytest.approx(expected, rel=1e-7, abs=1e-9)
