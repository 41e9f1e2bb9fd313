"""The interactive explorer: one self-contained HTML file (plotly.js inlined, thumbnails as data URIs).

A 2-D map of question embeddings (UMAP when ``umap-learn`` is installed, else PCA) of a sample of
rows, stratified by split and domain. Hovering a point shows its image, question, labels and both
answers; selects colour the map by domain, question type, model or pair quality and filter it by
domain, category, subcategory, question type, split, model, refusal (which answer refuses) and length
(which answer is longer); a row browser below lists the filtered rows
with image, question, chosen and rejected side by side, :data:`PAGE_ROWS` a page (previous / next
buttons above and below the table; a new filter starts at its first page; rows open in the side
panel on click or Enter). Colours come from :mod:`.palette`, as in
the static figures. The page needs no network: open it from disk.

Size: plotly.js is ~4.7 MB; each sampled row adds a ~3 KB thumbnail and its texts (answers cut at
:data:`MAX_TEXT` characters), so 2,000 rows (the default ``max_points``) stay near 15 MB.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from spa_vl.atomic import atomic_write_text
from spa_vl.taxonomy import LABEL_COLUMNS, UNKNOWN

from ..inputs.frames import SPLIT
from ..inputs.images import fetch_images
from ..metrics.pairs import pair_features
from ..metrics.response_models import CHOSEN_MODEL, REJECTED_MODEL
from ..subsets.sampling import stratified_sample
from .palette import colours

MAX_POINTS = 2000
THUMB_PX = 96
MAX_TEXT = 1500
#: Rows per page of the explorer's row browser (previous / next page through the filtered rows).
PAGE_ROWS = 50
#: Pair-quality fields of each row (:func:`pair_labels`): which answer refuses, which is longer.
PAIR_FIELDS = ("refusal", "length")
COLOUR_BY = ("class1", "question_type", CHOSEN_MODEL, REJECTED_MODEL, SPLIT, *PAIR_FIELDS)
FILTERS = ("class1", "class2", "class3", "question_type", SPLIT, "model", *PAIR_FIELDS)
TEXTS = ("question", "chosen", "rejected")


def project_2d(x: np.ndarray, random_state: int = 0, method: str = "auto") -> tuple[np.ndarray, str]:
    """2-D coordinates of embeddings.

    Parameters
    ----------
    x : numpy.ndarray of float, shape (n, d)
        Embeddings.
    random_state : int, default 0
        Seed of UMAP / PCA.
    method : {"auto", "umap", "pca"}, default "auto"
        ``"auto"`` uses UMAP when importable and n >= 20, else PCA; ``"umap"`` also falls back to
        PCA below 20 rows.

    Returns
    -------
    points : numpy.ndarray of float, shape (n, 2)
        The coordinates (all zero for fewer than 3 rows).
    method : str
        The method used, ``"UMAP"`` or ``"PCA"``.

    Raises
    ------
    ImportError
        If ``method`` is ``"umap"`` and ``umap-learn`` is not installed.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 3:
        return np.zeros((len(x), 2)), "PCA"
    if method in ("auto", "umap"):
        try:
            import umap  # optional: `pip install umap-learn`

            if len(x) >= 20:
                return umap.UMAP(n_components=2, random_state=random_state).fit_transform(x), "UMAP"
        except ImportError:
            if method == "umap":
                raise
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=random_state).fit_transform(x), "PCA"


