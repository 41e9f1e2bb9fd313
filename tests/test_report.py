import itertools
import json
import re
from html import escape

import numpy as np
import pytest
from PIL import Image

from spa_vl import compute_stats
from spa_vl.analysis.embeddings.backends import BACKENDS
from spa_vl.analysis.embeddings.encoder import Encoder
from spa_vl.analysis.inputs.frames import labelled_frame
from spa_vl.analysis.report.build import ReportSettings, build_report, compute_report
from spa_vl.analysis.report.estimate import duration, estimate_encoding, texts_to_encode
from spa_vl.analysis.report.render import TIMINGS_END, TIMINGS_START, jsonable, strip_timings, write_report
from spa_vl.analysis.report.sections import SectionInputs, registered_sections
from spa_vl.cli import build_parser, main
from spa_vl.errors import SpaVLError


@pytest.fixture(scope="module")
def report(sample_dir):
    return compute_report(sample_dir, ReportSettings(diversity_sample=150), progress=False)


@pytest.fixture(scope="module")
def report_dir(report, tmp_path_factory):
    return write_report(report, tmp_path_factory.mktemp("report") / "r")


def test_report_files_open_and_reference_every_figure(report, report_dir):
    declared = [p for s in report.sections for p in s.figures()]
    assert len(declared) == len({p.name for p in declared}) >= 11  # names are unique: one PNG each
    pngs = sorted(report_dir.glob("*.png"))
    assert {p.stem for p in pngs} == {p.name for p in declared}
    html = (report_dir / "report.html").read_text()
    markdown = (report_dir / "report.md").read_text()
    for plot in declared:
        png = report_dir / f"{plot.name}.png"
        with Image.open(png) as image:
            image.load()
        assert f'href="{png.name}"' in html and f"![{plot.title}]({png.name})" in markdown
    assert len(re.findall(r'src="data:image/png;base64,', html)) == len(pngs)  # self-contained
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_every_declared_table_is_rendered_under_its_title(report, report_dir):
    html = (report_dir / "report.html").read_text()
    markdown = (report_dir / "report.md").read_text()
    tables = [t for s in report.sections for t in s.tables()]
    assert len(tables) == len({t.name for t in tables}) and set(report.tables) == {t.name for t in tables}
    for table in tables:
        assert f"### {table.title}\n" in markdown and f"<h3>{escape(table.title)}</h3>" in html
    # every section with something to show is a heading, in the order the sections were computed
    headings = re.findall(r"^## (.+)$", strip_timings(markdown), flags=re.M)
    assert headings == [s.title for s in report.sections if s.tables() or s.figures()]
    assert [type(s) for s in report.sections] == registered_sections()
    # a preview table writes all its rows as CSV beside the report
    for table in (t for t in tables if t.csv is not None):
        assert (report_dir / f"{table.name}.csv").is_file() and len(table.frame) <= len(table.csv)


def test_timings_per_stage_in_a_marked_footer_and_timings_json(report, report_dir):
    timings = json.loads((report_dir / "timings.json").read_text())
    stages = [t["stage"] for t in timings["stages"]]
    assert stages == ["read labels and texts", *(cls.stage for cls in registered_sections()), "write figures"]
    assert all(t["seconds"] >= 0 for t in timings["stages"])
    assert timings["total_seconds"] == pytest.approx(sum(t["seconds"] for t in timings["stages"]), abs=0.01)
    assert timings["texts_encoded"] == sum(t["texts_encoded"] for t in timings["stages"]) == report.texts_encoded
    assert set(timings["contamination_seconds"]) >= {"exact", "lexical"} and timings["encoder"]["backend"] == "torch"
    for name in ("report.md", "report.html"):
        page = (report_dir / name).read_text()
        assert page.count(TIMINGS_START) == page.count(TIMINGS_END) == 1
        footer = page[page.index(TIMINGS_START): page.index(TIMINGS_END)]
        assert all(stage in footer for stage in stages)
        rest = strip_timings(page)
        assert TIMINGS_START not in rest and "Timings of this run" not in rest
    stats = (report_dir / "stats.json").read_text()
    assert "texts_encoded" not in stats and '"seconds"' not in stats  # run-dependent numbers stay out of stats.json


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
    encoded = {t.stage: t.texts_encoded for t in first.timings}
    assert encoded["embedding diversity"] > 0 and encoded["train↔eval contamination"] > 0
    assert second.texts_encoded == 0 and first.texts_encoded == sum(encoded.values())
    assert jsonable(first.stats) == jsonable(second.stats)  # the numbers do not depend on what the cache held (NaN as None)


