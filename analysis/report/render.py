"""Writers of a computed :class:`~spa_vl.analysis.report.sections.Report`: PNG figures, stats.json, timings.json, Markdown, HTML.

Rendering iterates over the report's sections: each section's summary lines go to the summary list
at the top, then each section is a heading with its titled figures and tables, filled into one small
:class:`string.Template` per format. Nothing here names a section, a table or a figure: what a
section declares is what is written.

Run-dependent numbers (stage times, texts encoded this run) go to ``timings.json`` and to a footer
between :data:`TIMINGS_START` and :data:`TIMINGS_END`; everything else is the same for the same
inputs and seed. Files are written into a temp folder that replaces the output folder in one
rename, so a killed run never leaves a half-written report under the final name.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import time
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

from spa_vl.atomic import staged_dir

from .plots import save_figure
from .sections import Report, Section, StageTime

TIMINGS_START, TIMINGS_END = "<!-- timings -->", "<!-- /timings -->"
WRITE_STAGE = "write figures"

MARKDOWN_PAGE = Template("# SPA-VL report\n\n$summary\n$sections$footer")
MARKDOWN_SECTION = Template("## $title\n\n$figures$tables")
MARKDOWN_FIGURE = Template("### $title\n\n![$title]($file)\n\n")
MARKDOWN_TABLE = Template("### $title\n\n$table\n")
MARKDOWN_FOOTER = Template(f"{TIMINGS_START}\n## Timings of this run\n\n$lines\n$table{TIMINGS_END}\n")

HTML_PAGE = Template(
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>SPA-VL report</title>'
    "<style>$style</style></head><body>\n<h1>SPA-VL report</h1>\n$summary\n$sections\n$footer\n</body></html>\n"
)
HTML_SECTION = Template('<section id="$key"><h2>$title</h2>\n$figures$tables</section>\n')
HTML_FIGURE = Template('<h3>$title</h3><a href="$file"><img alt="$title" src="data:image/png;base64,$data"></a>\n')
HTML_TABLE = Template("<h3>$title</h3>$table\n")
HTML_FOOTER = Template(f"{TIMINGS_START}\n<footer><h2>Timings of this run</h2>$lines$table</footer>\n{TIMINGS_END}")
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
    "img{max-width:100%}table.t{border-collapse:collapse;font-size:13px}"
    "table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
    "footer{margin-top:3em;color:#555}"
)


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN/inf → None, keys → str.

    Parameters
    ----------
    value : nested dicts, lists and scalars.

    Returns
    -------
    The same structure with plain JSON types.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_number(v: Any, digits: int = 3) -> str:
    """Whole numbers without decimals, other floats with ``digits``, nan as blank.

    Parameters
    ----------
    v : a cell value.
    digits : decimals of non-whole floats.

    Returns
    -------
    str
    """
    if isinstance(v, (float, np.floating)):
        x = float(v)
        if math.isnan(x):
            return ""
        return f"{int(x):,}" if x.is_integer() and abs(x) < 1e15 else f"{x:.{digits}f}"
    return str(v)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table of a frame (index included).

    Parameters
    ----------
    frame : the rows.
    digits : decimals of non-whole floats.

    Returns
    -------
    str, ending in a newline (``_no rows_`` for an empty frame).
    """
    if frame.empty:
        return "_no rows_\n"
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.rename_axis([n or "" for n in frame.index.names]).reset_index()

    def cell(v: Any) -> str:
        return format_number(v, digits).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def _html_table(frame: pd.DataFrame) -> str:
    return "<p><em>no rows</em></p>" if frame.empty else frame.to_html(float_format=format_number, border=0, classes="t")


def summary_lines(report: Report) -> list[str]:
    """Every section's summary lines (Markdown), in report order.

    Parameters
    ----------
    report : the computed report.

    Returns
    -------
    list of Markdown list items.
    """
    return [line for section in report.sections for line in section.summary()]


def _shown(section: Section) -> bool:
    return bool(section.tables() or section.figures())


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _timings_frame(timings: list[StageTime]) -> pd.DataFrame:
    total = sum(t.seconds for t in timings)
    rows = [{"stage": t.stage, "seconds": round(t.seconds, 2), "texts encoded": t.texts_encoded} for t in timings]
    rows.append({"stage": "total", "seconds": round(total, 2), "texts encoded": sum(t.texts_encoded for t in timings)})
    return pd.DataFrame(rows)


def _timing_lines(report: Report, timings: list[StageTime]) -> list[str]:
    encoder = report.run.get("encoder") or {}
    encoded = sum(t.texts_encoded for t in timings)
    lines = [f"{_duration(sum(t.seconds for t in timings))} in all; the model encoded {encoded:,} texts, the others came from the embedding cache"]
    if encoder:
        lines.append(f"encoder `{encoder['model']}`, backend `{encoder['backend']}` on `{encoder['device']}`, batch {encoder['batch_size']}")
    lines.append(f"{os.cpu_count()} CPU core(s); these numbers are the only ones that change from run to run (also in timings.json)")
    return lines


