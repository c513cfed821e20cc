"""Open a page in a real headless Chromium and report what a person would see there.

Debian's `chromium` and `chromium-driver` (.ci/run installs them), driven by selenium with the driver
path given explicitly (so selenium never tries to download one) and a new, empty profile each time.
Playwright is not used: it cannot download its browsers on these machines.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# what Chromium needs here: headless, no GPU, nothing phoning home; --no-sandbox only as root
FLAGS = ["--headless", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,1000"]  # fmt: skip
IMAGES = """return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth,
  height: i.naturalHeight, shown: i.getBoundingClientRect().width, scheme: i.src.split(':')[0]}))"""
RESOURCES = "return performance.getEntriesByType('resource').map(e => e.name)"


def missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "chromium or chromedriver is not installed (apt-get install chromium chromium-driver; .ci/run does)"
    return None


@dataclass(frozen=True)
class Seen:
    """A page as the browser rendered it."""

    title: str
    text: str  # document.body.innerText: what is visible
    images: list[dict[str, Any]]
    tables: int
    console: list[dict[str, Any]]  # the browser's console entries, errors included
    fetched: list[str]  # every resource the page loaded besides itself


def open_page(path: Path, profile: Path) -> Seen:
    """Load `path` (a file) in headless Chromium and collect what it shows."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM is not None and CHROMEDRIVER is not None, missing()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, *(["--no-sandbox"] if os.geteuid() == 0 else []), f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(path.resolve().as_uri())
        return Seen(
            title=driver.title,
            text=driver.find_element("tag name", "body").text,
            images=driver.execute_script(IMAGES),
            tables=len(driver.find_elements("tag name", "table")),
            console=driver.get_log("browser"),
            fetched=driver.execute_script(RESOURCES),
        )
    finally:
        driver.quit()
