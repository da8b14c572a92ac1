"""The console in a real browser (headless Chromium through Selenium): the runs page, the run
page of a finished and of a failed run, and "rerun from failure" until the run succeeds."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mhi.model.keys import RunRef
from tests.console.conftest import ACTOR, Console, serve

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


def _waiter(driver: Any) -> Any:
    """A wait of up to a minute that looks again when the page re-loaded under it."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    stale = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, 60, ignored_exceptions=stale)


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
    assert "ana@hotel-team.example" in d.find_element(By.CSS_SELECTOR, "table.runs").text
    d.save_screenshot(str(_shots() / "console-runs.png"))

    d.get(_run_url(console, console.demo) + "?step=model")
    assert _status(d) == "succeeded"
    nodes = d.find_elements(By.CSS_SELECTOR, "svg.dag a.node")
    assert [n.get_attribute("data-step") for n in nodes] == [
        "extract",
        "per-hotel",
        "model",
        "report",
    ]
    dag = d.find_element(By.CSS_SELECTOR, "svg.dag")
    before = dag.size["width"]
    d.find_element(By.CSS_SELECTOR, '.zoom button[aria-label="zoom +"]').click()
    assert dag.size["width"] > before  # the drawings zoom
    gantt = d.find_element(By.CSS_SELECTOR, "svg.gantt")
    assert len(gantt.find_elements(By.CSS_SELECTOR, "line.wait")) == 1  # model's retry wait
    panel = d.find_element(By.ID, "panel")
    assert "gs://demo-bucket/model.csv" in panel.text and "injected failure" in panel.text
    assert "succeeded to team@example.com" in d.find_element(By.ID, "notification").text
    chart = d.find_element(By.CSS_SELECTOR, ".analytics img")
    assert int(chart.get_attribute("naturalWidth")) > 0  # the PNG loaded through the console
    _screenshot(d, "console-run.png", 1280)

    d.find_element(By.LINK_TEXT, "demo-echo").click()  # the flow page
    assert d.find_elements(By.CSS_SELECTOR, ".strip a.bar.st-succeeded")
    assert len(d.find_elements(By.CSS_SELECTOR, "ul.fires li")) == 5
    assert len(d.find_elements(By.CSS_SELECTOR, "svg.dag a.node")) == 4
    _screenshot(d, "console-flow.png", 1280)


def _shots() -> Path:
    """Where screenshots go: docs/ when MHI_UPDATE_SCREENSHOTS=1 (to refresh the README's
    pictures), else a scratch folder, so a test run leaves the checkout as it was."""
    if os.environ.get("MHI_UPDATE_SCREENSHOTS") == "1":
        return ROOT / "docs"
    folder = Path(tempfile.gettempdir()) / "mhi-console-screenshots"
    folder.mkdir(exist_ok=True)
    return folder


def _screenshot(d: Any, name: str, width: int) -> None:
    """The whole page at `width`, saved as `name` (see `_shots`)."""
    d.set_window_size(width, 900)
    height = int(d.execute_script("return document.documentElement.scrollHeight"))
    d.set_window_size(width, min(height + 140, 4000))
    d.save_screenshot(str(_shots() / name))