def render_markdown(report: Report, timings: list[StageTime] | None = None) -> str:
    """The report as Markdown, figures linked as PNG files beside it, the timings in a marked footer.

    Parameters
    ----------
    report : the computed report.
    timings : the stages to show in the footer; default ``report.timings``.

    Returns
    -------
    str
    """
    timings = report.timings if timings is None else timings
    sections = "".join(
        MARKDOWN_SECTION.substitute(
            title=s.title,
            figures="".join(MARKDOWN_FIGURE.substitute(title=p.title, file=f"{p.name}.png") for p in s.figures()),
            tables="".join(MARKDOWN_TABLE.substitute(title=t.title, table=markdown_table(t.frame)) for t in s.tables()),
        )
        for s in report.sections if _shown(s)
    )
    footer = MARKDOWN_FOOTER.substitute(lines="".join(f"- {line}\n" for line in _timing_lines(report, timings)), table="\n" + markdown_table(_timings_frame(timings)))
    return MARKDOWN_PAGE.substitute(summary="".join(line + "\n" for line in summary_lines(report)), sections=sections, footer=footer)


def render_html(report: Report, figure_files: dict[str, Path], timings: list[StageTime] | None = None) -> str:
    """A self-contained HTML page: figures embedded as data URIs, each linking its PNG file.

    Parameters
    ----------
    report : the computed report.
    figure_files : figure name → its written PNG file.
    timings : the stages to show in the footer; default ``report.timings``.

    Returns
    -------
    str
    """
    timings = report.timings if timings is None else timings
    markdown = MarkdownIt("commonmark", {"html": False})  # summary lines are Markdown (backticks, links): never shown raw

    def figure(p) -> str:
        data = base64.b64encode(figure_files[p.name].read_bytes()).decode()
        return HTML_FIGURE.substitute(title=html.escape(p.title), file=html.escape(figure_files[p.name].name), data=data)

    sections = "".join(
        HTML_SECTION.substitute(
            key=html.escape(s.key or re.sub(r"\W+", "-", s.stage)), title=html.escape(s.title),
            figures="".join(figure(p) for p in s.figures()),
            tables="".join(HTML_TABLE.substitute(title=html.escape(t.title), table=_html_table(t.frame)) for t in s.tables()),
        )
        for s in report.sections if _shown(s)
    )
    footer = HTML_FOOTER.substitute(lines=markdown.render("\n".join(f"- {line}" for line in _timing_lines(report, timings))),
                                    table=_html_table(_timings_frame(timings).set_index("stage")))
    return HTML_PAGE.substitute(style=STYLE, summary=markdown.render("\n".join(summary_lines(report))), sections=sections, footer=footer)


def strip_timings(text: str) -> str:
    """A rendered page without its timings footer (what stays the same from run to run).

    Parameters
    ----------
    text : ``report.md`` or ``report.html``.

    Returns
    -------
    str
    """
    return re.sub(re.escape(TIMINGS_START) + ".*?" + re.escape(TIMINGS_END), "", text, flags=re.S)


def write_report(report: Report, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write PNGs, CSVs, extra pages, ``stats.json``, ``timings.json``, ``report.md`` and ``report.html`` atomically.

    Parameters
    ----------
    report : the computed report.
    out : the report folder.
    overwrite : replace an existing folder.

    Returns
    -------
    Path of the report folder.
    """
    with staged_dir(out, overwrite=overwrite, what="report") as tmp:
        start = time.perf_counter()
        files = {name: save_figure(fig, tmp / f"{name}.png") for name, fig in report.figures.items()}
        timings = [*report.timings, StageTime(WRITE_STAGE, time.perf_counter() - start)]
        for table in (t for s in report.sections for t in s.tables()):
            if table.csv is not None:
                table.csv.to_csv(tmp / f"{table.name}.csv", index=False)
        for name, page in report.pages.items():
            (tmp / name).write_text(page, encoding="utf-8")
        (tmp / "stats.json").write_text(json.dumps(jsonable(report.stats), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        run = {**report.timings_dict(), "stages": [{"stage": t.stage, "seconds": round(t.seconds, 3), "texts_encoded": t.texts_encoded} for t in timings],
               "total_seconds": round(sum(t.seconds for t in timings), 3), "cpu_count": os.cpu_count()}
        (tmp / "timings.json").write_text(json.dumps(jsonable(run), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(report, timings), encoding="utf-8")
        (tmp / "report.html").write_text(render_html(report, files, timings), encoding="utf-8")
    return Path(out)
