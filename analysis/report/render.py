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
from spa_vl.progress import progress_bar

from .plots import save_figure
from .sections import Report, Section, StageTime

TIMINGS_START, TIMINGS_END = "<!-- timings -->", "<!-- /timings -->"
WRITE_STAGE = "write figures"
MISSING = "—"  # a cell with no value (NaN, None)

MARKDOWN_PAGE = Template("# SPA-VL report\n\n$summary\n$sections$footer")
MARKDOWN_SECTION = Template("## $title\n\n$figures$tables")
MARKDOWN_FIGURE = Template("### $title\n\n![$title]($file)\n\n")
MARKDOWN_TABLE = Template("### $title\n\n$table\n")
MARKDOWN_FOOTER = Template(f"{TIMINGS_START}\n## Timings of this run\n\n$lines\n$table{TIMINGS_END}\n")

HTML_PAGE = Template(
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>SPA-VL report</title>'
    "<style>$style</style></head><body>\n"
    '<nav id="toc" aria-label="contents"><strong><a href="#top">SPA-VL report</a></strong>$toc</nav>\n'
    '<main id="top"><h1>SPA-VL report</h1>\n$headlines\n$sections\n$footer\n</main>\n'
    "<script>$script</script>\n</body></html>\n"
)
HTML_SECTION = Template('<section id="$key"><h2><a class="anchor" href="#$key">$title</a></h2>\n$summary$figures$tables</section>\n')
HTML_FIGURE = Template('<figure id="$anchor"><h3>$title</h3><a class="permalink" href="#$anchor" title="link to this figure">¶</a>'
                       '<a href="$file"><img alt="$title" src="data:image/png;base64,$data"></a></figure>\n')
