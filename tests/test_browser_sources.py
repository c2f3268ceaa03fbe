"""The Sources page end to end in a real browser: `hha serve` and the chat as subprocesses over a
temporary copy of part of the corpus. A manager uploads a generated protocol PDF of a fictional
area, sees it in the list, asks an out-of-hours question for that area and gets its number in
*What to do now*, opens the citation as the printed page, then removes the source and gets the
previous answer again."""

from __future__ import annotations

import re

import pytest
from live_servers import PYTHON, free_port, process, wait_for
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

from tests.protocols import DAYTIME, OUT_OF_HOURS, make_protocol_pdf
from tests.support import small_corpus

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STEMS = ("practice-tips-parental-drug-use", "beds-luton-guidance-2017")
QUESTION = "Who do I ring out of hours about a child at risk in Northmoor?"
TITLE = "Parental drug and alcohol misuse: multi-agency protocol"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (scripts/test-setup.sh installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    from ui.launch import streamlit_command

    root = tmp_path_factory.mktemp("browser-sources")
    corpus = small_corpus(root / "corpus", STEMS)
    manifest = (corpus / "manifest.toml").read_text(encoding="utf-8")
    api_port, ui_port = free_port(), free_port()
    env = {"HHA_DATA_DIR": str(root / "data"), "HHA_CORPUS_DIR": str(corpus),
           "HHA_API_URL": f"http://127.0.0.1:{api_port}", "HHA_API_TOKEN": ""}
    serve = [PYTHON, "-m", "ui.cli", "serve", "--port", str(api_port)]
    with (
        process(serve, env, root / "api.log") as api,
        process(streamlit_command(ui_port), env, root / "ui.log") as ui,
    ):
        wait_for(f"http://127.0.0.1:{api_port}/api/health", 600, process=api,
                 ok=lambda r: r.status_code == 200 and r.json().get("status") == "ready")
        wait_for(f"http://127.0.0.1:{ui_port}/_stcore/health", 120, process=ui)
        yield f"http://127.0.0.1:{ui_port}", root, corpus
    assert (corpus / "manifest.toml").read_text(encoding="utf-8") == manifest  # the library is as it was
    assert "Who do I ring" not in (root / "api.log").read_text(errors="replace"), "the question reached the log"


def _ask(page):
    """Ask QUESTION on the Ask page in a conversation of its own (a repeated question would
    otherwise be read as a follow-up of the one before); the reply."""
    from playwright.sync_api import expect

    _go(page, "Ask")
    clear = page.get_by_test_id("stSidebar").get_by_role("button", name=re.compile("Clear conversation"))
    clear.click()
    expect(page.get_by_test_id("stChatMessage")).to_have_count(0, timeout=30_000)
    box = page.get_by_test_id("stChatInputTextArea")
    expect(box).to_be_enabled(timeout=60_000)
    box.fill(QUESTION)
    box.press("Enter")
    reply = page.get_by_test_id("stChatMessage").nth(1)
    expect(reply.get_by_test_id("stExpander").first).to_be_visible(timeout=120_000)
    return reply


def _go(page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(name, exact=True).click()
    page.wait_for_timeout(800)


def _answer_text(reply) -> str:
    return reply.get_by_test_id("stMarkdown").first.inner_text()


def test_a_manager_adds_a_protocol_asks_sees_the_page_and_removes_it(servers, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, _, corpus = servers
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = make_protocol_pdf(tmp_path / "northmoor-protocol.pdf", review="January 2026")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="domcontentloaded")
            before = _answer_text(_ask(page))
            assert OUT_OF_HOURS not in before

            # -- a practitioner sees the list, read-only
            _go(page, "Sources")
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text("2 sources")).to_be_visible()
            expect(main.get_by_test_id("stFileUploader")).to_have_count(0)
            expect(main.get_by_role("button", name=re.compile(r"\bRemove$"))).to_have_count(0)

            # -- a manager uploads; area and places come pre-filled from the document
            page.get_by_test_id("stSidebar").get_by_text("Manager", exact=True).click()
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(pdf))
            area = main.get_by_label("Area", exact=True)
            expect(area).to_have_value("Northmoor", timeout=60_000)
            expect(main.get_by_label("Place names", exact=True)).to_have_value("Northmoor")
            expect(main.get_by_label("Review date", exact=True)).to_have_value("January 2026")
            main.get_by_role("button", name=re.compile("Add to the library")).click()
            expect(main.get_by_text("Done: added northmoor-protocol")).to_be_visible(timeout=300_000)
            expect(main.get_by_text("5 checklist items").first).to_be_visible()
            entry = page.locator(".st-key-source-northmoor-protocol")
            expect(entry).to_contain_text(TITLE)
            expect(entry).to_contain_text("past its review date")
            expect(main.get_by_text("3 sources")).to_be_visible()
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "sources-page.png"), full_page=True)
            assert (corpus / "northmoor-protocol.pdf").exists()

            # -- its out-of-hours number is in *What to do now*; the citation opens as the printed page
            reply = _ask(page)
            answer = _answer_text(reply)
            urgent = answer.split("What to do now", 1)[1]
            assert OUT_OF_HOURS in urgent and DAYTIME in urgent, answer
            source = reply.get_by_test_id("stExpander").filter(has_text=re.compile(re.escape(TITLE[:30])))
            source.first.locator("summary").click()
            source.first.get_by_text("Show the page as printed").click()
            image = source.first.get_by_test_id("stImage")
            expect(image).to_be_visible(timeout=60_000)
            expect(source.first).to_contain_text("the quoted text is highlighted")
            size = image.locator("img").evaluate("img => [img.naturalWidth, img.naturalHeight]")
            assert size[0] > 500 and size[1] > size[0], size  # a rendered A4 page, not an icon
            page.wait_for_timeout(500)
            source.first.screenshot(path=str(ARTIFACTS / "cited-page.png"))

            # -- removed (after a confirmation): the answer is the previous one again
            _go(page, "Sources")
            entry = page.locator(".st-key-source-northmoor-protocol")
            entry.get_by_role("button", name=re.compile(r"\bRemove$")).click()
            expect(entry).to_contain_text("Remove")
            entry.get_by_role("button", name="Yes, remove it").click()
            expect(main.get_by_text("Done: removed northmoor-protocol")).to_be_visible(timeout=300_000)
            expect(main.get_by_text("2 sources")).to_be_visible()
            assert not (corpus / "northmoor-protocol.pdf").exists()
            page.get_by_test_id("stSidebar").get_by_text("Practitioner", exact=True).click()  # as asked before
            page.wait_for_timeout(500)
            after = _answer_text(_ask(page))
            assert after == before
            page.screenshot(path=str(ARTIFACTS / "sources-after-removal.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "sources-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