def test_full_run_estimate_counts_uncached_texts_and_measures_throughput(sample_dir, tmp_path):
    frame = labelled_frame(sample_dir)
    encoder = Encoder(cache_dir=tmp_path, progress=False)
    inputs = SectionInputs(sample_dir, frame, ReportSettings(diversity_sample=30, contamination_embeddings=False), encoder)
    texts = texts_to_encode(inputs)
    sample = inputs.diversity_sample
    assert set(texts["questions"]) == set(sample["question"].fillna("")) and len(texts["questions"]) == len(set(texts["questions"]))
    assert set(texts["responses"]) == set(sample["chosen"].fillna("")) | set(sample["rejected"].fillna(""))
    first = estimate_encoding(inputs, {"questions": 8, "responses": 4})
    # the calibration batches are encoded once (into the cache) and not counted again
    assert first.questions == len(texts["questions"]) - 8 and first.responses == len(texts["responses"]) - 4
    assert first.questions_per_second > 0 and first.responses_per_second > 0 and first.seconds > 0
    assert f"{first.questions:,} questions and {first.responses:,} responses not yet cached: about " in first.describe()
    encoder.encode(texts["questions"] + texts["responses"])
    cached = estimate_encoding(inputs)
    assert (cached.questions, cached.responses, cached.seconds) == (0, 0, 0)
    assert cached.describe().startswith("nothing")
    with_contamination = SectionInputs(sample_dir, frame, ReportSettings(diversity_sample=30), encoder)
    assert len(texts_to_encode(with_contamination)["questions"]) == len(set(frame.loc[frame["split"] != "validation/validation", "question"].fillna("")))
    assert [duration(s) for s in (0.2, 59, 90, 6000)] == ["1 s", "59 s", "2 min", "1 h 40 min"]


def test_backend_reaches_the_encoder(sample_dir):
    assert build_parser().parse_args(["report", "--backend", "onnx"]).backend == "onnx"
    assert [a for a in build_parser()._subparsers._group_actions[0].choices["report"]._actions if a.dest == "backend"][0].choices == list(BACKENDS)
    with pytest.raises(SpaVLError, match="encoder backend 'tpu' is unknown"):
        compute_report(sample_dir, ReportSettings(backend="tpu"), progress=False)


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


def test_report_reads_image_info_when_the_source_has_it(report):
    """Defect 3 of issue 20: the report never asked for image_info, so its image sections said "no image_info"."""
    images = next(s for s in report.sections if s.key == "images")
    numbers = images.numbers()
    assert isinstance(numbers["size_agreement"], dict) and numbers["size_agreement"]
    assert isinstance(numbers["image_info_by_class1"], dict) and numbers["image_info_by_class1"]
    assert not any(k.startswith("unknown /") for k in numbers["image_info_by_class1"])  # unknown is never a group


def test_image_summary_tells_reuse_by_design_from_duplicates(report, sample_dir):
    """Defect 4: one image_name in three rows (easy, hardq, hards) is reuse, not an exact duplicate."""
    images = next(s for s in report.sections if s.key == "images")
    frame = labelled_frame(sample_dir, configs=["train"], text_columns=())
    per_name = frame["image_name"].value_counts()
    table = images.duplicates.set_index(["scope", "kind"])
    assert table.loc[("train/train", "reuse"), "duplicated_images"] == (per_name > 1).sum() > 0
    assert table.loc[("train/train", "exact"), "duplicated_images"] < (per_name > 1).sum()
    line = images.summary()[0]
    assert f"{(per_name > 1).sum():,} of {len(per_name):,} image names are asked about in more than one row" in line


def test_every_claimed_comparison_is_a_distinct_pair_that_the_tables_separate(report):
    """Defect 1: each "separated: A > B" of the summary is a pair of two groups, named once, whose intervals in
    the section's own table do not overlap and whose values order them; the overlap count is the table's."""
    section = next(s for s in report.sections if s.key == "diversity")
    lines = [line for line in section.summary() if "intervals overlap for" in line]
    assert lines
    for (group, _label), table in zip(((g, lab) for g, lab in (("class1", "domains"), ("question_type", "question types"))),
                                      (section.by_group["class1"], section.by_group["question_type"])):
        for metric in ("vendi_score", "mean_pairwise_cosine_distance"):
            line = next((x for x in lines if x.startswith(f"- Question {metric.replace('_', ' ')} of")
                         and ("domains" if group == "class1" else "question types") in x), None)
            if line is None:
                continue
            valid = [g for g in table.index if np.isfinite(table.loc[g, f"{metric}_ci_low"])]
            overlap = {frozenset((a, b)): bool(table.loc[a, f"{metric}_ci_low"] <= table.loc[b, f"{metric}_ci_high"]
                                               and table.loc[b, f"{metric}_ci_low"] <= table.loc[a, f"{metric}_ci_high"])
                       for a, b in itertools.combinations(valid, 2)}
            counted = re.search(r"intervals overlap for (\d+) of (\d+) pairs", line)
            assert counted and (int(counted[1]), int(counted[2])) == (sum(overlap.values()), len(overlap))
            claimed = re.findall(r"([^,;:]+?) > ([^,;]+)", line.split("separated: ", 1)[1]) if "separated: " in line else []
            pairs = [frozenset((a.strip(), b.strip())) for a, b in claimed]
            assert len(pairs) == len(set(pairs)) and all(len(p) == 2 for p in pairs)
            assert set(pairs) == {p for p, o in overlap.items() if not o}
            for a, b in claimed:
                assert table.loc[a.strip(), metric] >= table.loc[b.strip(), metric]


