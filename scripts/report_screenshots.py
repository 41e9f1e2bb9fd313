"""Screenshots of a report page in headless Chromium at 1,400 and 800 px (the gallery's report_page_*.png).

Usage: .venv/bin/python scripts/report_screenshots.py docs/gallery/report.html docs/gallery
Needs Debian's chromium and chromium-driver (scripts/setup.sh installs them as root).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

WIDTHS = (1400, 800)
HEIGHT = 1000


def open_chromium(width: int = WIDTHS[0], height: int = HEIGHT):
    """A headless Chromium driven by selenium, with its browser log captured.

    Parameters
    ----------
    width, height : int
        The window size in CSS pixels.

    Returns
    -------
    tuple of (selenium.webdriver.Chrome, str)
        The driver and its profile folder (remove it after ``driver.quit()``).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="spa-vl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--window-size={width},{height}",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    return driver, profile


def set_viewport(driver, width: int, height: int = HEIGHT) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels (DevTools metrics override).

    Parameters
    ----------
    driver : selenium.webdriver.Chrome
        The browser.
    width, height : int
        The viewport size.
    """
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def main(page: str, out: str) -> None:
    """Write ``report_page_<width>.png`` of ``page`` into ``out`` for each width.

    Parameters
    ----------
    page : str
        The report.html to open.
    out : str
        The folder for the screenshots.
    """
    driver, profile = open_chromium()
    try:
        driver.get(Path(page).resolve().as_uri())
        for width in WIDTHS:
            set_viewport(driver, width)
            driver.execute_script("window.scrollTo(0, 0)")
            target = Path(out) / f"report_page_{width}.png"
            driver.save_screenshot(str(target))
            print(target)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
