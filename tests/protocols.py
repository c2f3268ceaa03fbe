"""A local protocol of a fictional area, made as a real PDF with reportlab: a referral section
with a daytime and an out-of-hours number, a bulleted list of questions for drug and alcohol
workers, and a pregnancy section. The numbers are from Ofcom's range kept for drama."""

from __future__ import annotations

from pathlib import Path

DAYTIME = "01632 960123"
OUT_OF_HOURS = "01632 960999"


def protocol_pages(area: str = "Northmoor", version: str = "2.0", issued: str = "March 2024",
                   review: str = "March 2029", extra: str = "", numbered: bool = False) -> list[list[tuple[str, str]]]:
    """(style, text) lines of each page: style is title, heading, para or bullet."""
    partnership = f"{area} Safeguarding Children Partnership"
    first = [
        ("title", partnership),
        ("title", "Parental drug and alcohol misuse: multi-agency protocol"),
        ("para", f"Version {version}. Issued: {issued}. Review date: {review}."),
        ("heading", "1. Introduction"),
        ("para", f"1.1 This protocol is for every practitioner in {area} who works with parents who misuse drugs "
                 f"or alcohol, and with their children. It sets out how adult drug and alcohol services and "
                 f"children's social care in {area} work together to keep children safe."),
        ("para", f"1.2 The {partnership} expects all agencies in {area} to follow it. {extra}".strip()),
        ("heading", "2. Making a referral"),
        ("para", f"2.1 If you are worried that a child in {area} is at risk of significant harm, telephone the "
                 f"{area} Children's Advice and Referral Hub on {DAYTIME} (Monday to Friday, 9am to 5pm) and "
                 f"confirm the referral in writing within 24 hours."),
        ("para", f"2.2 Out of hours, at weekends and on bank holidays, telephone the {area} Emergency Duty "
                 f"Service on {OUT_OF_HOURS}."),
        ("para", "2.3 If a child is in immediate danger, call the police on 999."),
    ]
    second = [
        ("heading", "3. Questions for drug and alcohol workers"),
        ("para", "Drug and alcohol workers should ask every parent who is in treatment:"),
        ("bullet", "Who looks after the children when you are using drugs or drinking?"),
        ("bullet", "Where do you keep your medication, drugs and alcohol at home?"),
        ("bullet", "Have the children ever seen you using drugs or drinking heavily?"),
        ("bullet", "Does anyone else in the household use drugs or alcohol?"),
        ("bullet", "Do the children go to school or nursery every day?"),
        ("heading", "4. Pregnancy"),
        ("para", f"4.1 A pregnant woman in {area} who uses drugs or alcohol should be referred to the specialist "
                 f"substance misuse midwife before the twentieth week of pregnancy, with her consent where "
                 f"possible."),
        ("para", "4.2 A pre-birth assessment by children's social care must be considered when a pregnant woman's "
                 "drug or alcohol use puts her baby at risk after birth."),
    ]
    if numbered:  # the questions as a numbered list instead of bullets
        second = [("para", f"3.{n} {text}") if kind == "bullet" else (kind, text)
                  for n, (kind, text) in enumerate(second, start=-1)]
    return [first, second]


def make_protocol_pdf(path: Path, area: str = "Northmoor", **kwargs) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import ListFlowable, ListItem, PageBreak, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    style = {"title": styles["Title"], "heading": styles["Heading2"], "para": styles["BodyText"]}
    story: list = []
    for n, page in enumerate(protocol_pages(area, **kwargs)):
        if n:
            story.append(PageBreak())
        bullets: list = []
        for kind, text in [*page, ("end", "")]:
            if kind == "bullet":
                bullets.append(ListItem(Paragraph(text, styles["BodyText"])))
                continue
            if bullets:
                story.append(ListFlowable(bullets, bulletType="bullet", start="•"))
                bullets = []
            if kind != "end":
                story.append(Paragraph(text, style[kind]))
                story.append(Spacer(1, 4))
    SimpleDocTemplate(str(path), pagesize=A4, title="", author="").build(story)
    return path