def _screen(stream: str) -> list[str]:
    """What a terminal shows after ``stream``: carriage return, line feed, cursor up (ESC[nA) and
    erase to the end of the line (ESC[K) are applied; other text overwrites at the cursor."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[(\d*)([A-Za-z])|(\r)|(\n)|([^\x1b\r\n])", stream):
        count, code, cr, lf, char = token
        if cr:
            col = 0
        elif lf:
            row, col = row + 1, 0
        elif code == "A":
            row = max(0, row - int(count or 1))
        elif code == "K":
            lines[row] = lines[row][:col]
        elif char:
            while len(lines) <= row:
                lines.append("")
            line = lines[row].ljust(col)
            lines[row], col = line[:col] + char + line[col + 1 :], col + 1
        while len(lines) <= row:
            lines.append("")
    return [line.rstrip() for line in lines if line.strip()]


def test_bars_inside_a_stage_leave_one_line_per_stage_on_a_terminal(sample_dir, capsys):
    """Issue 24: nested bars left debris. A stage's inner bars (image hashes, bootstrap resamples, encoded
    texts) take the next line and are erased when done; the stage's own line stays."""
    from spa_vl.analysis.report.build import _stage
    from spa_vl.analysis.report.sections import Report
    from spa_vl.progress import progress_bar

    report, encoder = Report(source="sample", settings=ReportSettings()), Encoder(progress=False)
    for i, stage in enumerate(("first stage", "second stage"), start=1):
        with _stage(report, encoder, stage, f"{i}/2", True):
            for inner in ("image hashes", "bootstrap"):
                with progress_bar(3, inner, "img", enabled=True, mininterval=0) as bar:
                    for _ in range(3):
                        bar.update()
    shown = _screen(capsys.readouterr().err)
    assert [line.split(":")[0] for line in shown] == ["report 1/2 first stage", "report 2/2 second stage"], shown
    with progress_bar(2, "alone", enabled=True, mininterval=0) as bar:  # a bar of its own (spa-vl embed) stays
        bar.update(2)
    assert _screen(capsys.readouterr().err)[-1].startswith("alone: 100%")
    with _stage(report, encoder, "quiet", "1/1", False), progress_bar(3, "inner", enabled=False) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""  # --quiet (and a stderr that is not a terminal): nothing


def test_bootstrap_intervals_are_kept_in_the_cache_and_come_back_unchanged(monkeypatch):
    """A warm report reads the diversity intervals (issue 25: the bootstrap was most of a warm run); a cached
    entry is the computed one, float for float, and other vectors, seeds or code compute anew."""
    from spa_vl.analysis.metrics import diversity
    from spa_vl.analysis.report import build

    x = np.random.default_rng(21).normal(size=(40, 16)).astype(np.float32)
    first = build.cached_bootstrap(x, n_resamples=30, random_state=2)
    assert first == diversity.bootstrap_diversity(x, n_resamples=30, random_state=2)
    computed = diversity.bootstrap_diversity
    monkeypatch.setattr(diversity, "bootstrap_diversity", lambda *a, **k: pytest.fail("computed again"))
    counted: list[int] = []
    assert build.cached_bootstrap(x, n_resamples=30, random_state=2, progress=counted.append) == first
    assert sum(counted) == 30 * len(diversity.BOOTSTRAP_METRICS)  # the bar still reaches its total
    monkeypatch.setattr(diversity, "bootstrap_diversity", computed)
    assert build.cached_bootstrap(x, n_resamples=30, random_state=3) != first
    assert build.cached_bootstrap(x[::-1].copy(), n_resamples=30, random_state=2) != first
    monkeypatch.setattr(diversity, "bootstrap_diversity", lambda *a, **k: {"recomputed": 1.0})
    monkeypatch.setattr(build, "_metrics_code", lambda: "an edited metric")
    assert build.cached_bootstrap(x, n_resamples=30, random_state=2) == {"recomputed": 1.0}


def test_diversity_numbers_are_kept_in_the_cache_and_come_back_unchanged(monkeypatch):
    """At full scale the exact near-duplicate rate and k-means take minutes per field: a second report reads
    them. A cached entry equals diversity() field for field; other vectors or seeds compute anew."""
    from spa_vl.analysis.metrics import diversity
    from spa_vl.analysis.report import build

    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 16)).astype(np.float32)
    x[40:] = x[:20] + rng.normal(scale=0.01, size=(20, 16)).astype(np.float32)  # 40 of 60 rows near-duplicates
    first = build.cached_diversity(x, random_state=1)
    assert first == diversity.diversity(x, random_state=1) and 0 < first.near_duplicate_rate < 1
    computed = diversity.diversity
    monkeypatch.setattr(diversity, "diversity", lambda *a, **k: pytest.fail("computed again"))
    assert build.cached_diversity(x, random_state=1) == first
    monkeypatch.setattr(diversity, "diversity", computed)
    assert build.cached_diversity(x, random_state=1, threshold=0.5) == diversity.diversity(x, random_state=1, threshold=0.5)
    assert build.cached_diversity(x[:40].copy(), random_state=1).n == 40