def test_rerun_from_failure_in_the_browser(console: Console, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    d: Any = browser
    d.get(_run_url(console, console.failed))
    assert _status(d) == "failed"
    panel = d.find_element(By.ID, "panel").text
    assert "Step load" in panel and "Rendered config (dead letter)" in panel
    d.find_element(By.CSS_SELECTOR, 'button[data-action="rerun"]').click()
    wait = _waiter(d)
    wait.until(ec.alert_is_present()).accept()
    wait.until(lambda drv: _status(drv) == "succeeded")
    audit = d.find_element(By.CSS_SELECTOR, "table.audit").text
    assert "rerun" in audit
    run = console.ops.show(console.failed)
    assert run["status"] == "succeeded"
    assert [a["action"] for a in run["audit"]] == ["start", "rerun"]


def test_pages_refresh_while_runs_are_active_and_resume_acts(
    console: Console, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    d, by = browser, {"actor": "scheduler", "via": "scheduler"}
    held = [console.ops.start("demo-echo", {}, by, f"held-{i}") for i in (1, 2)]
    for ref in held:  # paused at once: the run stays active until someone resumes it
        assert console.ops.pause(ref, {"actor": "ana", "via": "console"})
    console.runtime.wait_idle(5.0)

    def badge_of(drv: Any, run_id: str) -> str:
        row = drv.find_element(By.XPATH, f"//tr[td/a[text()='{run_id}']]")
        return str(row.find_element(By.CSS_SELECTOR, ".badge").text)

    d.get(console.base + "/ui/runs?flow=demo-echo")
    assert d.find_element(By.TAG_NAME, "body").get_attribute("data-poll")
    assert badge_of(d, "held-1") in ("running", "paused")
    console.ops.resume(held[0], {"actor": "bob", "via": "cli"})  # elsewhere, not in this page
    wait = _waiter(d)
    wait.until(lambda drv: badge_of(drv, "held-1") == "succeeded")  # the page re-loaded itself

    d.get(_run_url(console, held[1]))
    assert _status(d) in ("running", "paused")
    d.find_element(By.CSS_SELECTOR, 'button[data-action="resume"]').click()
    wait.until(ec.alert_is_present()).accept()
    wait.until(lambda drv: _status(drv) == "succeeded")
    audit = [a["action"] for a in console.ops.show(held[1])["audit"]]
    assert audit == ["start", "pause", "resume"]


# The elements that reach past the page's width (none when the page fits).
WIDER = """
const width = document.documentElement.clientWidth;
if (document.documentElement.scrollWidth <= width) return [];
return [...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > width + 0.5)
  .slice(0, 5).map((el) => `${el.tagName}.${el.className} ${el.getBoundingClientRect().right}`);
"""


def test_a_run_page_fits_a_phone(console: Console, browser: Any) -> None:
    from selenium.common.exceptions import TimeoutException

    d = browser
    d.set_window_size(390, 844)
    for url in (console.base + "/ui/runs", _run_url(console, console.failed)):
        d.get(url)
        # the window's new width may reach the page's layout a moment later: wait for it
        try:
            _waiter(d).until(lambda drv: not drv.execute_script(WIDER))
        except TimeoutException:
            raise AssertionError((url, d.execute_script(WIDER), d.get_window_size())) from None
    _screenshot(d, "console-run-phone.png", 390)


def test_replay_with_edited_config_in_the_browser(console: Console, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    d = browser
    d.get(_run_url(console, console.failed))
    d.find_element(By.CSS_SELECTOR, "details.replay summary").click()
    edits = d.find_element(By.ID, "replay-set")
    edits.send_keys("{not json")
    d.find_element(By.CSS_SELECTOR, 'button[data-action="replay"]').click()
    assert "edits: not JSON" in d.find_element(By.ID, "action-result").text  # nothing sent
    edits.clear()
    edits.send_keys('{"load": {"fail_until_attempt": 0}}')
    d.find_element(By.CSS_SELECTOR, 'button[data-action="replay"]').click()
    wait = _waiter(d)
    wait.until(ec.alert_is_present()).accept()
    wait.until(lambda drv: _status(drv) == "succeeded")
    run = console.ops.show(console.failed)
    assert run["reruns"][-1]["edits"] == {"config": {"load": {"fail_until_attempt": 0}}}
    assert [a["action"] for a in run["audit"]] == ["start", "rerun"]


def test_cancel_from_the_run_page(console: Console, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    d, by = browser, {"actor": "scheduler", "via": "scheduler"}
    ref = console.ops.start("demo-echo", {}, by, "to-cancel")
    assert console.ops.pause(ref, {"actor": "ana", "via": "console"})  # active until cancelled
    console.runtime.wait_idle(5.0)
    d.get(_run_url(console, ref))
    d.find_element(By.CSS_SELECTOR, 'button[data-action="cancel"]').click()
    wait = _waiter(d)
    wait.until(ec.alert_is_present()).dismiss()  # changed my mind: nothing is sent
    assert _status(d) in ("running", "paused")
    d.find_element(By.CSS_SELECTOR, 'button[data-action="cancel"]').click()
    wait.until(ec.alert_is_present()).accept()
    wait.until(lambda drv: _status(drv) == "cancelled")
    audit = [a["action"] for a in console.ops.show(ref)["audit"]]
    assert audit == ["start", "pause", "cancel"]


def test_rerun_from_a_chosen_step(console: Console, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(_run_url(console, console.demo))
    assert not d.find_elements(By.CSS_SELECTOR, 'button[data-action="rerun"]')  # nothing failed
    Select(d.find_element(By.ID, "from-step")).select_by_visible_text("model")
    d.find_element(By.CSS_SELECTOR, 'button[data-action="rerun-from"]').click()
    wait = _waiter(d)
    wait.until(ec.alert_is_present()).accept()
    wait.until(lambda drv: "Reruns" in drv.find_element(By.TAG_NAME, "main").text)
    wait.until(lambda drv: _status(drv) == "succeeded")
    run = console.ops.show(console.demo)
    assert run["generation"] == 1 and run["reruns"][0]["steps"] == ["model", "report"]


@pytest.fixture
def demo_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    """The console over a run of the real demo flow (flows/demo-hotel-kpis.json)."""
    from mhi.config import Settings
    from mhi.ops.wiring import build
    from mhi.runtime.embedded import EmbeddedRuntime
    from mhi.services import Services

    monkeypatch.chdir(ROOT)  # the flow names data/hotel_bookings.csv.gz relative to the checkout
    monkeypatch.setenv("MHI_FLOWS_DIR", str(ROOT / "flows"))
    monkeypatch.setenv("MHI_HOME", str(tmp_path / "home"))
    with EmbeddedRuntime(Services(Settings.from_env())) as runtime:
        ops = build(runtime.services, runtime=runtime)
        demo = ops.start("demo-hotel-kpis", {}, {"actor": ACTOR, "via": "cli"}, "demo-1")
        served = Console("", ops, runtime, demo, demo)
        served.wait(demo, "succeeded")
        with serve(ops, runtime) as base:
            served.base = base
            yield served


def test_the_run_page_of_the_demo_flow(demo_console: Console, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    d: Any = browser
    d.get(demo_console.base + "/ui/runs")
    assert demo_console.demo.run_id in d.find_element(By.CSS_SELECTOR, "table.runs").text
    d.get(_run_url(demo_console, demo_console.demo))
    assert _status(d) == "succeeded"
    steps = [n.get_attribute("data-step") for n in d.find_elements(By.CSS_SELECTOR, "a.node")]
    assert {"import-bookings", "model-data", "calculate-kpis", "forecast-demand"} <= set(steps), (
        steps
    )
    charts = d.find_elements(By.CSS_SELECTOR, ".analytics img")
    assert charts and all(int(c.get_attribute("naturalWidth")) > 0 for c in charts)
    assert "succeeded" in d.find_element(By.ID, "notification").text
