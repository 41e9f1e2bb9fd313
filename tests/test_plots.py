import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis import plots
from analysis.frames import empty_frame, labelled_frame


@pytest.fixture(scope="module")
def frame(sample_dir):
    return labelled_frame(sample_dir)


def _roundtrip(fig, path):
    plots.save_figure(fig, path)
    with Image.open(path) as image:
        image.load()
        return image.size


def test_every_figure_writes_a_png_that_decodes(frame, tmp_path):
    x = np.random.default_rng(0).normal(size=(len(frame), 8))
    curve = pd.DataFrame({"n": [10, 100], "vendi_score": [5.0, 20.0]})
    figures = {
        "taxonomy": plots.taxonomy_bars(frame),
        "heatmap": plots.question_type_heatmap(frame),
        "mix": plots.category_mix_by_type_bars(frame),
        "lengths": plots.length_distributions(frame),
        "map": plots.embedding_map(x, frame["class1"]),
        "curves": plots.diversity_curves({"question": curve}),
    }
    for name, fig in figures.items():
        width, height = _roundtrip(fig, tmp_path / f"{name}.png")
        assert width > 300 and height > 200
    # one bar per observed subcategory
    bars = figures["taxonomy"].axes[0].get_yticklabels()
    assert len(bars) == frame.groupby(["class1", "class2", "class3"]).ngroups


def test_empty_inputs_say_no_rows(tmp_path):
    empty = empty_frame()
    for fig in (plots.taxonomy_bars(empty), plots.question_type_heatmap(empty), plots.length_distributions(empty),
                plots.embedding_map(np.zeros((0, 4)), []), plots.diversity_curves({})):
        texts = [t.get_text() for t in fig.axes[0].texts]
        assert texts == ["no rows"]
        _roundtrip(fig, tmp_path / "empty.png")


def test_same_figure_same_bytes(frame, tmp_path):
    plots.save_figure(plots.question_type_heatmap(frame), tmp_path / "a.png")
    plots.save_figure(plots.question_type_heatmap(frame), tmp_path / "b.png")
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
