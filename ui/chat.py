"""The chat: a thin Streamlit adapter over the HTTP API (`hha serve`).

    streamlit run ui/chat.py        # or `hha ui`; `hha run` starts the API and the chat

It holds no index and no model. Each question goes to the service; the answer comes back as
Markdown with citation markers [n] and the cited passages, shown here in context. Each question
carries the earlier messages of the conversation, so a follow-up is answered in the light of the
case it follows. Nothing is written to disk: the conversation lives in this browser session until
it is cleared.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # `streamlit run` from a bare checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from assistant.conversation import NEW_CASE
from assistant.errors import SettingsError
from assistant.render import escape
from assistant.settings import Settings
from ui import sources_page
from ui.client import Client, ServiceError
from ui.markup import citation_label, clip, highlight, inert_lines, without_sources
from ui.notes import note_markdown, note_pdf
from ui.schema import AnswerResponse, Citation, Document, DocumentResponse, DocumentsResponse, Health

NOT_SET = "Not set"
ROLES = {"Practitioner": "practitioner", "Manager": "manager", "Trainer": "trainer"}
ROLE_CAPTIONS = [
    "Guidance for your question or case.",
    "Supervision: paste a case summary; get the questions a supervisor would ask.",
    "The same answer, with the evidence and scores behind each extract, and the evaluation report.",
]
PLACEHOLDER = {
    "practitioner": "Ask a question or describe a case (no names or identifying details)",
    "manager": "Paste a case summary for supervision (no names or identifying details)",
    "trainer": "Ask a question or describe a case (no names or identifying details)",
}
MAX_QUESTION_CHARS = 4000


# -- talking to the service ------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _client(url: str, token: str | None) -> Client:
    return Client(url, token)


@st.cache_data(ttl=300, show_spinner=False)
def _documents(url: str, token: str | None, build: str | None) -> DocumentsResponse:
    return _client(url, token).documents()


@st.cache_data(ttl=900, show_spinner=False, max_entries=32)
def _document(url: str, token: str | None, build: str | None, doc_id: str) -> DocumentResponse:
    return _client(url, token).document(doc_id)


@st.cache_data(ttl=900, show_spinner=False, max_entries=32)
def _cited_page(url: str, token: str | None, build: str | None, passage_id: str,
                spans: tuple[tuple[int, int], ...]) -> tuple[bytes, int, bool]:
    return _client(url, token).cited_page(passage_id, list(spans))


# -- pieces of the page ---------------------------------------------------------------------------------


def _sidebar(areas: list[str], modes: list[str]) -> tuple[str | None, str, str]:
    state = st.session_state
    with st.sidebar:
        st.header("Your setting")
        options = [NOT_SET, *areas]
        if state.get("area") not in options:
            state["area"] = NOT_SET
        st.selectbox(
            "Your area", options, key="area",
            help="Your own area's local procedures and contacts come first. Not set: each area's are shown, labelled.",
        )
        st.radio("Your role", list(ROLES), key="role_label", captions=ROLE_CAPTIONS)
        if "llm" in modes:
            st.toggle("Add a short summary by the local language model", key="llm",
                      help="Each of its sentences is checked against the passages it cites; the quotes stay.")
        st.button("Clear conversation", on_click=_clear, icon=":material/delete:", width="stretch")
        st.caption("Questions are not stored. Clearing removes this conversation from the page.")
    area = None if state["area"] == NOT_SET else state["area"]
    mode = "llm" if "llm" in modes and state.get("llm") else "extractive"
    return area, ROLES[state["role_label"]], mode


def _clear() -> None:
    state = st.session_state
    state["messages"] = []
    state["context"] = []
    state.pop("pending", None)
    for key in [k for k in state if isinstance(k, str) and k.startswith(("fb-", "fbq-"))]:
        del state[key]


def _about_sources(documents: list[Document]) -> None:
    with st.expander("About the sources", icon=":material/menu_book:"):
        st.markdown(
            "Answers are built only from these documents. Every sentence under a heading is quoted word for word "
            "and cited; the headings and notes are the assistant's own. A local protocol's contacts and procedures "
            "apply in its own area only."
        )
        for d in documents:
            st.markdown(
                f"**{escape(d.title)}**  \n"
                f"{escape(d.publisher)}  \n"
                f"Area: {escape(d.area)} · Date: {escape(d.date)} · Kind: {escape(d.kind)}  \n"
                f"{escape(d.summary)}"
            )


def _evaluation_report(data_dir: Path) -> None:
    folder = data_dir / "eval"
    report = folder / "report.md"
    with st.expander("Latest evaluation report", icon=":material/monitoring:"):
        if not report.exists():
            st.info(f"No evaluation report yet. Run `hha eval` (or `make eval`); it writes `{report}` and its plots.")
            return
        text = report.read_text(encoding="utf-8")
        st.markdown("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("![")))
        for png in sorted(folder.glob("*.png")):
            st.image(str(png), caption=png.stem.replace("_", " "))


@st.fragment(run_every=3)
def _waiting(client: Client) -> None:
    """While the service builds or loads its index: progress, refreshed every few seconds."""
    try:
        health = client.health()
    except ServiceError as exc:
        st.error(exc.detail)
        return
    if health.status == "ready":
        st.rerun()
    if health.status == "failed":
        st.error(f"The guidance index could not be prepared: {health.detail}")
        return
    progress = health.progress
    if health.status == "building":
        st.info("The guidance index is being built for the first time. This takes a few minutes; "
                "the chat opens when it is ready.", icon=":material/hourglass_top:")
        if progress and progress.total:
            st.progress(min(1.0, progress.done / progress.total),
                        text=f"{progress.stage}: {progress.done} of {progress.total}")
        elif progress and progress.stage:
            st.caption(progress.stage)
    else:
        st.info("The guidance service is loading; the chat opens in a moment.", icon=":material/hourglass_top:")


def _passage_in_context(settings: Settings, build: str | None, c: Citation, key: str) -> None:
    before = after = doc = None
    passage = c.passage
    try:
        doc = _document(settings.api_url, settings.api_token, build, passage.doc_id)
        passages = doc.passages
        i = next((i for i, p in enumerate(passages) if p.id == passage.id), None)
        if i is not None:
            before = passages[i - 1] if i > 0 else None
            after = passages[i + 1] if i + 1 < len(passages) else None
    except ServiceError:
        pass
    spans = tuple((q.start, q.end) for q in c.quoted)
    printed = doc is not None and doc.document.source_file.lower().endswith(".pdf") and passage.page is not None
    if printed and st.toggle("Show the page as printed", key=f"page-{key}-{c.n}"):
        _printed_page(settings, build, c, spans)
        return
    st.caption(f"Area: {escape(passage.area)}. The quoted sentences are highlighted.")
    if before:
        st.caption(inert_lines(clip(before.text, 320, tail=True)))
    st.markdown(highlight(passage.text, spans))
    if after:
        st.caption(inert_lines(clip(after.text, 320)))


def _printed_page(settings: Settings, build: str | None, c: Citation, spans: tuple[tuple[int, int], ...]) -> None:
    try:
        with st.spinner("Rendering the page…"):
            png, page, marked = _cited_page(settings.api_url, settings.api_token, build, c.passage.id, spans)
    except ServiceError as exc:
        st.warning(f"The page cannot be shown: {exc.detail}")
        return
    st.caption(f"Page {page} as printed: " + ("the quoted text is highlighted." if marked else
               "the quoted text could not be found on the page with certainty, so the page is shown alone."))
    st.image(png, caption=f"{c.passage.title}, p. {page}")


def _trainer_view(answer: AnswerResponse) -> None:
    citations = {c.n: c for c in answer.citations}
    parts = [(p.heading, p.extracts) for p in ([answer.urgent] if answer.urgent else []) + answer.parts]
    parts += [("Questions to explore", answer.checklist)] if answer.checklist else []
    with st.expander("For trainers: the evidence behind each extract", icon=":material/school:"):
        st.caption("Sentence score: how close the sentence is to the question (and its facet). Retrieval: "
                   "how the cited passage was found (fused score, cosine similarity, its rank among the "
                   "passage vectors, among the passages' best sentences and in the word index, and the facet of the "
                   "case it was found for).")
        for heading, extracts in parts:
            st.markdown(f"**{escape(heading)}**")
            for e in extracts:
                c = citations[e.citation]
                r = c.retrieval
                rank = (f"retrieval score {r.score:.4f}, similarity {r.similarity:.2f}, "
                        f"dense rank {r.dense_rank or '–'}, sentence rank {r.sentence_rank or '–'}, "
                        f"lexical rank {r.lexical_rank or '–'}"
                        + (f", facet {r.facet}" if r.facet else "")) if r else "retrieval: not recorded"
                st.markdown(f"“{escape(e.text)}” [{e.citation}]  \nSentence score {e.score:.3f}; {rank}")
                st.markdown("> " + highlight(c.passage.text, [(e.start, e.end)]).replace("  \n", "  \n> "))


def _send_feedback(msg: dict, client: Client) -> None:
    state = st.session_state
    value = state.get(f"fb-{msg['id']}")
    if value is None:
        return
    answer = msg["answer"]
    question = msg["question"] if state.get(f"fbq-{msg['id']}") else None
    try:
        client.feedback("up" if value == 1 else "down", [c.passage.id for c in answer.citations], question)
        msg["feedback"] = "sent with your question" if question else "sent (your question was not included)"
    except ServiceError as exc:
        msg["feedback"] = f"not sent: {exc.detail}"


def _answer(msg: dict, settings: Settings, build: str | None, client: Client) -> None:
    answer, key = msg["answer"], msg["id"]
    st.markdown(without_sources(answer.markdown))
    if answer.citations:
        st.markdown("**Sources** (open one to read the passage in context)")
        for c in answer.citations:
            with st.expander(citation_label(c)):
                _passage_in_context(settings, build, c, key)
    if msg["role_name"] == "trainer" and answer.citations:
        _trainer_view(answer)
    if "pdf" not in msg:
        msg["pdf"] = note_pdf(answer.model_dump())
    left, right = st.columns(2)
    left.download_button("Download note (Markdown)", note_markdown(answer.model_dump()), file_name="hidden-harm-note.md",
                         mime="text/markdown", key=f"md-{key}", on_click="ignore", icon=":material/download:")
    right.download_button("Download note (PDF)", msg["pdf"], file_name="hidden-harm-note.pdf",
                          mime="application/pdf", key=f"pdf-{key}", on_click="ignore", icon=":material/download:")
    st.checkbox("Include my question with my feedback", key=f"fbq-{key}", value=False,
                disabled="feedback" in msg, help="Off: only your rating and the cited passages are sent.")
    st.feedback("thumbs", key=f"fb-{key}", on_change=_send_feedback, args=(msg, client),
                disabled="feedback" in msg)
    if "feedback" in msg:
        st.caption(f"Thank you: feedback {msg['feedback']}.")


def _follow_ups(msg: dict) -> None:
    """Under the latest answer: the follow-up actions (each sent as a follow-up message with
    this conversation's context), and a way to start afresh when the answer carried a case over."""
    answer, key = msg["answer"], msg["id"]
    with st.container(horizontal=True, key=f"follow-ups-{key}"):
        for n, action in enumerate(answer.actions):
            st.button(action, key=f"act-{key}-{n}", on_click=_queue, args=(action,), icon=":material/reply:")
        if answer.conversation is not None and answer.conversation.follow_up:
            st.button("Start afresh", key=f"afresh-{key}", on_click=_start_afresh, icon=":material/restart_alt:",
                      help="The next message is read as a new case; the area stays.")


def _queue(message: str) -> None:
    st.session_state["pending"] = message


def _start_afresh() -> None:
    state = st.session_state
    state["context"].append(NEW_CASE)
    state["messages"].append({"role": "marker", "text": "New case: nothing above is carried over to what you ask next."})


def _history(settings: Settings, build: str | None, client: Client, actions: bool = True) -> None:
    messages = st.session_state["messages"]
    for n, msg in enumerate(messages):
        if msg["role"] == "marker":
            st.divider()
            st.caption(msg["text"])
            continue
        with st.chat_message(msg["role"]):
            if msg["role"] == "user":
                st.markdown(inert_lines(msg["text"]))
            elif "error" in msg:
                st.error(msg["error"])
            else:
                _answer(msg, settings, build, client)
                if actions and n == len(messages) - 1:
                    _follow_ups(msg)


def _ask(prompt: str, area: str | None, role: str, mode: str, settings: Settings, build: str | None,
         client: Client) -> None:
    messages, context = st.session_state["messages"], st.session_state["context"]
    messages.append({"role": "user", "text": prompt})
    with st.chat_message("user"):
        st.markdown(inert_lines(prompt))
    with st.chat_message("assistant"):
        try:
            with st.spinner("Finding the guidance that applies…"):
                answer = client.ask(prompt, area=area, role=role, mode=mode, context=context)
        except ServiceError as exc:
            messages.append({"role": "assistant", "error": exc.detail})
            st.error(exc.detail)
            return
        # The conversation so far, for the next follow-up: in this browser session only.
        context.append(prompt)
        msg = {"role": "assistant", "id": uuid.uuid4().hex[:10], "answer": answer, "question": prompt,
               "role_name": role}
        messages.append(msg)
        _answer(msg, settings, build, client)
        _follow_ups(msg)


def main() -> None:
    st.set_page_config(page_title="Hidden Harm guidance", page_icon=":material/menu_book:")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        st.error(f"This service is misconfigured: {exc}.")
        return
    client = _client(settings.api_url, settings.api_token)
    st.session_state.setdefault("messages", [])
    st.session_state.setdefault("context", [])  # the user's messages, sent with each follow-up

    problem, health, documents = None, Health(status="starting"), DocumentsResponse(documents=[], areas=[])
    try:
        health = client.health()
        if health.status == "ready":
            documents = _documents(settings.api_url, settings.api_token, health.build)
    except ServiceError as exc:
        problem = exc.detail + (". Start it with `hha serve`, or start both with `hha run`." if exc.status == 0 else "")
    ready = problem is None and health.status == "ready"

    area, role, mode = _sidebar(documents.areas, health.modes or [])
    st.title("Hidden Harm guidance")
    st.caption("For practitioners working with families where parents misuse drugs or alcohol. Answers quote "
               "safeguarding protocols word for word, with sources. Do not enter names or identifying details.")
    if problem:
        st.error(problem, icon=":material/error:")
    elif not ready:
        _waiting(client)
    if documents.documents:
        _about_sources(documents.documents)
    if role == "trainer":
        _evaluation_report(settings.data_dir)
    if role == "manager":
        st.info("Supervision: paste a case summary below. The answer adds the questions a supervisor would ask.",
                icon=":material/supervisor_account:")

    # The chat input sits at the foot of the page wherever it is called: read first, so that the
    # answer being replaced as the latest does not show its follow-up actions meanwhile.
    prompt = st.chat_input(PLACEHOLDER[role], max_chars=MAX_QUESTION_CHARS, disabled=not ready)
    prompt = st.session_state.pop("pending", None) or prompt  # a follow-up action pressed
    asking = bool(prompt and prompt.strip())
    _history(settings, health.build, client, actions=not asking)
    if asking:
        _ask(prompt, area, role, mode, settings, health.build, client)


def sources() -> None:
    """The Sources page (ui/sources_page.py): the library, and for managers and trainers its changes."""
    settings = Settings.from_env()
    sources_page.render(_client(settings.api_url, settings.api_token), ROLES)


def app() -> None:
    st.set_page_config(page_title="Hidden Harm guidance", page_icon=":material/menu_book:")
    state = st.session_state
    for key in ("area", "role_label", "llm"):  # the sidebar's choices outlive a visit to the other page
        if key in state:
            state[key] = state[key]
    st.navigation([
        st.Page(main, title="Ask", icon=":material/chat:", url_path="ask", default=True),
        st.Page(sources, title="Sources", icon=":material/library_books:", url_path="sources"),
    ]).run()


app()