def thumbnail(data: bytes | None, px: int = THUMB_PX, quality: int = 70) -> str:
    """A JPEG data URI at most ``px`` on its longer side (empty string for missing or unreadable bytes).

    Parameters
    ----------
    data : bytes or None
        Encoded image bytes (any format PIL reads).
    px : int, default 96
        Longest side of the thumbnail in pixels.
    quality : int, default 70
        JPEG quality.

    Returns
    -------
    str
        ``"data:image/jpeg;base64,..."``, or ``""``.
    """
    if not data:
        return ""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.draft("RGB", (px, px))
            image = opened.convert("RGB")
            image.thumbnail((px, px))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=quality, optimize=True)
    except Exception:  # PIL raises many types; a broken image is shown as none
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def pair_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row's pair-quality fields as labels the explorer can filter and colour by.

    Parameters
    ----------
    frame : pandas.DataFrame, n rows
        With ``chosen`` and ``rejected`` (None where a row has no answers).

    Returns
    -------
    pandas.DataFrame, shape (n, 2), index of ``frame``
        ``refusal``: ``chosen refuses``, ``rejected refuses``, ``both refuse``, ``neither refuses``;
        ``length``: ``chosen longer``, ``rejected longer``, ``same length``; both ``no answers``
        for rows without a pair (:mod:`spa_vl.analysis.metrics.pairs`).
    """
    if not {"chosen", "rejected"} <= set(frame.columns):
        return pd.DataFrame({f: "no answers" for f in PAIR_FIELDS}, index=frame.index)
    f = pair_features(frame)
    c, r, pair = f["chosen_refuses"].to_numpy(bool), f["rejected_refuses"].to_numpy(bool), f["is_pair"].to_numpy(bool)
    refusal = np.select([~pair, c & r, c, r], ["no answers", "both refuse", "chosen refuses", "rejected refuses"], "neither refuses")
    d = f["word_difference"].to_numpy(float)
    length = np.select([~pair, d > 0, d < 0], ["no answers", "chosen longer", "rejected longer"], "same length")
    return pd.DataFrame({"refusal": refusal, "length": length}, index=frame.index)


def explorer_rows(
    frame: pd.DataFrame,
    questions: np.ndarray | None = None,
    *,
    source=None,
    encoder=None,
    max_points: int = MAX_POINTS,
    random_state: int = 0,
    method: str = "auto",
) -> tuple[pd.DataFrame, str]:
    """The rows the explorer shows, with map coordinates and thumbnails.

    Parameters
    ----------
    frame : pandas.DataFrame, n rows
        A :func:`spa_vl.analysis.inputs.frames.labelled_frame` (rows of each split in file order).
    questions : numpy.ndarray of float, shape (n, d), optional
        Embeddings of every row's question, or None to encode the sampled questions with ``encoder``.
    source : str or os.PathLike or Source, optional
        Where the image bytes are read (None: no thumbnails).
    encoder : spa_vl.analysis.embeddings.encoder.Encoder, optional
        Encodes the sampled questions when ``questions`` is None.
    max_points : int, default 2000
        Rows on the map, stratified by split and class1 (seeded).
    random_state : int, default 0
        Seed of the sample and the projection.
    method : {"auto", "umap", "pca"}, default "auto"
        Projection (see :func:`project_2d`).

    Returns
    -------
    rows : pandas.DataFrame, min(max_points, n) rows
        Columns ``x``, ``y``, ``thumb`` (data URI, ``""`` without an image), ``split``, ``row`` (row
        within its split), the label columns, ``chosen_model``, ``rejected_model``, ``question``,
        ``chosen``, ``rejected`` (texts cut at :data:`MAX_TEXT` characters; ``"unknown"`` for
        missing labels), ``refusal`` and ``length`` (:func:`pair_labels`, from the full texts).
    method : str
        The projection used, ``"PCA"`` or ``"UMAP"``.

    Raises
    ------
    ValueError
        If ``questions`` does not have one row per frame row, or neither ``questions`` nor
        ``encoder`` is given.
    """
    frame = frame.copy()
    frame["row"] = frame.groupby(SPLIT, sort=False).cumcount()
    picked = stratified_sample(frame.reset_index(drop=True), max_points, [SPLIT, "class1"], random_state)
    rows = frame.reset_index(drop=True).loc[picked].reset_index(drop=True)
    if questions is not None:
        if len(questions) != len(frame):
            raise ValueError(f"questions has {len(questions)} rows but the frame {len(frame)}")
        x = np.asarray(questions)[np.asarray(picked)]
    elif encoder is not None:
        x = encoder.encode(rows["question"].fillna("").tolist())
    else:
        raise ValueError("explorer_rows needs question embeddings or an encoder")
    points, used = project_2d(x, random_state, method)
    rows["x"], rows["y"] = np.round(points[:, 0], 4), np.round(points[:, 1], 4)
    for column in (CHOSEN_MODEL, REJECTED_MODEL, *LABEL_COLUMNS):
        rows[column] = rows[column].fillna(UNKNOWN).astype(str) if column in rows else UNKNOWN
    rows[list(PAIR_FIELDS)] = pair_labels(rows)  # before the answers are cut for the page
    for column in TEXTS:
        text = rows[column] if column in rows else pd.Series("", index=rows.index)
        rows[column] = text.fillna("").astype(str).str.strip().str.slice(0, MAX_TEXT)
    images = fetch_images(source, list(zip(rows[SPLIT], rows["row"]))) if source is not None and len(rows) else {}
    rows["thumb"] = [thumbnail(images.get((s, r))) for s, r in zip(rows[SPLIT], rows["row"])]
    return rows[["x", "y", "thumb", SPLIT, "row", *LABEL_COLUMNS, CHOSEN_MODEL, REJECTED_MODEL, *TEXTS, *PAIR_FIELDS]], used


def explorer_figure(rows: pd.DataFrame, colour_by: str = "class1", title: str | None = None):
    """The map as a plotly Figure (one trace per label of ``colour_by``, palette colours), for notebooks.

    Parameters
    ----------
    rows : pandas.DataFrame
        From :func:`explorer_rows` (needs ``x``, ``y``, ``question`` and ``colour_by``).
    colour_by : str, default "class1"
        The column whose labels colour the points (one of :data:`COLOUR_BY`).
    title : str, optional
        Figure title; default "Questions, coloured by <colour_by>".

    Returns
    -------
    plotly.graph_objects.Figure
        One scatter trace per label, in first-seen order.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = colours(rows[colour_by])
    for label, colour in palette.items():
        part = rows[rows[colour_by] == label]
        fig.add_trace(go.Scatter(
            x=part["x"], y=part["y"], mode="markers", name=label, marker={"color": colour, "size": 6, "opacity": 0.8},
            text=part["question"].str.slice(0, 120), customdata=part.index, hovertemplate="%{text}<extra>" + html.escape(label) + "</extra>",
        ))
    fig.update_layout(title=title or f"Questions, coloured by {colour_by}", template="plotly_white", height=560,
                      legend={"font": {"size": 10}}, margin={"l": 40, "r": 10, "t": 50, "b": 40})
    return fig


