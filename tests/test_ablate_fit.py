"""`spa-vl ablate` fits the data it is given (issue 24): defaults adapt to the pool, suggestions work,
options a recipe does not read are refused."""

from __future__ import annotations

import re

import pytest

from spa_vl.analysis.subsets.ablation import DEFAULT_SIZES, default_sizes, train_pool
from spa_vl.cli import main


@pytest.fixture(scope="module")
def pool_rows() -> int:
    return len(train_pool("sample"))


def test_default_scale_ladder_is_the_papers_capped_at_the_pool(tmp_path, capsys, pool_rows):
    assert main(["ablate", "--out", str(tmp_path / "s"), "--format", "parquet"]) == 0
    out = capsys.readouterr().out
    expected = [s for s in DEFAULT_SIZES if s <= pool_rows]  # the definition: the paper's rungs that fit
    assert expected and expected == default_sizes(pool_rows)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(f"scale-{s}" for s in expected)
    assert f"capped at the pool's {pool_rows:,} rows" in out.splitlines()[0]


def test_default_sizes_of_a_tiny_pool_is_the_pool():
    assert default_sizes(40) == [40]
    assert default_sizes(100) == [100]


@pytest.mark.parametrize("recipe", ["question-type", "taxonomy", "response-models"])
def test_the_suggested_n_works(tmp_path, capsys, recipe):
    assert main(["ablate", "--out", str(tmp_path / "s"), "--recipe", recipe]) == 1
    err = capsys.readouterr().err
    suggested = re.search(r"set --n (\d+)", err)
    assert suggested, err
    n = int(suggested.group(1))
    assert main(["ablate", "--out", str(tmp_path / "s"), "--recipe", recipe, "--n", str(n), "--format", "parquet"]) == 0
    # and it is the largest that works: one more row fails for at least one subset
    assert main(["ablate", "--out", str(tmp_path / "t"), "--recipe", recipe, "--n", str(n + 1), "--format", "parquet"]) == 1


@pytest.mark.parametrize("argv, flag", [
    (["--recipe", "scale", "--n", "100"], "--n"),
    (["--recipe", "question-type", "--n", "10", "--sizes", "5"], "--sizes"),
    (["--recipe", "scale", "--level", "class2"], "--level"),
    (["--recipe", "embedding", "--n", "10", "--models", "2"], "--models"),
])
def test_options_a_recipe_does_not_read_are_refused(tmp_path, capsys, argv, flag):
    assert main(["ablate", "--out", str(tmp_path / "s"), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("spa-vl: error: ") and "\n" not in err
    assert f"does not use {flag}" in err
    assert not (tmp_path / "s").exists()
