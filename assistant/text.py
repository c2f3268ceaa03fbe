"""Text utilities shared by ingest and retrieval: sentence spans and lexical tokens.
Pure functions, no third-party imports."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = {"e.g", "i.e", "etc", "eg", "ie", "dr", "mr", "mrs", "ms", "no", "vs", "cf", "approx", "incl", "st"}
_SENTENCE_END = re.compile(r"(?<=[.?!])([”’\"')\]]*)\s+(?=[A-Z‘“\"'(0-9•◦])|\n+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the sentences of `text`, stripped of surrounding space.
    A line break always ends a sentence (bullets and headings are lines of their own)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        # A closing quote or bracket after the full stop stays with its sentence.
        cut = match.start() + len(match.group(1) or "")
        before = text[start : match.start()].rstrip()
        word = re.search(r"(\S+)$", before)
        if match.group(0).strip() == "" and "\n" not in match.group(0) and word:
            token = word.group(1).rstrip(".").lower()
            if token in _ABBREVIATIONS or re.fullmatch(r"[a-z]", token) or re.fullmatch(r"\d+(\.\d+)*", token):
                continue
        spans.append((start, cut))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


PHONE = re.compile(r"\b0\d{3,4} ?\d{3} ?\d{3,4}\b")
_LINK = re.compile(r"(?:https?://|www\.)\S+")
_URL_ONLY = re.compile(rf"^(?:[\w ]+:\s*)?{_LINK.pattern}$")  # a link, perhaps labelled, alone on its line
# A sentence that points at what comes next ("The following tips are from groups of foster
# carers...", "4.2 The checklist below may be considered as part of assessment"): shown alone,
# it says nothing to act on. Past 30 words a sentence has its own content (in this corpus the
# longest pointer is 26 words; "below" alone is no sign: "services below crisis thresholds").
_POINTER = re.compile(r"\b(the following|as follows)\b|\b(the|this) (\w+ ){0,2}(checklist|table|list|questions|"
                      r"tips|suggestions)\s+below\b", re.I)
_POINTER_WORDS = 30
# A condition that its sub-items complete ("If the parent/carers use of alcohol is problematic;"
# and then "Do they drink every day?"): a lead-in, as one ending in a colon is.
_OPEN_CONDITION = re.compile(r"^([-–*]\s+)?(if|where|when|whether)\b", re.I)


def guidance_spans(text: str, headings: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """Sentence spans of a passage that can stand as guidance: not its heading lines, not
    bare links, not lead-ins (ending in a colon, or a condition ending in a semicolon), not
    sentences that only point at what follows, without the bullet glyph of list items. A
    lead-in that introduces a link ("Please follow link to the pre-birth planning procedures:"
    and the link on the next line) is one span: the local procedure it points to is the guidance.
    Questions asked one after another on one line are one span (`question_runs`)."""
    heading_set = set(headings)
    sentences = question_runs(text, sentence_spans(text))
    spans = []
    for n, (a, b) in enumerate(sentences):
        while text[a:b].startswith(("• ", "◦ ")):
            a += 2
        line = text[a:b].strip()
        if not line or line in heading_set or _URL_ONLY.match(line):
            continue
        if len(line.split()) < 3 and not PHONE.search(line):
            continue
        if _POINTER.search(line) and len(line.split()) < _POINTER_WORDS:
            continue
        if (line.endswith(":") or (line.endswith(";") and _OPEN_CONDITION.match(line))) and len(line.split()) < 20:
            following = sentences[n + 1] if n + 1 < len(sentences) else None
            if following and _LINK.fullmatch(text[following[0] : following[1]]):
                spans.append((a, following[1]))
            continue  # else a lead-in ("If parents are on a substitute prescribing programme:"), not guidance
        spans.append((a, b))
    return spans


# The longest list item of the corpus that asks several questions is 40 words; paragraphs of
# questions set as one line run to 150.
_QUESTION_RUN_WORDS = 40


def question_runs(text: str, sentences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Questions asked one after another on one line joined into one span: a checklist item
    with its follow-ups ("Where is the injecting equipment kept? In the family home? Are works
    kept securely?"), or a question that leans on the one before ("How is the money obtained?
    If through crime, or sex working is this affecting the care and development of the
    child?"). Apart, a follow-up is shown without what it asks about, or not at all. A run
    stops at `_QUESTION_RUN_WORDS`: a paragraph of questions on one line is not one item."""
    out: list[tuple[int, int]] = []
    for a, b in sentences:
        if (out and text[out[-1][1] - 1] == "?" and text[b - 1] == "?" and "\n" not in text[out[-1][1] : a]
                and len(text[out[-1][0] : b].split()) <= _QUESTION_RUN_WORDS):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves also may might must shall us im ive dont
    got get gets getting whats thats theres don can won isn aren doesn didn couldn shouldn wouldn wasn
    weren hasn haven hadn ain cant wont didnt isnt doesnt wasnt""".split()
)

# Informal words of a typed question that carry no topic: they are never a sign that the
# sources lack the subject of the question.
CHAT_WORDS = frozenset(
    """stuff thing things bit lot lots basically honestly really roughly pretty quite actually literally
    just ok okay pls please thanks cheers hi hello anyone someone somebody nobody everyone tomorrow today
    tonight yesterday morning afternoon evening night week weeks wks month months year years yr yrs yo
    monday tuesday wednesday thursday friday saturday sunday mon tue wed thu thur thurs fri sat sun
    next last ago soon now yet still already apart barely mostly mainly sure unsure think thought know
    knew want wanted need needs needed tell told say said ask asked sent send sending mine yours ours
    guy guys lady man woman bloke boy girl kid kids ballpark slide""".split()
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[’'][a-z]+)?")


def stem(word: str) -> str:
    """A light suffix stripper: enough to meet 'parents'/'parent', 'injecting'/'inject',
    'carers'/'carer', without a stemming library's surprises on domain words."""
    word = re.sub(r"[’']s$", "", word)
    for suffix, repl, min_len in (
        ("ies", "y", 5),
        ("sses", "ss", 5),
        ("ness", "", 7),
        ("ing", "", 6),
        ("ed", "", 5),
        ("es", "e", 5),
        ("s", "", 4),
    ):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


