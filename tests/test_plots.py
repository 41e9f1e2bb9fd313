import numpy as np
import pandas as pd
import pytest
from PIL import Image

from spa_vl.analysis.inputs.frames import empty_frame, labelled_frame
from spa_vl.analysis.metrics import difficulty, distributions
from spa_vl.analysis.metrics import images as image_metrics
from spa_vl.analysis.report import plots, section_plots


@pytest.fixture(scope="module")
def frame(sample_dir):
    return labelled_frame(sample_dir)


def _roundtrip(fig, path):
    plots.save_figure(fig, path)
    with Image.open(path) as image:
        image.load()
        return image.size


def test_every_figure_writes_a_png_that_decodes(frame, tmp_path):
    x = np.random.default_rng(0).normal(size=(len(frame), 2))
    curve = pd.DataFrame({"n": [10, 100], "vendi_score": [5.0, 20.0]})
    figures = {
        "taxonomy": plots.taxonomy_bars(plots.taxonomy_counts(frame)),
        "heatmap": plots.question_type_heatmap(distributions.crosstab(frame, "class1", "question_type", normalize="index")),
        "mix": plots.category_mix_by_type_bars(difficulty.category_mix_by_type(frame)),
        "lengths": plots.length_distributions(difficulty.text_length_stats(frame)),
        "map": plots.embedding_map(x, frame["class1"]),
        "curves": plots.diversity_curves({"question": curve}),
    }
    for name, fig in figures.items():
        width, height = _roundtrip(fig, tmp_path / f"{name}.png")
        assert width > 300 and height > 200
    # one bar per observed subcategory
    bars = figures["taxonomy"].axes[0].get_yticklabels()
    assert len(bars) == frame.groupby(["class1", "class2", "class3"]).ngroups


def test_figures_draw_the_tables_they_are_given(frame):
    """Plots take computed tables: what they draw is those numbers, not a recount of the rows."""
    counts = plots.taxonomy_counts(frame)
    doubled = counts.assign(rows=counts["rows"] * 2)
    widths = sorted(p.get_width() for p in plots.taxonomy_bars(doubled).axes[0].patches if p.get_width() > 0)
    assert widths == sorted(doubled["rows"].tolist())
    shares = distributions.crosstab(frame, "class1", "question_type", normalize="index")
    annotations = [t.get_text() for t in plots.question_type_heatmap(shares).axes[0].texts]
    assert annotations == [f"{v:.2f}" for v in shares.reindex(columns=[t for t in difficulty.TYPE_ORDER if t in shares]).to_numpy().ravel()]
    lengths = difficulty.text_length_stats(frame)
    heights = sorted(h for h in (p.get_height() for p in plots.length_distributions(lengths).axes[0].patches) if h == h)  # nan: no such text
    assert heights == sorted(lengths["median_words"].tolist())
    rng = np.random.default_rng(0)
    with_info = frame.assign(text_similarity=rng.uniform(size=len(frame)), text_count=rng.integers(0, 5, len(frame)))
    stats = image_metrics.image_info_stats(with_info, "class1")
    fig = section_plots.image_info_boxes(stats)
    assert sorted(ax.get_title() for ax in fig.axes) == ["text_count", "text_similarity"]
    first = stats.xs("text_similarity", level="field")
    boxes = next(ax for ax in fig.axes if ax.get_title() == "text_similarity").patches
    assert len(boxes) == len(first)  # one box per group, spanning its computed quartiles
    spans = sorted((round(b.get_path().vertices[:, 0].min(), 6), round(b.get_path().vertices[:, 0].max(), 6)) for b in boxes)
    assert spans == sorted((round(q1, 6), round(q3, 6)) for q1, q3 in zip(first["25%"], first["75%"]))
    with pytest.raises(ValueError, match="2-D points"):
        plots.embedding_map(np.zeros((5, 8)), ["a"] * 5)


def test_empty_inputs_say_no_rows(tmp_path):
    empty = empty_frame()
    for fig in (plots.taxonomy_bars(plots.taxonomy_counts(empty)), plots.question_type_heatmap(pd.DataFrame()),
                plots.category_mix_by_type_bars(pd.DataFrame()), plots.length_distributions(difficulty.text_length_stats(empty)),
                plots.embedding_map(np.zeros((0, 2)), []), plots.diversity_curves({})):
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert texts == ["no rows"]
        _roundtrip(fig, tmp_path / "empty.png")


def test_same_figure_same_bytes(frame, tmp_path):
    shares = distributions.crosstab(frame, "class1", "question_type", normalize="index")
    plots.save_figure(plots.question_type_heatmap(shares), tmp_path / "a.png")
    plots.save_figure(plots.question_type_heatmap(shares), tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_image_grid_and_subset_mix(sample_dir, frame, tmp_path):
    import spa_vl

    ds = spa_vl.load_dataset(sample_dir, "validation", split="validation")
    fig = plots.image_grid(ds.select(range(6)), columns=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    names = ds.features["class3"].names
    assert len(titles) == 6 and names[ds[0]["class3"]] in titles[0]
    _roundtrip(fig, tmp_path / "grid.png")
    half = frame.iloc[::2]
    mix = plots.subset_mix(frame, {"half": half})
    heights = [p.get_height() for p in mix.axes[0].patches]
    assert len(heights) == 2 * frame["class1"].nunique()
    assert sum(heights[: frame["class1"].nunique()]) == pytest.approx(1.0)
    _roundtrip(mix, tmp_path / "mix.png")
