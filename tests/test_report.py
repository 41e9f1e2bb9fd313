import json
import re

import pytest
from PIL import Image

from analysis.embeddings import Encoder
from analysis.report import ReportSettings, build_report, compute_report
from analysis.render import write_report
from spa_vl import compute_stats
from spa_vl.cli import main
from spa_vl.errors import SpaVLError


@pytest.fixture(scope="module")
def report_dir(sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "r"
    assert main(["--quiet", "report", str(sample_dir), "--out", str(out), "--sample", "150"]) == 0
    return out


def test_report_files_open_and_reference_every_figure(report_dir):
    pngs = sorted(report_dir.glob("*.png"))
    assert {p.stem for p in pngs} == {
        "taxonomy", "question_type_heatmap", "category_mix_by_type", "lengths", "embedding_map", "diversity_curves"
    }
    html = (report_dir / "report.html").read_text()
    markdown = (report_dir / "report.md").read_text()
    for png in pngs:
        with Image.open(png) as image:
            image.load()
        assert f'href="{png.name}"' in html and f"({png.name})" in markdown
    assert len(re.findall(r'src="data:image/png;base64,', html)) == len(pngs)  # self-contained
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_report_numbers_equal_spa_vl_stats(report_dir, sample_dir):
    stats = json.loads((report_dir / "stats.json").read_text())
    expected = compute_stats(sample_dir)
    for key, entry in expected.items():
        assert stats[key] == entry
    diversity = stats["diversity"]
    assert diversity["sample_rows"] == 150 and diversity["train_rows"] == expected["train/train"]["rows"]
    assert set(diversity["fields"]) == {"question", "chosen", "rejected"}
    assert 1.0 <= diversity["fields"]["question"]["vendi_score"] <= 150
    assert set(diversity["train_eval_overlap"]) == {"eval/harm", "eval/help"}
    assert set(stats["balance"]["by_split"]) == {"class1", "class2", "class3", "question_type"}


def test_second_report_run_encodes_nothing(sample_dir, tmp_path):
    settings = ReportSettings(diversity_sample=60)
    first = compute_report(sample_dir, settings, progress=False, encoder=Encoder(cache_dir=tmp_path, progress=False))
    second = compute_report(sample_dir, settings, progress=False, encoder=Encoder(cache_dir=tmp_path, progress=False))
    assert first.stats["diversity"]["texts_encoded_this_run"] > 0
    assert second.stats["diversity"]["texts_encoded_this_run"] == 0
    assert first.stats["diversity"]["fields"] == second.stats["diversity"]["fields"]


def test_report_refuses_to_overwrite_unless_asked(report_dir, sample_dir):
    with pytest.raises(SpaVLError, match="--overwrite"):
        build_report(sample_dir, report_dir, ReportSettings(diversity_sample=20), progress=False)


def test_rewrite_replaces_the_folder_atomically(sample_dir, tmp_path):
    report = compute_report(sample_dir, ReportSettings(diversity_sample=30), progress=False)
    out = tmp_path / "r"
    write_report(report, out)
    (out / "stale.txt").write_text("old")
    write_report(report, out, overwrite=True)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temp folder left
