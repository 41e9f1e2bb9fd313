"""The explorer and the static report, in a real headless Chromium (Debian's chromium + chromium-driver).

The report is built once from the session's sample (its images, questions, embeddings); the browser
checks run against the files as a person would open them (file://, no server, no network).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.colors import to_hex

from spa_vl.analysis.report import explorer, palette, plots
from spa_vl.analysis.report.build import ReportSettings, build_report

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def report_dir(sample_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report"
    return build_report(sample_dir, out, ReportSettings(diversity_sample=120), progress=False)


def explorer_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    payload = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', text, re.S).group(1)
    return json.loads(payload.replace("<\\/", "</"))


def test_explorer_is_self_contained_and_sampled(report_dir):
    page = (report_dir / "explorer.html").read_text(encoding="utf-8")
    assert "<script src=" not in page and "<link" not in page  # nothing fetched: plotly.js is inlined
    assert "Plotly" in page and len(page) < 25_000_000
    stats = json.loads((report_dir / "stats.json").read_text())
    data = explorer_data(report_dir / "explorer.html")
    assert len(data["x"]) == stats["explorer"]["rows"] == len(data["question"]) == len(data["thumb"])
    assert stats["explorer"]["bytes"] == len(page.encode("utf-8"))
    assert all(t.startswith("data:image/jpeg;base64,") for t in data["thumb"])  # every sample row has an image
    # one palette: the explorer's colour of a domain is the static figures' colour of it
    for domain in set(data["class1"]):
        assert data["colours"][domain] == palette.colour(domain)


def test_static_figures_use_the_shared_palette(report_dir):
    frame = pd.DataFrame({"class1": ["Malicious Use", "Socioeconomic Harms", "unknown"] * 2, "class2": list("abcdef"), "class3": list("ghijkl")})
    fig = plots.taxonomy_bars(frame)
    legend = {t.get_text(): to_hex(h.get_facecolor()) for t, h in zip(fig.axes[0].get_legend().get_texts(), fig.axes[0].get_legend().legend_handles)}
    assert legend == {d: palette.colour(d) for d in legend} and legend["unknown"] == palette.UNKNOWN_COLOUR
    assert len(set(legend.values())) == 3
    # the colour of a label does not depend on the other labels in a figure
    assert palette.colours(["Socioeconomic Harms"]) == {"Socioeconomic Harms": palette.colours(["Malicious Use", "Socioeconomic Harms"])["Socioeconomic Harms"]}


def test_report_summary_is_html_not_raw_markdown(report_dir):
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    summary = page.split("<h2>", 1)[0]
    assert "`" not in summary and "<code>" in summary and '<a href="explorer.html">' in summary
    md = (report_dir / "report.md").read_text(encoding="utf-8")
    assert "## Duplicate images" in md and "## Response models" in md


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"Chromium is not installed here ({CHROMIUM}, {CHROMEDRIVER}): run scripts/setup.sh as root "
                    "(apt-get install chromium chromium-driver) to run the browser checks")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="spa-vl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def points(driver) -> int:
    return driver.execute_script("return document.getElementById('map').data.reduce((n, t) => n + t.x.length, 0)")


def test_explorer_in_chromium(browser, report_dir, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select, WebDriverWait

    data = explorer_data(report_dir / "explorer.html")
    browser.get((report_dir / "explorer.html").as_uri())
    assert errors(browser) == []
    assert points(browser) == len(data["x"])  # one point per sampled row
    assert browser.find_elements("css selector", "#map .scatterlayer .point")  # plotly drew them (SVG)
    # a filter changes what is shown: the map and the row browser keep only that domain
    domain = pd.Series(data["class1"]).value_counts().index[-1]
    browser.execute_script("D.total_rows = 100788")  # a full-scale source behind the same map: counts get separators
    Select(browser.find_element("id", "f-class1")).select_by_value(domain)
    expected = data["class1"].count(domain)
    assert 0 < expected < len(data["x"]) and points(browser) == expected
    n = len(data["x"])
    assert browser.find_element("id", "status").text == f"{expected:,} of {n:,} map rows shown ({n:,} sampled of 100,788 rows)"
    shown = browser.find_elements("css selector", "#rows-body tr")
    assert len(shown) == min(expected, explorer.PAGE_ROWS)
    assert all(domain in row.text for row in shown)
    # recolour by question type: as many traces as question types among the filtered rows
    Select(browser.find_element("id", "colour-by")).select_by_value("question_type")
    types = {t for c, t in zip(data["class1"], data["question_type"]) if c == domain}
    assert browser.execute_script("return document.getElementById('map').data.length") == len(types)
    # hovering a point shows its row: image, question and both answers
    point = browser.find_elements("css selector", "#map .scatterlayer .point")[0]
    ActionChains(browser).move_to_element(point).perform()
    detail = browser.find_element("id", "detail")
    WebDriverWait(browser, 10).until(lambda _: detail.find_elements("tag name", "img"))
    questions = {q[:40] for q, c in zip(data["question"], data["class1"]) if c == domain}
    assert any(q in detail.text for q in questions)
    assert "chosen (" in detail.text and "rejected (" in detail.text
    shot = tmp_path / "explorer.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    assert errors(browser) == []


def test_explorer_pages_through_every_filtered_row_once(browser, report_dir):
    """Issue 24: the row browser pages (previous / next, top and foot, by mouse or keyboard) instead of stopping
    at the first page; every filtered row is on exactly one page, in order, and the counts say which rows."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    data = explorer_data(report_dir / "explorer.html")
    size = data["page_rows"]
    assert size == explorer.PAGE_ROWS
    browser.get((report_dir / "explorer.html").as_uri())
    run = browser.execute_script
    shown = "return Array.from(document.querySelectorAll('#rows-body tr')).map(tr => Number(tr.dataset.i))"
    note = "return document.getElementById('rows-note').textContent"
    top, foot = (browser.find_element("css selector", f"#{p}") for p in ("rows-pager", "rows-pager-foot"))

    def expected_note(start: int, n: int) -> str:
        return f"rows {start + 1:,}–{min(start + size, n):,} of {n:,}" if n > size else f"{n:,} row{'s' if n != 1 else ''}"

    everything = len(data["x"])
    assert everything > size and run(note) == expected_note(0, everything) and run(shown) == list(range(size))
    top.find_element("css selector", "button.next").click()
    assert run(note) == expected_note(size, everything)
    # a filter starts again at its first page; the largest domain has more rows than one page
    domain = max(set(data["class1"]), key=data["class1"].count)
    want = [i for i, c in enumerate(data["class1"]) if c == domain]
    assert len(want) > size
    Select(browser.find_element("id", "f-class1")).select_by_value(domain)
    seen, notes = [], []
    for page in range((len(want) + size - 1) // size):
        rows = run(shown)
        assert len(rows) == min(size, len(want) - page * size)
        seen += rows
        notes.append(run(note))
        assert top.find_element("css selector", "button.prev").is_enabled() == (page > 0)
        last = page == (len(want) + size - 1) // size - 1
        assert top.find_element("css selector", "button.next").is_enabled() == (not last)
        if not last:  # turn by mouse at the top, by the keyboard at the table's foot, in turn
            if page % 2:
                top.find_element("css selector", "button.next").click()
            else:
                foot.find_element("css selector", "button.next").send_keys(Keys.ENTER)
    assert seen == want  # every row of the selection once, in order
    assert run("return document.activeElement.className") == "prev"  # the last page disabled next: focus stays on the pager
    assert notes == [expected_note(start, len(want)) for start in range(0, len(want), size)]
    assert run("return document.getElementById('rows-note-foot').textContent") == notes[-1]
    # recolouring keeps the page; previous goes back one
    Select(browser.find_element("id", "colour-by")).select_by_value("question_type")
    assert run(note) == notes[-1]
    top.find_element("css selector", "button.prev").click()
    assert run(note) == notes[-2] and run(shown) == want[(len(notes) - 2) * size:(len(notes) - 1) * size]
    # a selection of one page has no page buttons
    small = min(set(data["class1"]), key=data["class1"].count)
    Select(browser.find_element("id", "f-class1")).select_by_value(small)
    n = data["class1"].count(small)
    assert n <= size and run(note) == expected_note(0, n) and not foot.is_displayed()
    assert not any(b.is_displayed() for b in top.find_elements("css selector", "button"))
    assert errors(browser) == []


def test_static_report_in_chromium(browser, report_dir, tmp_path):
    browser.get((report_dir / "report.html").as_uri())
    assert errors(browser) == []
    images = browser.execute_script("return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    assert len(images) >= 8 and all(done and width > 0 for done, width in images)
    summary = browser.find_element("tag name", "ul").text
    assert "`" not in summary and "sample" in summary.lower() or "Source" in summary
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


REPORT_WIDTHS = (1400, 800)


@pytest.mark.parametrize("width", REPORT_WIDTHS)
def test_report_page_reads_at_1400_and_800_px(browser, report_dir, tmp_path, width):
    """Issue 24: no horizontal page scroll, every anchor resolves, no JS errors, a sticky table of contents,
    text left and numbers right (thousands separators, no NaN), sortable tables, long tables folded."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    try:
        browser.get((report_dir / "report.html").as_uri())
        run = browser.execute_script
        assert errors(browser) == []
        assert run("return document.documentElement.scrollWidth") <= run("return document.documentElement.clientWidth")
        # every in-page link has its target; every section, figure and table has an id the contents list
        assert run("return Array.from(document.querySelectorAll('a[href^=\"#\"]')).map(a => a.getAttribute('href').slice(1))"
                   ".filter(id => !document.getElementById(id))") == []
        ids = run("return Array.from(document.querySelectorAll('main section, main figure, main div.table')).map(e => e.id)")
        toc = set(run("return Array.from(document.querySelectorAll('#toc a')).map(a => a.getAttribute('href').slice(1))"))
        assert ids and all(ids) and len(set(ids)) == len(ids) and set(ids) <= toc
        # headline numbers up front, each linked to its section's table or figure
        links = run("return Array.from(document.querySelectorAll('.headline a.go')).map(a => a.getAttribute('href'))")
        assert len(links) >= 4 and all(href.startswith(("#tab-", "#fig-")) for href in links)
        # cells: numbers right-aligned with separators, text left-aligned, nothing reads NaN
        cells = run("return Array.from(document.querySelectorAll('table.t td')).map(td => [td.className, getComputedStyle(td).textAlign, td.textContent])")
        assert cells
        for kind, align, text in cells:
            assert text.strip().lower() not in ("nan", "none", "<na>")
            if kind == "n":
                assert align == "right" and re.fullmatch(r"-?\d{1,3}(,\d{3})*(\.\d+)?|—", text), text
            else:
                assert align == "left", (text, align)
        assert not run("return Array.from(document.querySelectorAll('table.t thead tr')).some(tr => tr.parentNode.rows.length > 1)")
        # the contents stay in view while reading (sticky) on a wide screen
        if width >= 1000:
            run("window.scrollTo(0, document.body.scrollHeight / 2)")
            assert abs(run("return document.getElementById('toc').getBoundingClientRect().top")) < 2
        # sorting: click a numeric header, its column reads in order, then in reverse
        column = run("""for (const t of document.querySelectorAll('table.t')) { const th = Array.from(t.tHead.rows[0].cells);
            const i = th.findIndex(c => c.classList.contains('n')); if (i >= 0 && t.tBodies[0].rows.length > 2) { t.id = t.id || 'sort-me';
            return [t.id, i]; } } return null;""")
        assert column is not None
        table_id, index = column
        header = browser.find_element("css selector", f"#{table_id} thead th:nth-child({index + 1})")
        values = f"return Array.from(document.querySelectorAll('#{table_id} tbody tr')).map(r => Number(r.cells[{index}].dataset.v ?? 'NaN'))"
        header.click()
        ascending = [v for v in run(values) if v == v]
        assert ascending == sorted(ascending)
        header.click()
        descending = [v for v in run(values) if v == v]
        assert descending == sorted(descending, reverse=True)
        # a table longer than 20 rows shows 20 until "show all"
        folded = run("return Array.from(document.querySelectorAll('table.t')).filter(t => Number(t.dataset.fold) > 0).map(t => t.closest('div.table').id)")
        assert folded
        box = browser.find_element("id", folded[0])
        visible = lambda: len([r for r in box.find_elements("css selector", "tbody tr") if r.is_displayed()])  # noqa: E731
        total = len(box.find_elements("css selector", "tbody tr"))
        assert visible() == 20 < total
        browser.execute_script("arguments[0].scrollIntoView()", box.find_element("css selector", "button.fold"))
        box.find_element("css selector", "button.fold").click()
        assert visible() == total
        assert errors(browser) == []
        run("window.scrollTo(0, 0)")
        shot = tmp_path / f"report_page_{width}.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
