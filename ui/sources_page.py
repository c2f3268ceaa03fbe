"""The Sources page of the chat: the library the answers are quoted from.

Everyone sees the list (each source's dates, and a flag when it is past its review date).
Managers and trainers also add a protocol (its area and place names pre-filled with what the
document says of itself), follow the rebuild and read its report, replace a source with a new
version and remove one after a confirmation. A thin adapter over the API's /api/sources routes.
"""

from __future__ import annotations

import streamlit as st

from assistant.render import escape
from ui.client import Client, ServiceError
from ui.schema import Job, Proposal, Source

MANAGING_ROLES = ("manager", "trainer")
NEW_SOURCE = "Nothing: this is a new source"
FIELDS = {  # form field -> (label, help)
    "area": ("Area", "The area whose practitioners this protocol is for, e.g. Northmoor."),
    "places": ("Place names", "Names a practitioner might use for the area (towns, districts), separated by commas."),
    "title": ("Title", None),
    "kind": ("Kind", "e.g. local protocol, national guidance, practice guidance"),
    "version": ("Version", None),
    "date": ("Issue date", "e.g. March 2024"),
    "review_date": ("Review date", "When its publisher means to review it, e.g. March 2026."),
}


def _role(roles: dict[str, str]) -> str:
    with st.sidebar:
        st.radio("Your role", list(roles), key="role_label",
                 help="Managers and trainers add, replace and remove sources; practitioners see the list.")
    return roles[st.session_state.get("role_label") or next(iter(roles))]


def render(client: Client, roles: dict[str, str]) -> None:
    role = _role(roles)
    manage = role in MANAGING_ROLES
    st.title("Sources")
    st.caption("Answers quote these documents only, word for word. A local protocol's contacts and procedures "
               "apply in its own area.")
    try:
        listing = client.sources()
    except ServiceError as exc:
        st.error(exc.detail, icon=":material/error:")
        return
    state = st.session_state
    running = listing.job
    if running is not None:
        state["sources-job"] = running.id
    if state.get("sources-job"):
        _job(client, state["sources-job"])
    if manage:
        _upload(client, listing.sources, listing.max_upload_bytes, busy=running is not None)
    _listing(client, listing.sources, manage, busy=running is not None)


# -- a change in progress, then its report ------------------------------------------------------------


@st.fragment(run_every=2)
def _job(client: Client, job_id: str) -> None:
    try:
        job = client.job(job_id)
    except ServiceError as exc:
        if exc.status == 404:  # the service was restarted: nothing to follow
            st.session_state.pop("sources-job", None)
        else:
            st.warning(exc.detail)
        return
    if job.state == "running":
        st.session_state["sources-job-running"] = True
        label = {"add": "Adding", "replace": "Adding a new version:", "remove": "Removing"}[job.action]
        st.info(f"{label} {escape(job.target)}. Answers come from the current sources until the new index is "
                f"ready.", icon=":material/hourglass_top:")
        share = min(1.0, job.done / job.total) if job.total else 0.0
        st.progress(share, text=f"{job.stage}" + (f": {job.done} of {job.total}" if job.total else ""))
        return
    if st.session_state.pop("sources-job-running", False):
        st.rerun()  # the list (and the chat's areas) change with the new index
    _report(job)


def _report(job: Job) -> None:
    with st.container(border=True):
        if job.state == "failed":
            st.error(f"The change failed: {job.detail}", icon=":material/error:")
        else:
            st.success(f"Done: {job.detail}.", icon=":material/check_circle:")
        report = job.report
        if report is not None:
            for f in report.files:
                if f.doc_id not in job.added:
                    continue
                st.markdown(f"**{escape(f.title or f.file)}** ({escape(f.doc_id)}): area {escape(f.area)} · "
                            f"{f.pages if f.pages is not None else '–'} pages · {f.passages} passages · "
                            f"**{f.checklist_items} checklist items** found")
                for w in f.warnings:
                    st.warning(escape(w), icon=":material/visibility_off:" if "hidden text" in w else None)
            for name, reason in report.skipped:
                st.warning(f"Skipped {escape(name)}: {escape(reason)}")
            if report.files:
                st.caption(f"Index: {report.passages} passages, {report.checklist_items} checklist items; vectors "
                           f"{report.embedded} embedded, {report.reused} reused; {report.seconds:.0f} s.")
        for doc_id, assumed in job.assumed.items():
            lines = "  \n".join(f"{escape(k)}: {escape(v)}" for k, v in assumed.items())
            st.caption(f"Taken from the document itself for {escape(doc_id)} (replace it with a corrected entry if "
                       f"wrong):  \n{lines}")
        if st.button("Dismiss", key=f"dismiss-{job.id}"):
            st.session_state.pop("sources-job", None)
            st.rerun()


# -- adding a source -------------------------------------------------------------------------------------


