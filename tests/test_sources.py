from pathlib import Path

import pytest

import spa_vl
from spa_vl.errors import SpaVLError
from spa_vl.sources import resolve_source


def test_offline_hub_id_fails_with_one_line_suggesting_a_mirror(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SpaVLError) as error:
        spa_vl.load_dataset("sqrti/SPA-VL", "validation")
    message = str(error.value)
    assert "\n" not in message
    assert "sqrti/SPA-VL" in message and "local mirror" in message and "'sample'" in message


def test_missing_folder_names_the_path(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(SpaVLError, match="does not exist") as error:
        resolve_source(str(missing))
    assert str(missing) in str(error.value)


def test_folder_not_in_hub_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SpaVLError, match="not in the SPA-VL hub layout.*README.md"):
        resolve_source(str(tmp_path))


def test_sample_source_is_built_once_into_the_cache():
    from spa_vl.errors import SourceError
    from spa_vl.opening import open_source

    with pytest.raises(SourceError, match="open_source"):  # the I/O layer never generates the sample
        resolve_source("sample")
    first = open_source("sample")
    second = open_source("sample")
    assert first.kind == "sample" and first.label == "sample" and first.root == second.root
    assert (Path(first.root) / "data" / "train-00000-of-00008.parquet").is_file()
    assert first.fingerprint == second.fingerprint


def test_mirror_with_the_real_hub_card(mirror):
    from helpers import REPO

    (mirror / "README.md").write_text((REPO / "tests/data/hub_card.md").read_text())
    for name, splits in [("default", ["train"]), ("validation", ["validation"]), ("test", ["harm", "help"])]:
        built = spa_vl.load_dataset(mirror, name)
        assert sorted(built) == sorted(splits)
        assert all(built[s].num_rows > 0 for s in splits)
