"""Hidden text in a PDF page: words a person reading the printed page cannot see, but that text
extraction (and so the index) picks up. A planted "ignore previous instructions" is the usual
case; leftovers of templates and search-engine stuffing are others.

No PDF library here. `HiddenTextFinder.operand` has the signature of pypdf's
`visitor_operand_before(operator, operands, cm, tm)`, so the PDF loader can pass it to the
`page.extract_text(...)` it already makes, and ask the finder afterwards:

    finder = HiddenTextFinder(page_box=(x0, y0, x1, y1))      # the page's crop box
    text = page.extract_text(visitor_operand_before=finder.operand)
    findings = finder.findings(page_number)

A text-showing operator (Tj, TJ, ', ") is hidden when, in the graphics state at that moment:
- its render mode paints nothing (3: invisible, 7: clip only);
- the colour it paints with is white or near-white (luminance >= 0.95; fill for modes 0 and 4,
  stroke for 1 and 5, both for 2 and 6) and no non-white filled area or image was drawn under
  it on this page before it (white text on a dark banner is visible, so it is not flagged);
- its effective size (font size scaled by the text and graphics matrices) is under 2 pt;
- its horizontal scaling (Tz) is under 5%;
- it starts outside the page box by more than 5 pt.

Colours in named colour spaces (Separation, DeviceN, patterns) are not judged, nor is alpha
set through an ExtGState, nor text covered by a later opaque shape: the finder errs towards
saying nothing. Operand strings are decoded as the PDF library hands them over, which for
fonts with a custom encoding may not be the extracted text: a finding's `text` is a sample to
show a person, not a key into the page text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

WHITE_LUMINANCE = 0.95
MIN_SIZE_PT = 2.0
MIN_SCALING = 5.0  # Tz, percent
OFF_PAGE_MARGIN = 5.0
_SHOW = {b"Tj", b"TJ", b"'", b'"', "Tj", "TJ", "'", '"'}
_FILL_OPS = {"f", "F", "f*", "B", "B*", "b", "b*"}
_DEVICE = {"/DeviceGray", "/DeviceRGB", "/DeviceCMYK", "/G", "/RGB", "/CMYK"}
_SET_COLOUR = {"g": "/DeviceGray", "rg": "/DeviceRGB", "k": "/DeviceCMYK"}
_SET_STROKE = {"G": "/DeviceGray", "RG": "/DeviceRGB", "K": "/DeviceCMYK"}

Matrix = tuple[float, float, float, float, float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Finding:
    page: int | None
    reason: str  # "invisible render mode" | "white text" | "tiny text" | "squeezed text" | "off the page"
    text: str
    x: float
    y: float
    size: float


@dataclass(frozen=True)
class _State:
    fill: tuple[float, float, float] | None = (0.0, 0.0, 0.0)  # RGB 0..1; None when not judged
    stroke: tuple[float, float, float] | None = (0.0, 0.0, 0.0)
    fill_space: str = "/DeviceGray"
    stroke_space: str = "/DeviceGray"
    render_mode: int = 0
    font_size: float = 0.0
    scaling: float = 100.0


def multiply(a: Matrix, b: Matrix) -> Matrix:
    """The product a x b of two PDF matrices [a b c d e f]."""
    return (
        a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5],
    )


def to_rgb(components: list[float]) -> tuple[float, float, float] | None:
    """Gray, RGB or CMYK components as RGB; None for anything else."""
    try:
        values = [min(1.0, max(0.0, float(c))) for c in components]
    except (TypeError, ValueError):
        return None
    if len(values) == 1:
        return (values[0],) * 3
    if len(values) == 3:
        return (values[0], values[1], values[2])
    if len(values) == 4:
        c, m, y, k = values
        return ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k))
    return None


def luminance(rgb: tuple[float, float, float]) -> float:
    r, g, b = rgb
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def is_white(rgb: tuple[float, float, float] | None) -> bool:
    return rgb is not None and luminance(rgb) >= WHITE_LUMINANCE


def _shown_text(operator: str, operands: list) -> str:
    if not operands:
        return ""
    if operator == "TJ":
        items = operands[0] if isinstance(operands[0], list | tuple) else operands
        return "".join(_as_text(i) for i in items if isinstance(i, str | bytes))
    return _as_text(operands[-1])


def _as_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1", errors="replace")
    return str(value)


def _bounds(m: Matrix, x: float, y: float, w: float, h: float) -> Box:
    corners = [(x, y), (x + w, y), (x, y + h), (x + w, y + h)]
    points = [(px * m[0] + py * m[2] + m[4], px * m[1] + py * m[3] + m[5]) for px, py in corners]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _inside(box: Box, x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


@dataclass
class HiddenTextFinder:
    page_box: Box | None = None
    state: _State = field(default_factory=_State)
    _stack: list[_State] = field(default_factory=list)
    _path: list[Box] = field(default_factory=list)
    backgrounds: list[Box] = field(default_factory=list)  # non-white fills and images drawn so far
    runs: list[tuple[str, _State, float, float, float]] = field(default_factory=list)  # text, state, x, y, size

    # -- the visitor ---------------------------------------------------------------------------
    def operand(self, operator, operands, cm, tm) -> None:
        """pypdf's `visitor_operand_before(operator, operands, cm, tm)`."""
        op = operator.decode("latin-1") if isinstance(operator, bytes) else str(operator)
        args = list(operands or [])
        try:
            self._apply(op, args, tuple(float(v) for v in cm), tuple(float(v) for v in tm))
        except (TypeError, ValueError, IndexError, ArithmeticError):
            pass  # a malformed operator says nothing about hidden text

    def _apply(self, op: str, args: list, cm: Matrix, tm: Matrix) -> None:
        s = self.state
        if op == "q":
            self._stack.append(s)
        elif op == "Q":
            self.state = self._stack.pop() if self._stack else _State()
        elif op in _SET_COLOUR:
            self.state = replace(s, fill=to_rgb(args), fill_space=_SET_COLOUR[op])
        elif op in _SET_STROKE:
            self.state = replace(s, stroke=to_rgb(args), stroke_space=_SET_STROKE[op])
        elif op == "cs":
            space = str(args[0]) if args else ""
            self.state = replace(s, fill_space=space, fill=(0.0, 0.0, 0.0) if space in _DEVICE else None)
        elif op == "CS":
            space = str(args[0]) if args else ""
            self.state = replace(s, stroke_space=space, stroke=(0.0, 0.0, 0.0) if space in _DEVICE else None)
        elif op in ("sc", "scn"):
            self.state = replace(s, fill=to_rgb(args) if s.fill_space in _DEVICE else None)
        elif op in ("SC", "SCN"):
            self.state = replace(s, stroke=to_rgb(args) if s.stroke_space in _DEVICE else None)
        elif op == "Tr" and args:
            self.state = replace(s, render_mode=int(args[0]))
        elif op == "Tf" and len(args) >= 2:
            self.state = replace(s, font_size=float(args[1]))
        elif op == "Tz" and args:
            self.state = replace(s, scaling=float(args[0]))
        elif op == "re" and len(args) >= 4:
            self._path.append(_bounds(cm, *(float(a) for a in args[:4])))
        elif op in _FILL_OPS:
            if not is_white(s.fill):
                self.backgrounds.extend(self._path)
            self._path = []
        elif op in ("n", "S", "s"):
            self._path = []
        elif op == "Do":
            self.backgrounds.append(_bounds(cm, 0.0, 0.0, 1.0, 1.0))  # an image (or form) fills its unit square
        elif op in _SHOW:
            text = _shown_text(op, args)
            if text.strip():
                m = multiply(tm, cm)
                size = abs(s.font_size) * math.hypot(m[2], m[3])
                self.runs.append((text, s, m[4], m[5], size))

    # -- the verdict ---------------------------------------------------------------------------
    def reasons(self, state: _State, x: float, y: float, size: float) -> list[str]:
        out = []
        if state.render_mode in (3, 7):
            out.append("invisible render mode")
        else:
            painted = {0: [state.fill], 4: [state.fill], 1: [state.stroke], 5: [state.stroke],
                       2: [state.fill, state.stroke], 6: [state.fill, state.stroke]}.get(state.render_mode, [])
            if painted and all(is_white(c) for c in painted) and not any(_inside(b, x, y) for b in self.backgrounds):
                out.append("white text")
        if size < MIN_SIZE_PT:
            out.append("tiny text")
        if state.scaling < MIN_SCALING:
            out.append("squeezed text")
        if self.page_box is not None:
            x0, y0, x1, y1 = self.page_box
            if not (x0 - OFF_PAGE_MARGIN <= x <= x1 + OFF_PAGE_MARGIN and y0 - OFF_PAGE_MARGIN <= y <= y1 + OFF_PAGE_MARGIN):
                out.append("off the page")
        return out

    def findings(self, page: int | None = None) -> list[Finding]:
        out = []
        for text, state, x, y, size in self.runs:
            for reason in self.reasons(state, x, y, size):
                out.append(Finding(page, reason, text.strip(), round(x, 1), round(y, 1), round(size, 2)))
        return out


def summarise(findings: list[Finding], sample_chars: int = 60) -> list[str]:
    """One line per page and reason, for an ingest report: 'page 3: white text (2 runs, 61
    characters): "Ignore previous instructions..."'."""
    grouped: dict[tuple[int | None, str], list[Finding]] = {}
    for f in findings:
        grouped.setdefault((f.page, f.reason), []).append(f)
    lines = []
    for (page, reason), group in grouped.items():
        chars = sum(len(f.text) for f in group)
        sample = " ".join(f.text for f in group)
        sample = sample if len(sample) <= sample_chars else sample[: sample_chars - 1] + "…"
        where = f"page {page}" if page is not None else "document"
        lines.append(f"{where}: {reason} ({len(group)} run{'s' if len(group) > 1 else ''}, {chars} characters): "
                     f"{sample!r}")
    return lines
