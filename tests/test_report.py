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
    # every sampled number carries its n and a 95 % interval around it
    for field in diversity["fields"].values():
        for metric in ("vendi_score", "mean_pairwise_cosine_distance"):
            assert field[f"{metric}_ci_low"] <= field[metric] <= field[f"{metric}_ci_high"]
    for group in diversity["questions_by_class1"].values():
        if not group["too_small"]:
            assert group["vendi_score_ci_low"] <= group["vendi_score"] <= group["vendi_score_ci_high"] and group["n"] >= 2
    comparison = diversity["questions_by_class1_comparison"]["vendi_score"]
    k = sum(not g["too_small"] for g in diversity["questions_by_class1"].values())
    assert comparison["pairs"] == k * (k - 1) // 2 and 0 <= comparison["overlapping"] <= comparison["pairs"]
    # contamination runs over every train row, not the embedded sample
    contamination = stats["contamination"]
    assert contamination["train_rows"] == expected["train/train"]["rows"]
    for key in ("eval/harm", "eval/help"):
        split = contamination["by_split"][key]
        assert split["questions"] == expected[key]["rows"]
        assert split["exact"] <= split["lexical"] <= split["any"] and split["embedding"] <= split["any"]


def test_report_lists_contamination_pairs_with_both_texts(mirror, tmp_path):
    """A planted copy of a train question (re-spaced, re-cased) in eval/harm is reported with both texts."""
    import pyarrow.parquet as pq

    from helpers import rewrite_parquet, set_column

    train = pq.read_table(sorted((mirror / "data").glob("train-*.parquet"))[0], columns=["question"]).column("question").to_pylist()
    planted = "\n\n" + train[3].strip().upper() + "  "
    harm = mirror / "test" / "harm-00000-of-00001.parquet"
    rewrite_parquet(harm, lambda t: set_column(t, "question", [planted] + t.column("question").to_pylist()[1:]))
    out = tmp_path / "r"
    assert main(["--quiet", "report", str(mirror), "--out", str(out), "--sample", "40"]) == 0
    import pandas as pd

    pairs = pd.read_csv(out / "contamination_pairs.csv", keep_default_na=False)
    row = pairs[(pairs["eval_split"] == "eval/harm") & (pairs["eval_row"] == 0) & (pairs["kind"] == "exact")]
    assert len(row) == 1 and row["eval_question"].item() == planted and row["train_question"].item().split() == train[3].split()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["contamination"]["by_split"]["eval/harm"]["exact"] >= 1
    markdown = (out / "report.md").read_text()
    assert "contamination, every row" in markdown and "intervals overlap for" in markdown and "--full" in markdown
    assert set(stats["balance"]["by_split"]) == {"class1", "class2", "class3", "question_type"}


def test_second_report_run_encodes_nothing(sample_dir, tmp_path):
    settings = ReportSettings(diversity_sample=60)
    first = compute_report(sample_dir, settings, progress=False, encoder=Encoder(cache_dir=tmp_path, progress=False))
    second = compute_report(sample_dir, settings, progress=False, encoder=Encoder(cache_dir=tmp_path, progress=False))
    assert first.stats["diversity"]["texts_encoded_this_run"] > 0
    assert second.stats["diversity"]["texts_encoded_this_run"] == 0
    assert first.stats["diversity"]["fields"] == second.stats["diversity"]["fields"]


def test_report_refuses_to_overwrite_unless_asked(report_dir, sample_dir):
    with pytest.raises(SpaVLError, match="overwrite=True"):
        build_report(sample_dir, report_dir, ReportSettings(diversity_sample=20), progress=False)


def test_rewrite_replaces_the_folder_atomically(sample_dir, tmp_path):
    report = compute_report(sample_dir, ReportSettings(diversity_sample=30), progress=False)
    out = tmp_path / "r"
    write_report(report, out)
    (out / "stale.txt").write_text("old")
    write_report(report, out, overwrite=True)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temp folder left