HTML_TABLE = Template('<div class="table" id="$anchor"><h3>$title</h3><a class="permalink" href="#$anchor" title="link to this table">¶</a>$table</div>\n')
HTML_FOOTER = Template(f'{TIMINGS_START}\n<footer id="timings"><h2><a class="anchor" href="#timings">Timings of this run</a></h2>$lines$table</footer>\n{TIMINGS_END}')
#: Rows a table shows before "show all" (the rest are in the page, folded).
FOLD_ROWS = 20
STYLE = (
    "*{box-sizing:border-box}html{scroll-padding-top:1em}"
    "body{font-family:system-ui,sans-serif;line-height:1.45;margin:0;display:grid;grid-template-columns:15rem minmax(0,1fr);"
    "max-width:1400px;margin:0 auto;text-align:left;color:#1a1a1a}"
    "nav#toc{position:sticky;top:0;align-self:start;max-height:100vh;overflow-y:auto;padding:1em;font-size:13px;"
    "border-right:1px solid #e3e3e3}"
    "nav#toc ul{list-style:none;margin:.2em 0;padding-left:.8em}nav#toc a{color:#234;text-decoration:none}"
    "nav#toc a:hover{text-decoration:underline}"
    "main{min-width:0;padding:0 1.5em 2em}"
    "h2 a.anchor,h2 a.anchor:visited{color:inherit;text-decoration:none}h3{display:inline-block;margin:1.2em .3em .4em 0}"
    "a.permalink{color:#aaa;text-decoration:none;font-size:.9em}"
    "figure{margin:0 0 1em}img{max-width:100%;height:auto}"
    "code{overflow-wrap:anywhere}li{overflow-wrap:anywhere}"
    ".headlines{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:.6em;margin:1em 0 2em;align-items:start}"
    ".headline{border:1px solid #dde;border-radius:6px;padding:.5em .7em;font-size:14px;background:#f8f9fb}"
    ".headline a.go{display:block;margin-top:.3em;font-size:12px}"
    "ul.summary{font-size:14px;color:#333}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "table.t{border-collapse:collapse;font-size:13px}"
    "table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
    "table.t th{background:#f3f4f6;cursor:pointer;white-space:nowrap;user-select:none}"
    "table.t th.sorted-asc::after{content:' \\25B2'}table.t th.sorted-desc::after{content:' \\25BC'}"
    "table.t td.n,table.t th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "table.t td.x{max-width:36em;min-width:12em}table.t tr.folded{display:none}"
    "button.fold{margin:.3em 0;font-size:12px}"
    "footer{margin-top:3em;color:#555}"
    "@media (max-width:900px){body{display:block}nav#toc{position:static;max-height:none;border-right:0;"
    "border-bottom:1px solid #e3e3e3}nav#toc ul ul{display:none}main{padding:0 1em 2em}}"
)
#: The page's only script: click a header to sort its table (numbers by value, text by locale); long tables fold.
SCRIPT = """
document.querySelectorAll('table.t').forEach(function (table) {
  var body = table.tBodies[0]; if (!body) return;
  var fold = Number(table.dataset.fold || 0), button = table.parentNode.parentNode.querySelector('button.fold');
  function refold() {
    var open = button && button.dataset.open === '1';
    Array.prototype.forEach.call(body.rows, function (row, i) { row.classList.toggle('folded', !open && fold > 0 && i >= fold); });
  }
  if (button) button.addEventListener('click', function () {
    button.dataset.open = button.dataset.open === '1' ? '0' : '1';
    button.textContent = button.dataset.open === '1' ? 'show the first ' + fold + ' rows' : button.dataset.label;
    refold();
  });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('sorted-asc');
      Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.classList.remove('sorted-asc', 'sorted-desc'); });
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var u = x.dataset.v, v = y.dataset.v, r;
        if (u !== undefined && v !== undefined) r = Number(u) - Number(v);
        else if (u !== undefined) r = -1; else if (v !== undefined) r = 1;
        else r = x.textContent.localeCompare(y.textContent);
        return asc ? r : -r;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      refold();
    });
  });
  refold();
});
"""


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
    """Whole numbers without decimals and with thousands separators, other floats with ``digits``, nan as ``—``.

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
            return MISSING
        return f"{int(x):,}" if x.is_integer() and abs(x) < 1e15 else f"{x:,.{digits}f}"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if v is None or v is pd.NA or v is pd.NaT:
        return MISSING
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
    frame = flat_frame(frame)

    def cell(v: Any) -> str:
        return format_number(v, digits).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def flat_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as plain columns: a named or meaningful index becomes columns, MultiIndex headers are joined.

    A default ``RangeIndex`` is dropped (no index column of row numbers), and so are the column-axis
    names that pandas would print as an extra header row.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows.

    Returns
    -------
    pandas.DataFrame
        A frame with a ``RangeIndex`` and one header level of unique string names.
    """
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        names = [n if n is not None else ("" if frame.index.nlevels == 1 else f"level {i}") for i, n in enumerate(frame.index.names)]
        frame = frame.rename_axis(names).reset_index()
    if isinstance(frame.columns, pd.MultiIndex):
        columns = [" · ".join(str(part) for part in col if str(part) != "") for col in frame.columns]
    else:
        columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    frame.columns.name = None
    return frame


NUMERIC_CLASS = ' class="n"'


def _html_cell(value: Any, digits: int = 3) -> str:
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if numeric and math.isfinite(float(value)):
        return f'<td class="n" data-v="{float(value)!r}">{format_number(value, digits)}</td>'
    if numeric or value is None or value is pd.NA or value is pd.NaT:
        return f'<td class="n">{MISSING}</td>'
    text = str(value)
    return f'<td class="x">{html.escape(text)}</td>' if len(text) > 60 else f"<td>{html.escape(text)}</td>"


def html_table(frame: pd.DataFrame, digits: int = 3, fold: int = FOLD_ROWS) -> str:
    """A sortable HTML table: text left, numbers right with thousands separators, empty cells ``—``.

    No index column (:func:`flat_frame`); the table scrolls inside its own box when wide, and rows
    after the first ``fold`` are folded behind a "show all" button (the page's script).

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows.
    digits : int
        Decimals of non-whole floats.
    fold : int
        Rows shown before the rest fold (0: never fold).

    Returns
    -------
    str
        The HTML fragment (``no rows`` for an empty frame).
    """
    if frame.empty:
        return "<p><em>no rows</em></p>"
    frame = flat_frame(frame)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns]
    head = "".join(f'<th{NUMERIC_CLASS if num else ""} scope="col">{html.escape(c)}</th>' for c, num in zip(frame.columns, numeric))
    body = "".join("<tr>" + "".join(_html_cell(v, digits) for v in row) + "</tr>\n" for row in frame.itertuples(index=False))
    folds = fold > 0 and len(frame) > fold
    table = f'<table class="t" data-fold="{fold if folds else 0}"><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>'
    button = f'<button class="fold" type="button" data-label="show all {len(frame):,} rows">show all {len(frame):,} rows</button>' if folds else ""
    return f'<div class="scroll">{table}</div>{button}'


