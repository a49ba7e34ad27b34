"""The web page in a real headless Chromium (Debian's ``chromium`` package, driven by Playwright's
Python package without any browser download): enter the key, ask, watch the answer stream in, click
a citation and see the page image with the cited region boxed where the bbox says; ingest a folder
and see the job finish. Saves a screenshot (``web_answer.png`` under the test's tmp_path, and under
``$MMRAG_TEST_ARTIFACTS`` when set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from rag.cli import DEMO_QUESTION
from tests.rag.server.conftest import ACME_KEY, KEYS, LiveServer

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("MMRAG_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download)")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: run scripts/setup-system.sh (apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def srv(serve: Callable[..., AbstractContextManager[LiveServer]], roots: Path) -> Iterator[LiveServer]:
    with serve(api_keys=KEYS, ingest_roots=[str(roots / "{tenant}")]) as s:
        yield s


def _screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if out := os.environ.get("MMRAG_TEST_ARTIFACTS"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / name)
    return path


def test_ask_stream_and_see_the_cited_region(browser: Any, srv: LiveServer, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(srv.url + "/")
    page.fill("#api-key", ACME_KEY)
    page.click("#key-form button[type=submit]")
    assert page.evaluate("localStorage.getItem('mmrag.apiKey')") == ACME_KEY
    page.reload()  # the key is entered once: it survives a reload
    assert page.text_content("#key-state") == "key saved in this browser"

    # count the answer's updates while it streams: more than one means it arrived in parts
    page.evaluate("""() => { window.answerUpdates = 0;
        new MutationObserver(() => window.answerUpdates++).observe(
            document.getElementById('answer'), {childList: true, characterData: true, subtree: true}); }""")
    page.fill("#question", DEMO_QUESTION)
    page.click("#ask-button")
    page.wait_for_selector("#citations button", timeout=120_000)
    answer = page.text_content("#answer") or ""
    assert "146.2" in answer, answer
    assert page.evaluate("window.answerUpdates") >= 2

    cites = page.evaluate("""() => [...document.querySelectorAll('#citations button')].map(b => b.textContent)""")
    assert any(c.startswith("[") and "acme_annual_report_2025.pdf, page 2" in c for c in cites), cites
    # the first cited region on page 2 (Table 1 or its sentence): click it
    n = page.evaluate("""() => window.mmragAnswer.citations.find(c => c.page === 2 && c.bbox).n""")
    bbox = page.evaluate(f"() => window.mmragAnswer.citations.find(c => c.n === {n}).bbox")
    page.click(f"#citations button[data-n='{n}']")
    page.wait_for_selector("#highlight:not([hidden])", timeout=30_000)
    assert page.text_content("#viewer-page") == "page 2"
    assert (page.text_content("#viewer-file") or "").endswith("acme_annual_report_2025.pdf")

    # where the box is drawn, against where the citation's bbox says it is
    got = page.evaluate("""() => {
        const img = document.getElementById('page-image'), box = document.getElementById('highlight');
        const i = img.getBoundingClientRect(), b = box.getBoundingClientRect();
        return {img: [i.left, i.top, i.width], box: [b.left, b.top, b.width, b.height],
                natural: img.naturalWidth, scale: Number(box.dataset.scale)}; }""")
    assert bbox is not None
    shown = got["img"][2] / got["natural"]  # CSS pixels per image pixel
    px = got["scale"] * shown  # CSS pixels per PDF point
    left, top, _ = got["img"]
    expected = [left + bbox["x0"] * px, top + bbox["y0"] * px, (bbox["x1"] - bbox["x0"]) * px,
                (bbox["y1"] - bbox["y0"]) * px]
    assert got["box"] == pytest.approx(expected, abs=1.5), (got, bbox)
    shot = _screenshot(page, tmp_path, "web_answer.png")
    assert shot.stat().st_size > 10_000
    page.close()


def test_ingest_panel_shows_the_job_to_its_end(browser: Any, srv: LiveServer, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(srv.url + "/")
    page.evaluate(f"localStorage.setItem('mmrag.apiKey', '{ACME_KEY}')")
    page.reload()
    page.fill("#ingest-path", ".")  # the tenant's own root (roots/acme): the sample folder
    page.click("#ingest-form button[type=submit]")
    page.wait_for_function("document.getElementById('job-status').textContent.startsWith('done')",
                           timeout=120_000)
    status = page.text_content("#job-status") or ""
    assert "0 ingested" in status and "unchanged" in status and "0 failed" in status, status  # already in
    _screenshot(page, tmp_path, "web_ingest_done.png")
    page.fill("#ingest-path", "../globex")  # outside the tenant's root: refused, with the reason
    page.click("#ingest-form button[type=submit]")
    page.wait_for_function("document.getElementById('job-status').className === 'error'", timeout=30_000)
    assert "not allowed" in (page.text_content("#job-status") or "")
    _screenshot(page, tmp_path, "web_ingest_refused.png")
    page.close()
