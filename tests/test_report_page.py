"""The report page's tables (issue 24): no index column of row numbers, no stray header row from
MultiIndex or axis names, '—' for missing values, numbers with thousands separators, long tables folded."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from spa_vl.analysis.report.render import FOLD_ROWS, MISSING, flat_frame, html_table, markdown_table


def crosstab() -> pd.DataFrame:
    frame = pd.DataFrame({"split": ["train", "train", "eval"], "type": ["easy", "hardq", "easy"], "n": [1200.0, np.nan, 3.5]})
    return frame.pivot_table(index="split", columns="type", values="n", aggfunc=["sum"], dropna=False)


def test_flat_frame_has_one_header_row_and_the_index_as_a_column():
    flat = flat_frame(crosstab())
    assert list(flat.columns) == ["split", "sum · easy", "sum · hardq"]
    assert isinstance(flat.index, pd.RangeIndex) and flat.columns.name is None
    assert list(flat_frame(pd.DataFrame({"a": [1, 2]})).columns) == ["a"]  # a plain RangeIndex is dropped


def test_html_table_cells():
    text = html_table(crosstab())
    assert text.count("<tr>") == 1 + 2  # one header row, two body rows: no 'type' / 'rows' header row
    assert "NaN" not in text and "nan" not in text and f'<td class="n">{MISSING}</td>' in text
    assert '<td class="n" data-v="1200.0">1,200</td>' in text and '<td class="n" data-v="3.5">3.500</td>' in text
    assert "<td>eval</td>" in text and '<th scope="col">split</th>' in text
    md = markdown_table(crosstab())
    assert md.splitlines()[0] == "| split | sum · easy | sum · hardq |" and MISSING in md and "nan" not in md


def test_long_tables_fold_after_20_rows():
    long = html_table(pd.DataFrame({"x": range(FOLD_ROWS + 5)}))
    assert f'data-fold="{FOLD_ROWS}"' in long and f"show all {FOLD_ROWS + 5:,} rows" in long
    short = html_table(pd.DataFrame({"x": range(FOLD_ROWS)}))
    assert 'data-fold="0"' in short and "<button" not in short
    assert re.search(r'<td class="n" data-v="\d+\.0">\d+</td>', long)
