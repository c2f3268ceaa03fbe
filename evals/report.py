"""The evaluation report: Markdown and HTML with plots, for trainers and the team."""

from __future__ import annotations

import html
from pathlib import Path


def _plots(results, out_dir: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    cases = results.cases
    if cases:
        fig, ax = plt.subplots(figsize=(9, 4))
        xs = range(len(cases))
        ax.bar([x - 0.2 for x in xs], [c["coverage"] for c in cases], width=0.4, label="ours")
        ax.bar([x + 0.2 for x in xs], [c["baseline_coverage"] for c in cases], width=0.4, label="baseline")
        ax.set_xticks(list(xs), [c["title"] for c in cases], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("expected points met")
        ax.set_title("Guidance coverage per case study")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "coverage_per_case.png", dpi=110)
        plt.close(fig)
        paths["coverage"] = "coverage_per_case.png"
    fig, ax = plt.subplots(figsize=(5, 4))
    ks = [1, 3, 5, 8]
    for system in results.summary:
        ax.plot(ks, [results.summary[system][f"recall@{k}"] for k in ks], marker="o", label=system)
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel("gold-quote recall@k")
    ax.set_ylim(0, 1)
    ax.set_title("Retrieval recall@k")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "recall_at_k.png", dpi=110)
    plt.close(fig)
    paths["recall"] = "recall_at_k.png"
    return paths


def _breakdown_md(results) -> list[str]:
    lines = []
    systems = list(results.summary)
    for name, groups in results.breakdown.items():
        lines += [f"### By {name}", "", "| " + name + " | n | " + " | ".join(
            f"{s} hit@5 | {s} recall@8 | {s} coverage" for s in systems) + " |",
            "|---|---|" + "---|---|---|" * len(systems)]
        for key, row in groups.items():
            cells = []
            for s in systems:
                cells += [f"{row[s]['hit@5']:.2f}", f"{row[s]['recall@8']:.2f}", f"{row[s]['coverage']:.2f}"]
            lines.append(f"| {key} | {row['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def write_report(results, out_dir: Path) -> dict[str, Path]:
    from evals.run import summary_table

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = _plots(results, out_dir)
    md = ["# Evaluation report", "",
          f"{len(results.questions)} questions, {len(results.cases)} case studies; "
          f"index of {results.meta.get('index_passages')} passages; baseline: LangChain quickstart "
          f"(RecursiveCharacterTextSplitter 1000/200, MiniLM, Chroma top-4; {results.meta.get('baseline_chunks')} chunks).",
          "", "## Summary", "", summary_table(results.summary), ""]
    for key, name in (("coverage", "Coverage per case"), ("recall", "Recall@k")):
        if key in plots:
            md += [f"![{name}]({plots[key]})", ""]
    md += ["## Breakdown (answerable questions)", ""] + _breakdown_md(results)
    md += ["## Case studies: each expected point, met or missed", ""]
    for case in results.cases:
        md += [f"### {case['title']} — {case['coverage']:.0%} met (baseline {case['baseline_coverage']:.0%})",
               f"_{case['source']}_; facets found: {', '.join(case['facets'])}", ""]
        for p in case["points"]:
            mark = "✅ met" if p["met"] else "❌ missed"
            md.append(f"- {mark}: {p['point']}")
            if p["met"]:
                md.append(f"  - answer: “{p['evidence']}” — {p['source']}")
        md.append("")
    sim = results.meta.get("similarity", {})
    md += ["## Abstention", "",
           f"Lowest top-passage similarity of an answerable question: {sim.get('answerable_min')}; "
           f"10th percentile: {sim.get('answerable_p10')}; highest of an out-of-scope question: "
           f"{sim.get('out_of_scope_max')}.", ""]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md), encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(_html("\n".join(md)), encoding="utf-8")
    return {"markdown": md_path, "html": html_path}


def _html(markdown: str) -> str:
    """A small Markdown-to-HTML for our own report (headings, lists, tables, images)."""
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"]
    in_table = in_list = False
    for line in markdown.split("\n"):
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith(("- ", "  - ")):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{html.escape(line.strip()[2:])}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if line.startswith("!["):
            src = line[line.index("(") + 1 : -1]
            out.append(f"<img src='{html.escape(src)}' alt=''>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    out.append("</body></html>")
    return "\n".join(out)
