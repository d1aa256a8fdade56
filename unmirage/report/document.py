"""A small document model rendered twice: to Markdown and to one self-contained HTML page.

Building the report once as blocks keeps report.md and report.html saying the same thing.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thumb:
    """An image cell: embedded in HTML, shown as its path (or a note) in Markdown."""

    png: bytes | None
    label: str


Cell = str | Thumb


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG written next to the report; HTML embeds the same bytes as base64."""

    filename: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""
    summary: str = ""


Block = Heading | Paragraph | Bullets | Table | Figure | Code


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def _md_cell(cell: Cell) -> str:
    text = cell.label if isinstance(cell, Thumb) else cell
    return " ".join(text.split()).replace("|", "\\|")


def table_markdown(table: Table) -> str:
    """A pipe table, its caption (if any) as a paragraph below it."""
    lines = ["| " + " | ".join(_md_cell(h) for h in table.header) + " |"]
    lines.append("|" + "---|" * len(table.header))
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    if table.caption:
        lines += ["", table.caption]
    return "\n".join(lines)


def to_markdown(doc: Document) -> str:
    """GitHub-flavoured Markdown; figures link to the PNG files beside report.md."""
    out = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            out += [block.text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            out += [table_markdown(block), ""]
        elif isinstance(block, Figure):
            out += [f"![{block.caption}]({block.filename})", "", f"*{block.caption}*", ""]
        elif isinstance(block, Code):
            if block.summary:
                out += [block.summary, ""]
            out += [f"```{block.language}", block.text.rstrip("\n"), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:72rem;
margin:2rem auto;padding:0 1rem;color:#1b1f24;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.75rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f3f5f7}tr:nth-child(even) td{background:#fafbfc}
td.thumb img{width:64px;height:64px;image-rendering:pixelated}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #d0d7de}
figcaption,.caption{font-size:.85rem;color:#57606a}
pre{background:#f6f8fa;padding:.75rem;overflow-x:auto;font-size:.8rem}
"""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _html_cell(cell: Cell, tag: str) -> str:
    if isinstance(cell, Thumb):
        if cell.png is None:
            return f'<{tag} class="thumb">{html.escape(cell.label)}</{tag}>'
        alt = html.escape(cell.label, quote=True)
        return f'<{tag} class="thumb"><img src="{_data_uri(cell.png)}" alt="{alt}"></{tag}>'
    return f"<{tag}>{html.escape(cell)}</{tag}>"


def to_html(doc: Document) -> str:
    """One HTML file with inline CSS and base64 images: no scripts, no external resources."""
    title = html.escape(doc.title)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title><style>{CSS}</style></head><body>",
        f"<h1>{title}</h1>",
    ]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{html.escape(i)}</li>" for i in block.items)
            out.append(f"<ul>{items}</ul>")
        elif isinstance(block, Table):
            head = "".join(_html_cell(h, "th") for h in block.header)
            body = "".join(
                "<tr>" + "".join(_html_cell(c, "td") for c in row) + "</tr>" for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            if block.caption:
                out.append(f'<p class="caption">{html.escape(block.caption)}</p>')
        elif isinstance(block, Figure):
            alt = html.escape(block.caption, quote=True)
            out.append(
                f'<figure><img src="{_data_uri(block.png)}" alt="{alt}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
            )
        elif isinstance(block, Code):
            pre = f"<pre>{html.escape(block.text)}</pre>"
            if block.summary:
                pre = f"<details><summary>{html.escape(block.summary)}</summary>{pre}</details>"
            out.append(pre)
    out.append("</body></html>")
    return "\n".join(out) + "\n"