# Clause and section numbers ("10.1.1.", "4.2.1 Impact on...", "10. Referral to..." opening a
# line or a heading of a section path): the protocols' layout, not their words. As terms, the
# "10" of "a 10 year old" met the heading "10. Parent's perception of the situation" (and "10"
# is a rarer word there than "drink").
_NUMBERING = re.compile(r"\b\d+(?:\.\d+)+\.?|(?:^|›)\s*\d+\.(?=\s)", re.M)


def _words(text: str) -> list[str]:
    """The words of a text as BM25 reads them, before stemming."""
    return _TOKEN.findall(_NUMBERING.sub(" ", text.lower()).replace("/", " ").replace("-", " "))


def _token(word: str) -> str | None:
    """A word's BM25 token: its stem, or None for a stop word or a single letter."""
    t = re.sub(r"[’']\w+$", "", word)  # she's -> she, don't -> don
    return stem(t) if t not in STOPWORDS and len(t) > 1 else None


def lexical_tokens(text: str) -> list[str]:
    """Lower-cased, punctuation-free, stop-word-free, lightly stemmed tokens for BM25."""
    return [t for t in map(_token, _words(text)) if t is not None]


def library_tokens(texts: Iterable[str]) -> Iterator[list[str]]:
    """`lexical_tokens` of each text, each distinct word read once: a library's texts repeat
    their words, and a national library's BM25 is otherwise most of its loading time. The
    words are kept for this pass only (never a user's: this is for the library's own text)."""
    seen: dict[str, str | None] = {}  # a word as found -> its token, or None when it is dropped
    for text in texts:
        out = []
        for word in _words(text):
            if word not in seen:
                seen[word] = _token(word)
            if (token := seen[word]) is not None:
                out.append(token)
        yield out
