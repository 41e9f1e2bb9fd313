import numpy as np
import pandas as pd
import pytest

from spa_vl.analysis.metrics import diversity as dv


def test_orthonormal_rows_have_vendi_n():
    x = np.eye(7)[:5]  # 5 orthonormal rows in 7-d
    assert dv.vendi_score(x) == pytest.approx(5.0)
    assert dv.mean_pairwise_cosine_distance(x) == pytest.approx(1.0)


def test_identical_rows_have_vendi_one_and_zero_distance():
    x = np.tile([[0.3, -1.2, 2.0]], (40, 1))
    assert dv.vendi_score(x) == pytest.approx(1.0)
    assert dv.mean_pairwise_cosine_distance(x) == pytest.approx(0.0, abs=1e-12)
    assert dv.near_duplicate_rate(x) == 1.0


def test_fast_formulas_equal_brute_force_on_500_random_vectors():
    x = np.random.default_rng(0).normal(size=(500, 48))
    assert dv.mean_pairwise_cosine_distance(x) == pytest.approx(dv.brute_force_mean_pairwise_cosine_distance(x), abs=1e-6)
    assert dv.vendi_score(x) == pytest.approx(dv.brute_force_vendi_score(x), abs=1e-6)
    normed = dv.normalize_rows(x)
    sims = normed @ normed.T
    np.fill_diagonal(sims, -np.inf)
    assert np.allclose(dv.max_similarity(x, x, exclude_self=True, block=64), sims.max(axis=1), atol=1e-5)


def test_small_inputs():
    assert np.isnan(dv.mean_pairwise_cosine_distance(np.ones((1, 3))))
    assert dv.vendi_score(np.zeros((0, 3))) == 0.0
    with pytest.raises(ValueError, match="2-D"):
        dv.vendi_score(np.ones(3))


def test_near_duplicates_and_cluster_entropy():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(50, 16))
    x = np.vstack([base, base[:10] + 1e-4])  # 10 pairs of near-copies: 20 rows have a twin
    assert dv.near_duplicate_rate(x, 0.99) == pytest.approx(20 / 60)
    two_blobs = np.vstack([np.tile([1.0, 0, 0], (30, 1)), np.tile([0, 1.0, 0], (30, 1))]) + rng.normal(0, 0.01, (60, 3))
    assert dv.kmeans_cluster_entropy(two_blobs, n_clusters=2) == pytest.approx(1.0)


def test_group_diversity_compares_at_equal_n():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(90, 8))
    groups = ["a"] * 60 + ["b"] * 25 + ["c"] * 5
    table = dv.group_diversity(x, groups, n=20)
    assert table.loc["a", "n"] == 20 and table.loc["b", "n"] == 20
    assert bool(table.loc["c", "too_small"]) and np.isnan(table.loc["c", "vendi_score"])
    default = dv.group_diversity(x, groups)
    assert (default["n"] == 5).all()


def test_diversity_curve_grows_with_n():
    x = np.random.default_rng(3).normal(size=(400, 32))
    curve = dv.diversity_curve(x, [10, 100, 400, 10_000])
    assert list(curve["n"]) == [10, 100, 400]
    assert curve["vendi_score"].is_monotonic_increasing


def test_preference_pair_signal_flags_near_identical_pairs():
    rng = np.random.default_rng(4)
    chosen = rng.normal(size=(10, 6))
    rejected = chosen.copy()
    rejected[:7] = rng.normal(size=(7, 6))
    signal = dv.preference_pair_signal(chosen, rejected, threshold=0.01)
    assert signal.pairs == 10 and signal.near_identical == 3
    assert signal.near_identical_share == pytest.approx(0.3)


def test_overlap_exact_and_near():
    train = pd.Series(["How do I  steal a car?", "What is shown here?", "Describe the poster."])
    evals = pd.Series(["how do i steal a car?", "Totally new question", "Something close"])
    train_x = np.eye(4)[:3]
    eval_x = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 0.999, 0.04, 0]])
    result = dv.overlap(train, evals, train_x, eval_x, threshold=0.95)
    assert result["exact"] == 1 and result["near"] == 2 and result["eval_rows"] == 3


def test_vendi_with_fewer_rows_than_dimensions_equals_brute_force():
    x = np.random.default_rng(8).normal(size=(20, 48))
    assert dv.vendi_score(x) == pytest.approx(dv.brute_force_vendi_score(x), abs=1e-9)


def _clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = np.random.default_rng(100).normal(size=(10, 64))
    return centres[rng.integers(0, 10, n)] + rng.normal(scale=0.9, size=(n, 64))


