"""Cleaning and structure, on small texts shaped like the corpus's artefacts."""

from __future__ import annotations

import pytest

from ingest.clean import (
    Page,
    clean_page_text,
    drop_footnote_block,
    drop_repeated_margins,
    split_text_pages,
    strip_footnote_marks,
    strip_markdown,
)
from ingest.structure import paragraphs, structure


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("the extent of the problem3. Next", "the extent of the problem. Next"),
        ("drugs2 and alcohol", "drugs and alcohol"),
        ("225,000¹ children", "225,000 children"),
        ("Based on V1.5 February 2017", "Based on V1.5 February 2017"),  # not a footnote
        ("tier 4 reflects children", "tier 4 reflects children"),
    ],
)
def test_footnote_marks(raw, clean):
    assert strip_footnote_marks(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("- [Children Acts 1989 and 2004](#);", "- Children Acts 1989 and 2004;"),
        ("Staffordshire: [Section 4C](#)", "Staffordshire: Section 4C"),
        ("the **most important part** of", "the most important part of"),
        ("[Hidden Harm \\(ACMD\\) 2003](#)", "Hidden Harm (ACMD) 2003"),
        ("see <http://example.org/x>", "see http://example.org/x"),
    ],
)
def test_markdown_left_by_conversion_is_removed(raw, clean):
    assert strip_markdown(raw) == clean


def test_footnote_block_at_foot_of_page_is_dropped():
    lines = [
        "Hidden Harm identified 250-350,000 children affected by parental drug use in the UK 1, and was the",
        "first major research to focus on their needs.",
        "A third of the adult drug treatment population have childcare responsibilities.",
        "",
        "1",
        "",
        "ACMD (2003) Hidden Harm: Responding to the needs of children of problem drug users",
        "National Treatment Agency (2009) Moves to provide greater protection",
        "3",
        "Turning Point (2006) Bottling it up",
    ]
    kept = drop_footnote_block(lines)
    assert kept[-1] == ""
    assert not any("ACMD" in line for line in kept)


def test_numbered_finding_is_not_mistaken_for_footnotes():
    lines = ["Intro line one.", "Intro line two.", "Intro line three.", "", "1", "", "Protocols are valued by workers.",
             "They make roles clear."]
    assert drop_footnote_block(lines) == lines


def test_page_marks_and_indented_runs():
    text = " Practice tip 1\nline a\nline b\nline c\nline d\nline e\nline f\nline g\n Practice tip 2\nmore"
    pages = split_text_pages(text)
    assert [p.number for p in pages] == [1, 2]
    assert pages[1].text.startswith("Practice tip 2")
    # a run of indented tick-box lines is not a run of pages
    survey = "Question?\n Yes\n No\n Sometimes\n"
    assert len(split_text_pages(survey)) == 1


def test_repeated_pdf_header_and_page_numbers_removed():
    bodies = ["Assessment starts early.", "Partners matter too.", "Storage of methadone.", "Contact is reviewed.",
              "Children are seen."]
    pages = [Page(i, f"Safeguarding Partnership Protocol\n{body}\nPage {i} of 5") for i, body in enumerate(bodies, 1)]
    cleaned = drop_repeated_margins(pages)
    assert [p.text.strip() for p in cleaned] == bodies


def test_wrapped_lines_rejoined_and_hyphenation():
    width_line = "x" * 90
    text = "\n".join(
        [width_line] * 20
        + [
            "Commissioners should understand the over-",
            "arching aim of the programme and the commis-",
            "sioning cycle in full, which commissioning bodies describe at length in their plans for the",
            "year ahead.",
        ]
    )
    blocks = paragraphs([Page(1, clean_page_text(text))])
    last = blocks[-1].text
    assert "over-arching" in last  # the document spells it with a hyphen
    assert "commissioning cycle" in last  # a line-break hyphen inside a word is removed
    assert last.endswith("year ahead.")


def test_bullets_lost_glyphs_and_empty_runs():
    text = "Key points:\n•\n\n•\n\nFirst point is here.\n\nSecond point is here.\n\n� Don’t ignore drug use.\nBut don’t over-react."
    blocks = structure([Page(1, clean_page_text(text))])
    kinds = [(b.kind, b.text) for b in blocks]
    assert ("bullet", "First point is here.") in kinds
    assert ("bullet", "Second point is here.") in kinds
    assert ("bullet", "Don’t ignore drug use.") in kinds
    assert not any(set(t) <= set("•� ") for _, t in kinds)


def test_numbered_headings_and_paragraphs():
    text = "\n\n".join(
        [
            "9. Consent, Confidentiality & Information Sharing",
            "9.2 Sharing information where there are concerns about significant harm to a child",
            "9.2.1 When working with people whose use of drugs is problematic, confidentiality matters.",
            "9.2.2 It is critical that you consider referring your concerns to children’s social care or the police.",
            "21 The Crescent, Bedford MK40 2RT, Tel: 01234 352220",
        ]
    )
    blocks = structure([Page(None, text)])
    assert [(b.kind, b.number) for b in blocks] == [
        ("heading", "9"),
        ("heading", "9.2"),
        ("para", "9.2.1"),
        ("para", "9.2.2"),
        ("para", None),  # an address, not paragraph 21
    ]