_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;padding:0 1em;color:#222}
h1{font-size:1.4em;margin:.6em 0 .2em}
#controls{display:flex;flex-wrap:wrap;gap:.6em;align-items:end;margin:.4em 0}
#controls label{display:flex;flex-direction:column;font-size:12px;color:#555}
#controls select{max-width:16em}
#main{display:flex;gap:1em;align-items:flex-start}
#map{flex:1 1 auto;min-width:0}
#detail{flex:0 0 360px;font-size:13px;border-left:1px solid #ddd;padding-left:1em;max-height:620px;overflow:auto}
#detail img{max-width:96px;border:1px solid #ccc}
.lab{font-size:12px;color:#555}.ans{white-space:pre-wrap;margin:.2em 0 .6em}
table.rows{border-collapse:collapse;font-size:12px;width:100%}
table.rows td,table.rows th{border-bottom:1px solid #ddd;padding:4px;vertical-align:top;text-align:left}
table.rows td.t{max-width:28em;white-space:pre-wrap}
.chip{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.3em;vertical-align:middle}
.pager{display:flex;gap:.8em;align-items:center;margin:.4em 0}.pager[hidden]{display:none}
.pager button{font:inherit;font-size:13px;padding:.2em .8em}
.pager .lab{min-width:14em;text-align:center}
table.rows tr[tabindex]:focus{outline:2px solid #1f77b4;outline-offset:-2px}
"""

# Glue only: filtering, grouping by the colour field, the hover panel and the row browser.
# Drawing is plotly's (Plotly.react).
_SCRIPT = """
const D = JSON.parse(document.getElementById('explorer-data').textContent);
const N = D.x.length, COLOURS = D.colours, PAGE_ROWS = D.page_rows;
const $ = id => document.getElementById(id);
const fmt = n => n.toLocaleString('en-US');
let KEEP = [], PAGE = 0;
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function current() {
  const f = {};
  for (const k of D.filters) f[k] = $('f-' + k).value;
  const keep = [];
  for (let i = 0; i < N; i++) {
    let ok = true;
    for (const k of D.filters) {
      const v = f[k];
      if (v === '') continue;
      if (k === 'model') { if (D.chosen_model[i] !== v && D.rejected_model[i] !== v) { ok = false; break; } }
      else if (D[k][i] !== v) { ok = false; break; }
    }
    if (ok) keep.push(i);
  }
  return keep;
}
function draw() {
  const keep = current(), by = $('colour-by').value, groups = new Map();
  for (const i of keep) { const g = D[by][i]; if (!groups.has(g)) groups.set(g, []); groups.get(g).push(i); }
  const traces = [];
  for (const [g, idx] of [...groups.entries()].sort((a, b) => b[1].length - a[1].length)) {
    traces.push({type: 'scatter', mode: 'markers', name: g + ' (' + idx.length + ')', x: idx.map(i => D.x[i]), y: idx.map(i => D.y[i]),
      customdata: idx, text: idx.map(i => D.question[i].slice(0, 100)), hovertemplate: '%{text}<extra></extra>',
      marker: {color: COLOURS[g] || '#9e9e9e', size: 6, opacity: 0.8}});
  }
  Plotly.react('map', traces, MAP_LAYOUT, {responsive: true, displaylogo: false});
  $('status').textContent = fmt(keep.length) + ' of ' + fmt(N) + ' map rows shown (' + fmt(N) + ' sampled of ' + fmt(D.total_rows) + ' rows)';
  // a new filter starts at the first page; recolouring keeps the rows and the page
  if (keep.length !== KEEP.length || keep.some((i, j) => i !== KEEP[j])) { KEEP = keep; PAGE = 0; }
  rows();
}
function labels(i) { return D.split[i] + ' · ' + D.class1[i] + ' / ' + D.class2[i] + ' / ' + D.class3[i] + ' · ' + D.question_type[i] + ' · ' + D.refusal[i] + ' · ' + D.length[i]; }
function detail(i) {
  const box = $('detail'); box.replaceChildren();
  if (D.thumb[i]) { const img = el('img'); img.src = D.thumb[i]; img.alt = 'image of row ' + D.row[i]; box.append(img); }
  box.append(el('div', labels(i), 'lab'), el('h3', D.question[i]));
  box.append(el('div', 'chosen (' + D.chosen_model[i] + ')', 'lab'), el('div', D.chosen[i] || '—', 'ans'));
  box.append(el('div', 'rejected (' + D.rejected_model[i] + ')', 'lab'), el('div', D.rejected[i] || '—', 'ans'));
}
function pages() { return Math.max(1, Math.ceil(KEEP.length / PAGE_ROWS)); }
function rows() {
  PAGE = Math.min(Math.max(PAGE, 0), pages() - 1);
  const start = PAGE * PAGE_ROWS, end = Math.min(start + PAGE_ROWS, KEEP.length);
  const body = $('rows-body'); body.replaceChildren();
  for (const i of KEEP.slice(start, end)) {
    const tr = el('tr'); tr.dataset.i = i; tr.tabIndex = 0;
    const td = el('td'); if (D.thumb[i]) { const img = el('img'); img.src = D.thumb[i]; img.width = 64; img.alt = 'image of row ' + D.row[i]; td.append(img); } tr.append(td);
    const q = el('td', D.question[i], 't'); q.prepend(el('div', labels(i), 'lab')); tr.append(q);
    const c = el('td', D.chosen[i], 't'); c.prepend(el('div', D.chosen_model[i], 'lab')); tr.append(c);
    const r = el('td', D.rejected[i], 't'); r.prepend(el('div', D.rejected_model[i], 'lab')); tr.append(r);
    tr.onclick = () => detail(i);
    tr.onkeydown = ev => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); detail(i); } };
    body.append(tr);
  }
  const note = KEEP.length > PAGE_ROWS ? 'rows ' + fmt(start + 1) + '–' + fmt(end) + ' of ' + fmt(KEEP.length)
    : fmt(KEEP.length) + (KEEP.length === 1 ? ' row' : ' rows');
  for (const p of document.querySelectorAll('.pager')) {
    p.querySelector('.lab').textContent = note;
    p.querySelector('.prev').disabled = PAGE === 0;
    p.querySelector('.next').disabled = PAGE >= pages() - 1;
    for (const b of p.querySelectorAll('button')) b.hidden = pages() === 1;
    p.hidden = pages() === 1 && p.id !== 'rows-pager';  // the foot's pager only when there are pages
  }
}
function turn(step, pager) {
  PAGE += step; rows();
  // at the first or last page the pressed button is disabled: keep the keyboard focus on the pager
  if (pager.querySelector(step > 0 ? '.next' : '.prev').disabled) pager.querySelector(step > 0 ? '.prev' : '.next').focus({preventScroll: true});
  if (pager.id !== 'rows-pager') $('rows-pager').scrollIntoView();  // from the foot of the table, read the new page from its top
}
for (const p of document.querySelectorAll('.pager')) {
  p.querySelector('.prev').onclick = () => turn(-1, p);
  p.querySelector('.next').onclick = () => turn(1, p);
}
for (const k of D.filters) $('f-' + k).onchange = draw;
$('colour-by').onchange = draw;
draw();
const mapDiv = $('map');
mapDiv.on('plotly_hover', ev => detail(ev.points[0].customdata));
mapDiv.on('plotly_click', ev => detail(ev.points[0].customdata));
"""


def explorer_html(rows: pd.DataFrame, *, total_rows: int | None = None, method: str = "PCA", title: str = "SPA-VL explorer", source: str = "") -> str:
    """The explorer page for ``rows`` (from :func:`explorer_rows`): one HTML string, plotly.js inlined.

    Parameters
    ----------
    rows : pandas.DataFrame
        From :func:`explorer_rows`.
    total_rows : int, optional
        Rows the sample was drawn from (shown in the page); default ``len(rows)``.
    method : str, default "PCA"
        The projection's name, for the axis titles.
    title : str, default "SPA-VL explorer"
        Page title and heading.
    source : str, default ""
        The data source's label, shown under the heading.

    Returns
    -------
    str
        A complete HTML document (rows embedded as JSON), needing no network.
    """
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    if not set(PAIR_FIELDS) <= set(rows.columns):
        rows = rows.assign(**pair_labels(rows))
    data = {c: rows[c].tolist() for c in ("x", "y", "thumb", SPLIT, "row", *LABEL_COLUMNS, CHOSEN_MODEL, REJECTED_MODEL, *TEXTS, *PAIR_FIELDS)}
    data["row"] = [int(r) for r in data["row"]]
    data["total_rows"] = int(total_rows if total_rows is not None else len(rows))
    data["filters"] = list(FILTERS)
    data["page_rows"] = PAGE_ROWS
    labels = [v for c in (*LABEL_COLUMNS, CHOSEN_MODEL, REJECTED_MODEL, SPLIT, *PAIR_FIELDS) for v in rows[c]]
    data["colours"] = colours(labels)
    layout = {"template": pio.templates["plotly_white"].layout.to_plotly_json(), "height": 600, "hovermode": "closest",
              "xaxis": {"title": {"text": f"{method} 1"}}, "yaxis": {"title": {"text": f"{method} 2"}},
              "legend": {"font": {"size": 10}}, "margin": {"l": 50, "r": 10, "t": 20, "b": 40}}

    def select(name: str, label: str, values) -> str:
        options = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values)
        return f'<label>{html.escape(label)}<select id="{name}">{options}</select></label>'

    def choices(column: str) -> list[str]:
        if column == "model":
            values = pd.concat([rows[CHOSEN_MODEL], rows[REJECTED_MODEL]])
        else:
            values = rows[column]
        return ["", *sorted(values.astype(str).unique())]

    def pager(name: str, note: str, where: str) -> str:
        return (f'<nav class="pager" id="{name}" aria-label="pages of rows ({where})"><button type="button" class="prev" '
                f'aria-controls="rows-body">← previous</button><span id="{note}" class="lab" aria-live="polite"></span>'
                '<button type="button" class="next" aria-controls="rows-body">next →</button></nav>')

    controls = [select("colour-by", "colour by", [c for c in COLOUR_BY])]
    controls += [select(f"f-{f}", f, choices(f)).replace('<option value=""></option>', '<option value="">(all)</option>') for f in FILTERS]
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    body = (
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="lab">{html.escape(source)} · map: {len(rows):,} rows sampled of {data["total_rows"]:,} '
        f"(stratified by split and domain), question embeddings → {html.escape(method)}. Hover or click a point; "
        "filter and recolour with the selects.</p>"
        f'<div id="controls">{"".join(controls)}</div><p id="status" class="lab"></p>'
        '<div id="main"><div id="map"></div><div id="detail"><p class="lab">hover a point to see its row</p></div></div>'
        f'<h2>Rows</h2>{pager("rows-pager", "rows-note", "top")}<table class="rows"><thead><tr><th>image</th><th>question</th>'
        f'<th>chosen</th><th>rejected</th></tr></thead><tbody id="rows-body"></tbody></table>{pager("rows-pager-foot", "rows-note-foot", "foot")}'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>\n{body}\n'
        f'<script type="application/json" id="explorer-data">{payload}</script>\n'
        f"<script>const MAP_LAYOUT = {json.dumps(layout)};\n{_SCRIPT}</script>\n</body></html>\n"
    )


def write_explorer(path: str | os.PathLike, page: str) -> Path:
    """Write the explorer page atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The HTML file to write.
    page : str
        From :func:`explorer_html`.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    return atomic_write_text(path, page)
