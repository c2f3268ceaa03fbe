"""`hha chat`: a conversation with the guidance in the terminal, for trainers and for testing.

It behaves as the chat does: each message goes with the earlier ones of the conversation, so a
follow-up is answered in the light of the case it follows, and the follow-up actions under each
answer can be picked by number. The conversation is held in memory only: no history file, no log.
"""

from __future__ import annotations

import sys
from typing import TextIO

from assistant.conversation import NEW_CASE
from assistant.errors import AssistantError

HELP = (
    "Ask a question or describe a case (no names or identifying details). A number picks a follow-up action; "
    "/new starts afresh; /area NAME sets your area (/area alone unsets it); /quit ends. "
    "Nothing of this conversation is saved."
)
PROMPT = "you> "


def run_chat(assistant, *, area: str | None = None, role: str = "practitioner", stdin: TextIO = sys.stdin,
             stdout: TextIO = sys.stdout, echo: bool | None = None) -> int:
    """Read messages from `stdin` until it ends or /quit; answer each with the conversation so
    far. `echo`: repeat each message after the prompt (default: when `stdin` is not a terminal,
    so that a transcript reads as the conversation did)."""
    from assistant.render import to_markdown

    echo = (not stdin.isatty()) if echo is None else echo
    context: list[str] = []
    actions: tuple[str, ...] = ()

    def say(text: str = "") -> None:
        print(text, file=stdout, flush=True)

    say(HELP)
    while True:
        stdout.write(f"\n{PROMPT}")
        stdout.flush()
        line = stdin.readline()
        if not line:
            say()
            return 0
        text = line.strip()
        if echo:
            say(text)
        if not text:
            continue
        if text in ("/quit", "/exit", "/q"):
            return 0
        if text == "/new":
            context.append(NEW_CASE)
            actions = ()
            say("(Starting afresh: your next message is read as a new case. The area stays.)")
            continue
        if text == "/area" or text.startswith("/area "):
            area = text[len("/area"):].strip() or None
            say(f"(Your area: {area})" if area else "(Your area is not set.)")
            continue
        if text.isdigit() and actions:
            if not 1 <= int(text) <= len(actions):
                say(f"(Pick 1 to {len(actions)}.)")
                continue
            text = actions[int(text) - 1]
            say(f"({text})")
        try:
            answer = assistant.answer(text, area=area, role=role, context=context)
        except AssistantError as exc:
            say(f"hha: {exc}")
            continue
        context.append(text)
        say()
        say(to_markdown(answer).rstrip())
        actions = answer.actions
        if actions:
            say()
            say("Follow up: " + "  ".join(f"[{n}] {a}" for n, a in enumerate(actions, 1)))