def _html_table(frame: pd.DataFrame) -> str:
    return html_table(frame)


def _anchor(prefix: str, name: str) -> str:
    return f"{prefix}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


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

    A sticky table of contents lists every section, figure and table (each has an anchor); the page
    opens with each section's first summary line that holds a number, as a headline linked to the
    section's first table (or figure); all the section's summary lines head the section.

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

    def inline(line: str) -> str:
        return markdown.renderInline(re.sub(r"^\s*[-*]\s+", "", line))  # a summary line is a Markdown list item

    def figure(p) -> str:
        data = base64.b64encode(figure_files[p.name].read_bytes()).decode()
        return HTML_FIGURE.substitute(anchor=_anchor("fig", p.name), title=html.escape(p.title),
                                      file=html.escape(figure_files[p.name].name), data=data)

    headlines, toc, sections = [], [], []
    for s in report.sections:
        lines = s.summary()
        key = re.sub(r"[^A-Za-z0-9_-]+", "-", s.key or s.stage).strip("-")
        shown = _shown(s)
        target = next(iter([_anchor("tab", t.name) for t in s.tables()] + [_anchor("fig", p.name) for p in s.figures()]), None)
        if lines:
            link = f'<a class="go" href="#{target}">→ {html.escape(s.title)}</a>' if shown and target else ""
            headline = next((line for line in lines if re.search(r"\d", line)), lines[0])  # the first line with a number
            headlines.append(f'<div class="headline">{inline(headline)}{link}</div>')
        if not shown:
            continue
        items = [f'<li><a href="#{_anchor("fig", p.name)}">{html.escape(p.title)}</a></li>' for p in s.figures()]
        items += [f'<li><a href="#{_anchor("tab", t.name)}">{html.escape(t.title)}</a></li>' for t in s.tables()]
        toc.append(f'<li><a href="#{key}">{html.escape(s.title)}</a><ul>{"".join(items)}</ul></li>')
        rest = "".join(f"<li>{inline(line)}</li>" for line in lines)
        sections.append(HTML_SECTION.substitute(
            key=key, title=html.escape(s.title), summary=f'<ul class="summary">{rest}</ul>\n' if rest else "",
            figures="".join(figure(p) for p in s.figures()),
            tables="".join(HTML_TABLE.substitute(anchor=_anchor("tab", t.name), title=html.escape(t.title), table=html_table(t.frame))
                           for t in s.tables()),
        ))
    toc.append('<li><a href="#timings">Run times</a></li>')  # the footer's own title is inside the timing markers
    footer = HTML_FOOTER.substitute(lines=markdown.render("\n".join(f"- {line}" for line in _timing_lines(report, timings))),
                                    table=html_table(_timings_frame(timings), fold=0))
    return HTML_PAGE.substitute(style=STYLE, toc=f"<ul>{''.join(toc)}</ul>", headlines=f'<div class="headlines">{"".join(headlines)}</div>',
                                sections="".join(sections), footer=footer, script=SCRIPT)


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


def write_report(report: Report, out: str | os.PathLike, *, overwrite: bool = False, progress: bool = False) -> Path:
    """Write PNGs, CSVs, extra pages, ``stats.json``, ``timings.json``, ``report.md`` and ``report.html`` atomically.

    Parameters
    ----------
    report : the computed report.
    out : the report folder.
    overwrite : replace an existing folder.
    progress : show a bar while the figures are written (one line, like a stage's).

    Returns
    -------
    Path of the report folder.
    """
    with staged_dir(out, overwrite=overwrite, what="report") as tmp:
        start = time.perf_counter()
        with progress_bar(len(report.figures), f"report {WRITE_STAGE}", "figure", enabled=progress) as bar:
            files = {}
            for name, fig in report.figures.items():
                files[name] = save_figure(fig, tmp / f"{name}.png")
                bar.update()
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
