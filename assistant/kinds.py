"""What a sentence of a source is: guidance, a finding, an illustration, or background.

An answer's *Guidance that applies* holds guidance only (what to do, ask or consider). Research
findings may be shown only labelled as findings; case studies, quoted words of practitioners,
parents or focus-group participants, and a report's aims or policy background never appear as
guidance. The label comes from the kind of document (a protocol or practice tips speak to
practitioners; a national report or commissioning paper mostly reports and describes) and from
cues in the sentence and its section. Measured on a hand-labelled sample of the corpus
(`evals/data/sentence_labels.yaml`, reported by `hha eval`).
"""

from __future__ import annotations

import re

GUIDANCE, FINDING, ILLUSTRATION, BACKGROUND = "guidance", "finding", "illustration", "background"
KINDS = (GUIDANCE, FINDING, ILLUSTRATION, BACKGROUND)

# Document kinds written to tell practitioners what to do (see corpus/manifest.toml).
PRACTICE_KINDS = frozenset({"local protocol", "practice tips", "practice guidance"})

_ILLUSTRATION_SECTION = re.compile(r"\bcase stud|\bfocus group|\bvignette|\bexample|\bproject\b|\bprogramme\b|"
                                   r"\binitiative\b|\bservice\b.*\b(in|for)\b|\bsurvey\b|\bquestionnaire\b", re.I)
_QUOTED = re.compile(r"^[“\"‘']|[”\"’']\s*(–|-)\s*\w|\b(said|remarked|told us|commented|explained|described)\b|"
                     r"\bone (worker|participant|practitioner|parent|mother|father|respondent)\b", re.I)
_FINDING = re.compile(
    r"\b(research(ers)?|stud(y|ies)|surveys?|evidence (suggests|shows)|estimate[sd]?|estimates suggest|found that|"
    r"findings?|evaluations?|per ?cent|respondents|participants|were (found|reported)|reported that|"
    r"more likely|less likely|led to|resulted in|significantly|a third|a quarter|half of|majority of|"
    r"proportion of|\d+(\.\d+)?%|\d{1,3}(,\d{3})+)\b|%", re.I)
_DIRECTIVE = re.compile(
    r"\?\s*$|\b(should|must|need(s)? to|ought|ensure|make sure|consider|ask|check|refer(ral)?s?|contact|"
    r"it is (vital|important|essential|expected|recommended|good practice)|is expected|are expected|"
    r"do not|don[’']t|never|always|remember|try to|avoid|be (aware|clear|realistic|careful|prepared|honest)|"
    r"please|telephone|tel:|email|(you|we|staff|workers|practitioners|professionals|services?|teams?) will|"
    r"may (wish|need|want)|can (help|be used|provide|ask|refer|contact))\b|\b0\d{3,4} ?\d{3} ?\d{3,4}\b|@",
    re.I)
_IMPERATIVE = re.compile(
    r"^(\d+(\.\d+)*\.?\s+)?(be|do|don[’']t|ask|check|consider|concentrate|visit|keep|make|try|avoid|remember|"
    r"think|look|find|talk|listen|record|note|share|seek|use|plan|agree|identify|assess|ensure|refer|contact|"
    r"involve|explore|clarify|establish|discuss|encourage|support|offer|provide|take|give|speak|write|obtain|"
    r"review|monitor|focus|work|engage|include|allow|help|tell|let|see|read|get|set|recognise|acknowledge|"
    r"challenge|question|balance|prepare|avoid|expect|never|always|please)\b", re.I)
_CONTEXT_SECTION = re.compile(r"\b(legal|legislation|policy (framework|context)|local context|background|definitions?|"
                              r"references|bibliography|acknowledg|glossary|contents)\b", re.I)
_STRONG = re.compile(r"\?\s*$|\b(should|must|need(s)? to|ensure|it is (vital|important|essential|critical))\b", re.I)
# A checklist question whose question mark the extraction lost ("Are there known learning difficulties").
_ASKS = re.compile(r"^(if [^,]{1,40}, )?(is|are|do|does|did|has|have|had|what|where|who|how|when|can|will|would|"
                   r"could|should)\b", re.I)
_TITLE_LIKE = re.compile(r"^[^a-z]*$|^(appendix|section|figure|table|contents|page)\b", re.I)


# A question, perhaps with a bracketed note after it: "Does the child witness the parent taking
# their medication? (Risk of young children copying their parents)", "How much do the parents
# spend on drugs (per day? per week?)".
_QUESTION_END = re.compile(r"\?[\"”’)\]]*(\s*[(\[][^()\[\]]*[)\]])?\s*$")


def asks_question(text: str) -> bool:
    return bool(_QUESTION_END.search(text))


def sentence_kind(text: str, section: tuple[str, ...], doc_kind: str) -> str:
    """The kind of one sentence, given its section path and its document's kind."""
    heading = " › ".join(section)
    if _ILLUSTRATION_SECTION.search(heading) and re.search(r"case stud|focus group|vignette", heading, re.I):
        return ILLUSTRATION
    if _QUOTED.search(text):
        return ILLUSTRATION
    directive = bool(_DIRECTIVE.search(text) or _IMPERATIVE.search(text))
    if doc_kind.lower() in PRACTICE_KINDS:
        if _CONTEXT_SECTION.search(section[-1] if section else "") and not _STRONG.search(text):
            return BACKGROUND  # the legal and policy background a protocol opens with
        if _FINDING.search(text) and not directive:
            return FINDING
        if directive or asks_question(text) or _ASKS.match(text):
            return GUIDANCE
        if len(text.split()) <= 6 or _TITLE_LIKE.search(text):
            return BACKGROUND
        return GUIDANCE if _practice_statement(text) else BACKGROUND
    # Reports and commissioning papers describe, report and recommend to their own readers.
    if _ILLUSTRATION_SECTION.search(heading):
        return FINDING if _FINDING.search(text) else ILLUSTRATION
    if _FINDING.search(text):
        return FINDING
    return BACKGROUND


_PRACTICE_WORDS = re.compile(r"\b(practitioners?|workers?|staff|professionals?|services?|assessment|plan|"
                             r"parents?|carers?)\b", re.I)


def _practice_statement(text: str) -> bool:
    """A statement in a practice document about how practice goes (a principle), rather than
    a fact about drugs or their effects."""
    return bool(_PRACTICE_WORDS.search(text)) and not re.search(r"\b(may|can|could) (affect|cause|lead|result)\b",
                                                               text, re.I)


def guidance_share(kinds: list[str]) -> float:
    """Share of a passage's sentences that are guidance."""
    return sum(k == GUIDANCE for k in kinds) / len(kinds) if kinds else 0.0