def _upload(client: Client, sources: list[Source], limit: int, busy: bool) -> None:
    state = st.session_state
    state.setdefault("upload-n", 0)
    with st.container(border=True):
        st.markdown("**:material/upload_file: Add a protocol, or a new version of one**")
        upload = st.file_uploader(f"A PDF, text or Markdown file (up to {limit / 1_000_000:g} MB)",
                                  type=["pdf", "txt", "md"], key=f"upload-{state['upload-n']}")
        if upload is None:
            state.pop("proposed", None)
            return
        if state.get("proposed") != upload.file_id:
            try:
                with st.spinner("Reading what the document says of itself…"):
                    proposal = client.propose(upload.name, upload.getvalue())
            except ServiceError as exc:
                st.error(exc.detail, icon=":material/error:")
                return
            _prefill(proposal, sources)
            state["proposed"] = upload.file_id
        if state.get("src-reasons"):
            st.caption("Pre-filled from the document: " + escape("; ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in state["src-reasons"].items())) + ". Check and correct.")
        with st.form("add-source", border=False):
            for name, (label, help_) in FIELDS.items():
                st.text_input(label, key=f"src-{name}", help=help_, max_chars=300)
            ids = [NEW_SOURCE, *(s.id for s in sources if s.in_library)]
            st.selectbox("Replaces (a new version of)", ids, key="src-replaces",
                         format_func=lambda i: i if i == NEW_SOURCE else f"{i}: {_title(sources, i)}")
            submitted = st.form_submit_button("Add to the library", type="primary", disabled=busy,
                                              icon=":material/library_add:")
        if busy:
            st.caption("Another change is running: add this when it has finished.")
        if submitted:
            replaces = state["src-replaces"] if state["src-replaces"] != NEW_SOURCE else None
            try:
                job = client.add_source(upload.name, upload.getvalue(), replaces=replaces,
                                        **{name: state.get(f"src-{name}") for name in FIELDS})
            except ServiceError as exc:
                st.error(exc.detail, icon=":material/error:")
                return
            state["sources-job"] = job.id
            state["sources-job-running"] = True
            state["upload-n"] += 1
            state.pop("proposed", None)
            st.rerun()


def _prefill(proposal: Proposal, sources: list[Source]) -> None:
    state = st.session_state
    values = {"area": proposal.area, "places": ", ".join(proposal.places), "title": proposal.title,
              "kind": "local protocol", "version": proposal.version, "date": proposal.date,
              "review_date": proposal.review_date}
    for name, value in values.items():
        state[f"src-{name}"] = value
    state["src-reasons"] = {k: v for k, v in proposal.reasons.items() if k in ("area", "title")}
    # A document of an area already in the library is most likely its new version.
    same = [s.id for s in sources if s.in_library and proposal.area and s.area == proposal.area]
    state["src-replaces"] = same[0] if len(same) == 1 else NEW_SOURCE


def _title(sources: list[Source], source_id: str) -> str:
    return next((s.title for s in sources if s.id == source_id), source_id)


# -- the list --------------------------------------------------------------------------------------------


def _listing(client: Client, sources: list[Source], manage: bool, busy: bool) -> None:
    st.subheader(f"{len(sources)} sources")
    if not sources:
        st.info("No index yet: the service builds it from the library folder on its first start.")
    for s in sources:
        with st.container(border=True, key=f"source-{s.id}"):
            flag = " :red-badge[:material/event_busy: past its review date]" if s.past_review else ""
            st.markdown(f"**{escape(s.title)}**{flag}")
            dates = [f"issued {escape(s.date)}" if s.date else "issue date not stated"]
            if s.review_date:
                dates.append(f"review {escape(s.review_date)}")
            if s.version:
                dates.append(f"version {escape(s.version)}")
            st.caption(f"{escape(s.area)} · {escape(s.kind)} · " + " · ".join(dates))
            st.caption(f"{s.pages if s.pages is not None else '–'} pages · {s.passages} passages · "
                       f"{s.checklist_items} checklist items · added {escape(s.added)} · id `{s.id}`"
                       + ("" if s.in_library else " · not in the library folder"))
            if manage and s.in_library:
                _remove(client, s, busy)


def _remove(client: Client, s: Source, busy: bool) -> None:
    state = st.session_state
    if state.get("confirm-remove") != s.id:
        if st.button("Remove", key=f"remove-{s.id}", icon=":material/delete:", disabled=busy):
            state["confirm-remove"] = s.id
            st.rerun()
        return
    st.warning(f"Remove **{escape(s.title)}** from the library? Answers will no longer quote it; the index is "
               f"rebuilt without it.")
    yes, no = st.columns(2)
    if yes.button("Yes, remove it", key=f"remove-yes-{s.id}", type="primary", disabled=busy):
        state.pop("confirm-remove", None)
        try:
            job = client.remove_source(s.id)
        except ServiceError as exc:
            st.error(exc.detail)
            return
        state["sources-job"] = job.id
        state["sources-job-running"] = True
        st.rerun()
    if no.button("Cancel", key=f"remove-no-{s.id}"):
        state.pop("confirm-remove", None)
        st.rerun()
