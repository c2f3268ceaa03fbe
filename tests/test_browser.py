"""End to end in a real browser: `hha serve` and the Streamlit chat as subprocesses over the
session's index, driven by Debian's headless Chromium through Playwright."""

from __future__ import annotations

from pathlib import Path

import pytest
from live_servers import PYTHON, ROOT, free_port, process, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "artifacts"
CASE_1 = (
    "Imran, 32, is working with me to address his heroin problem. He has said that his partner Jennifer, 30, "
    "drinks frequently but is not in contact with services. Their children David and Misha are 3 and 5."
)


@pytest.fixture(scope="module")
def chat_url(corpus_location, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium (scripts/test-setup.sh installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    from ui.launch import streamlit_command

    logs = tmp_path_factory.mktemp("browser-logs")
    api_port, ui_port = free_port(), free_port()
    env = {"HHA_DATA_DIR": str(corpus_location.data_dir), "HHA_API_URL": f"http://127.0.0.1:{api_port}",
           "HHA_API_TOKEN": ""}
    serve = [PYTHON, "-m", "ui.cli", "serve", "--port", str(api_port)]
    with (
        process(serve, env, logs / "api.log") as api,
        process(streamlit_command(ui_port), env, logs / "ui.log") as ui,
    ):
        wait_for(f"http://127.0.0.1:{api_port}/api/health", 300, process=api,
                 ok=lambda r: r.status_code == 200 and r.json().get("status") == "ready")
        wait_for(f"http://127.0.0.1:{ui_port}/_stcore/health", 120, process=ui)
        yield f"http://127.0.0.1:{ui_port}"
        api_log = (logs / "api.log").read_text(errors="replace")
        assert "heroin" not in api_log and "Jennifer" not in api_log, "the question reached the service's log"


def test_a_case_gets_a_cited_answer_in_a_real_browser(chat_url, corpus_assistant):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    titles = {d.title for d in corpus_assistant.index.documents}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.set_default_timeout(60_000)
            page.goto(chat_url, wait_until="domcontentloaded")
            box = page.get_by_test_id("stChatInputTextArea")
            expect(box).to_be_enabled(timeout=60_000)
            box.fill(CASE_1)
            box.press("Enter")
            reply = page.get_by_test_id("stChatMessage").nth(1)
            expect(reply).to_contain_text("[1]", timeout=120_000)
            source = reply.get_by_test_id("stExpander").first
            expect(source).to_contain_text("[1] ")
            label = source.inner_text()
            assert any(title in label for title in titles), label
            source.locator("summary").click()  # the passage in context, quoted sentences in bold
            expect(source.locator("strong").first).to_be_visible()
            page.wait_for_timeout(600)  # let the expander finish opening
            page.screenshot(path=str(ARTIFACTS / "browser-answer.png"), full_page=True)
        finally:
            browser.close()


DUNSTABLE_CASE = ("Dad is the sole carer of a 2-year-old and is on take-home methadone. The health visitor found the "
                  "bottle on the kitchen side. We're in Dunstable.")


def test_a_three_turn_conversation_and_a_follow_up_action_in_a_real_browser(chat_url):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            page.set_default_timeout(60_000)
            page.goto(chat_url, wait_until="domcontentloaded")
            box = page.get_by_test_id("stChatInputTextArea")
            messages = page.get_by_test_id("stChatMessage")

            def say(text: str, reply: int) -> object:
                expect(box).to_be_enabled(timeout=60_000)
                box.fill(text)
                box.press("Enter")
                answer = messages.nth(reply)
                expect(answer).to_contain_text("[1]", timeout=120_000)
                return answer

            say(DUNSTABLE_CASE, 1)
            second = say("what if he's drinking at weekends too?", 3)
            expect(second).to_contain_text("Answering for the case above")
            expect(second).to_contain_text("drinking")  # the follow-up's own facet, with the case's
            expect(second).to_contain_text("methadone")
            third = say("who do I ring out of hours?", 5)
            expect(third).to_contain_text("0300 300 8123")  # the out-of-hours team of the case's area
            expect(third).to_contain_text("from “Dunstable”")
            # Follow-up actions sit under the latest answer only.
            expect(second.locator("button", has_text="Questions to explore only")).to_have_count(0)
            third.locator("button", has_text="Questions to explore only").click()
            action = messages.nth(7)
            expect(action).to_contain_text("Questions to explore", timeout=120_000)
            expect(action).to_contain_text("Answering for the case above")
            expect(messages.nth(6)).to_contain_text("Questions to explore only")  # sent as the user's message
            shown = action.get_by_test_id("stMarkdownContainer").first  # the answer itself, not its buttons
            expect(shown).to_contain_text("Questions to explore")
            expect(shown).not_to_contain_text("What to do now")  # only the questions, as asked
            page.wait_for_timeout(600)
            page.screenshot(path=str(ARTIFACTS / "browser-conversation.png"), full_page=True)
        finally:
            browser.close()