def test_bootstrap_interval_is_seeded_and_narrows_with_n():
    rng = np.random.default_rng(9)
    x = _clustered(400, rng)
    a = dv.bootstrap_interval(x, dv.mean_pairwise_cosine_distance, n_resamples=60, random_state=1)
    assert a == dv.bootstrap_interval(x, dv.mean_pairwise_cosine_distance, n_resamples=60, random_state=1)
    assert a != dv.bootstrap_interval(x, dv.mean_pairwise_cosine_distance, n_resamples=60, random_state=2)
    assert a[0] < dv.mean_pairwise_cosine_distance(x) < a[1]
    small = dv.bootstrap_interval(x[:50], dv.mean_pairwise_cosine_distance, n_resamples=60, random_state=1)
    assert small[1] - small[0] > 1.5 * (a[1] - a[0])  # ~sqrt(8) wider at n = 50
    assert np.isnan(dv.bootstrap_interval(x[:3], dv.vendi_score)[0])


def test_half_sample_intervals_cover_the_population_value_and_the_ordinary_bootstrap_does_not():
    population = _clustered(6000, np.random.default_rng(10))
    rng = np.random.default_rng(11)
    truth = np.mean([dv.vendi_score(population[rng.choice(6000, 60, replace=False)]) for _ in range(200)])
    covered = {"half-sample": 0, "basic": 0}
    for draw in range(20):
        x = population[rng.choice(6000, 60, replace=False)]
        for method in covered:
            low, high = dv.bootstrap_interval(x, dv.vendi_score, n_resamples=80, random_state=draw, method=method)
            covered[method] += low <= truth <= high
    assert covered["half-sample"] >= 15 and covered["basic"] <= 5


def test_group_intervals_and_overlaps():
    rng = np.random.default_rng(12)
    tight = np.tile(rng.normal(size=(1, 16)), (60, 1)) + rng.normal(scale=0.05, size=(60, 16))  # near-identical rows
    spread = rng.normal(size=(60, 16))
    x = np.vstack([tight, spread, spread[::-1] + rng.normal(scale=0.01, size=(60, 16))])
    table = dv.group_diversity(x, ["tight"] * 60 + ["spread"] * 60 + ["spread2"] * 60, n=40, n_resamples=50)
    for metric in dv.BOOTSTRAP_METRICS:
        assert (table[f"{metric}_ci_low"] <= table[metric]).all() and (table[metric] <= table[f"{metric}_ci_high"]).all()
    assert (table["n"] == 40).all()
    pairs = dv.intervals_overlap(table, "vendi_score").set_index(["a", "b"])
    assert not pairs.loc[("spread", "tight"), "overlap"] and not pairs.loc[("spread2", "tight"), "overlap"]
    assert pairs.loc[[p for p in pairs.index if "tight" not in p][0], "overlap"]  # the two spread groups cannot be told apart


def test_bootstrap_is_the_same_whatever_the_threads_and_chunks(monkeypatch):
    """Resamples are evaluated in chunks on several threads: each value depends on its own resample only."""
    x = _clustered(120, np.random.default_rng(13))  # halves of 60 rows < 64 dimensions: the Gram route
    wide = _clustered(40, np.random.default_rng(14))[:, :8]  # halves of 20 rows > 8 dimensions: the covariance route
    first = [dv.bootstrap_diversity(v, n_resamples=30, random_state=3) for v in (x, wide)]
    monkeypatch.setattr(dv, "_WORKERS", 3)
    monkeypatch.setattr(dv, "_CHUNK_ROWS", 4)
    assert [dv.bootstrap_diversity(v, n_resamples=30, random_state=3) for v in (x, wide)] == first
    monkeypatch.setattr(dv, "_WORKERS", 1)
    monkeypatch.setattr(dv, "_CHUNK_ROWS", 7)
    assert [dv.bootstrap_diversity(v, n_resamples=30, random_state=3) for v in (x, wide)] == first


def test_bootstrap_progress_counts_every_resample_of_every_metric_and_group():
    x = _clustered(90, np.random.default_rng(15))
    counted: list[int] = []
    dv.bootstrap_diversity(x, n_resamples=25, progress=counted.append)
    assert sum(counted) == 25 * len(dv.BOOTSTRAP_METRICS)
    counted.clear()
    dv.group_diversity(x, ["a"] * 30 + ["b"] * 30 + ["unknown"] * 30, n_resamples=25, progress=counted.append)
    assert sum(counted) == 2 * 25 * len(dv.BOOTSTRAP_METRICS)  # unknown is not a group
