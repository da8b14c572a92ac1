"""The console in a real browser (headless Chromium through Selenium): the runs page, the run
page of a finished and of a failed run, and "rerun from failure" until the run succeeds."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mhi.model.keys import RunRef
from tests.console.conftest import Console

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (.ci/setup installs them)",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium at a laptop width (quit after the test)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _run_url(console: Console, ref: RunRef) -> str:
    return f"{console.base}/ui/runs/{ref.account}/{ref.flow_id}/{ref.run_id}"


def _status(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, "run").get_attribute("data-status"))


def test_runs_page_and_both_run_pages(console: Console, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    d: Any = browser
    d.get(console.base + "/ui/runs")
    links = [a.text for a in d.find_elements(By.CSS_SELECTOR, "a.run-link")]
    assert links == [console.failed.run_id, console.demo.run_id]  # newest first
    badges = [b.text for b in d.find_elements(By.CSS_SELECTOR, "table.runs .badge")]
    assert badges == ["failed", "succeeded"]
    assert "<script>" in d.find_element(By.CSS_SELECTOR, "table.runs").text
    d.save_screenshot(str(ROOT / "docs" / "console-runs.png"))

    d.get(_run_url(console, console.demo) + "?step=model")
    assert _status(d) == "succeeded"
    nodes = d.find_elements(By.CSS_SELECTOR, "svg.dag a.node")
    assert [n.get_attribute("data-step") for n in nodes] == [
        "extract",
        "per-hotel",
        "model",
        "report",
    ]
    gantt = d.find_element(By.CSS_SELECTOR, "svg.gantt")
    assert len(gantt.find_elements(By.CSS_SELECTOR, "line.wait")) == 1  # model's retry wait
    panel = d.find_element(By.ID, "panel")
    assert "gs://demo-bucket/model.csv" in panel.text and "injected failure" in panel.text
    chart = d.find_element(By.CSS_SELECTOR, ".analytics img")
    assert int(chart.get_attribute("naturalWidth")) > 0  # the PNG loaded through the console
    d.save_screenshot(str(ROOT / "docs" / "console-run.png"))


def test_rerun_from_failure_in_the_browser(console: Console, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    d: Any = browser
    d.get(_run_url(console, console.failed))
    assert _status(d) == "failed"
    assert "load" in d.find_element(By.ID, "panel").text
    d.find_element(By.CSS_SELECTOR, 'button[data-action="rerun"]').click()
    wait = WebDriverWait(d, 60)
    wait.until(ec.alert_is_present()).accept()
    wait.until(lambda drv: _status(drv) == "succeeded")
    audit = d.find_element(By.CSS_SELECTOR, "table.audit").text
    assert "rerun" in audit
    run = console.ops.show(console.failed)
    assert run["status"] == "succeeded"
    assert [a["action"] for a in run["audit"]] == ["start", "rerun"]
