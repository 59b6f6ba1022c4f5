"""One self-contained HTML page of a report: tables, figures and every run's configuration in one file.

Self-contained: the CSS is inline, each figure is a base64 PNG data URI, nothing is fetched (no external
URL, no script), so the page can be mailed or archived and opens the same anywhere. Each run's
config.json sits in a ``<details>`` element (one click to open). The body is written in a small
subset of Markdown (what the report's formatters and bench/reproduce.py emit: ``#`` headings,
paragraphs, ``- `` lists, pipe tables, ``**bold**``, `` `code` ``, ``![alt](file.png)`` images), so the
page and a results/README.md say the same thing.

Writing: atomic (a hidden sibling file renamed into place), and only over a file this module wrote
(recognised by its generator tag) or a new file, as every other output of lightfmp
(`lightfmp.runs.outputs`).
"""
from __future__ import annotations

import base64
import html
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Iterable, Sequence

from lightfmp.errors import InputError

GENERATOR = "lightfmp report"
_TAG = f'<meta name="generator" content="{GENERATOR}">'
VERDICT_CLASS = {"agrees": "agrees", "disagrees": "disagrees", "cannot tell": "unclear"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1400px;
padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1.1em}
table{border-collapse:collapse;margin:1em 0;font-size:.85em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;white-space:nowrap}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
td.agrees{background:#dff5e1!important}td.disagrees{background:#fbe0e0!important}
td.unclear{background:#f3f3f3!important;color:#555}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
details{margin:.2em 0}summary{cursor:pointer;font-family:monospace}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.8em}
code{background:#f2f2f2;padding:0 .2em}
.note{color:#555;font-size:.9em}
"""


def _inline(text: str, images: Path | None) -> str:
    """Escape, then the inline marks: images (embedded), code, bold."""
    out, pos = [], 0
    for m in re.finditer(r"!\[([^\]]*)\]\(([^)]+)\)", text):
        out.append(_marks(text[pos:m.start()]))
        out.append(_img(m.group(1), m.group(2), images))
        pos = m.end()
    out.append(_marks(text[pos:]))
    return "".join(out)


def _marks(text: str) -> str:
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            out.append(f"<code>{html.escape(p[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(p)))
    return "".join(out)


def png_data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _img(alt: str, src: str, images: Path | None) -> str:
    f = Path(src) if Path(src).is_absolute() or images is None else images / src
    if not f.is_file():
        return f'<span class="note">(figure {html.escape(src)} missing)</span>'
    return f'<img alt="{html.escape(alt)}" src="{png_data_uri(f)}">'


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str], images: Path | None) -> str:
    head = _cells(lines[0])
    body = [_cells(x) for x in lines[2:]] if len(lines) > 1 and set(lines[1].replace("|", "").strip()) <= set("-: ") \
        else [_cells(x) for x in lines[1:]]
    rows = ["<tr>" + "".join(f"<th>{_inline(c, images)}</th>" for c in head) + "</tr>"]
    for r in body:
        tds = []
        for c in r:
            cls = VERDICT_CLASS.get(c.strip().lower().strip("*"))
            tds.append(f'<td class="{cls}">{_inline(c, images)}</td>' if cls else f"<td>{_inline(c, images)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def markdown_html(md: str, images: str | Path | None = None) -> str:
    """The Markdown subset of the module docstring as HTML; ``images``: the folder image paths are relative to."""
    img_dir = Path(images) if images is not None else None
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if not s:
            i += 1
            continue
        if s.startswith("|"):
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            out.append(_table([x.strip() for x in lines[i:j]], img_dir))
            i = j
            continue
        m = re.match(r"(#{1,4})\s+(.*)", s)
        if m:
            n = len(m.group(1))
            out.append(f"<h{n}>{_inline(m.group(2), img_dir)}</h{n}>")
            i += 1
            continue
        if re.match(r"\s*- ", line):
            j = i
            items: list[tuple[int, str]] = []
            while j < len(lines) and re.match(r"\s*- ", lines[j]):
                items.append((len(lines[j]) - len(lines[j].lstrip()), lines[j].strip()[2:]))
                j += 1
            out.append(_list(items, img_dir))
            i = j
            continue
        j = i
        while j < len(lines) and lines[j].strip() and not lines[j].strip().startswith(("|", "#")) \
                and not re.match(r"\s*- ", lines[j]):
            j += 1
        out.append(f"<p>{_inline(' '.join(x.strip() for x in lines[i:j]), img_dir)}</p>")
        i = j
    return "\n".join(out)


def _list(items: list[tuple[int, str]], images: Path | None) -> str:
    """Nested <ul> from (indent, text) items."""
    out, stack = [], []
    for indent, text in items:
        while stack and indent < stack[-1]:
            out.append("</li></ul>")
            stack.pop()
        if not stack or indent > stack[-1]:
            out.append("<ul><li>")
            stack.append(indent)
        else:
            out.append("</li><li>")
        out.append(_inline(text, images))
    out.append("</li></ul>" * len(stack))
    return "".join(out)


def runs_html(reports: Sequence[dict[str, Any]], root: str | Path | None = None) -> str:
    """Every run as a <details> element: its folder, headline numbers, and config.json (and report.json
    less its history) inside."""
    base = Path(root).resolve() if root is not None else None
    items = []
    for k, r in enumerate(sorted(reports, key=lambda r: str(r.get("_path", "")))):
        path = Path(str(r.get("_path", "")))
        try:
            name = str(path.resolve().relative_to(base)) if base else str(path)
        except ValueError:
            name = str(path)
        cfg = r.get("_config")
        report = {key: v for key, v in r.items() if not key.startswith("_") and key not in ("history", "protocol")}
        head = (f"{name}: {r.get('method')} / {r.get('model')} / {r.get('dataset')} / seed {r.get('seed')}, "
                f"AUC {r.get('auc', float('nan')):.4f}")
        items.append(f'<details id="run-{k}"><summary>{html.escape(head)}</summary>'
                     f"<p>config.json</p><pre>{html.escape(json.dumps(cfg, indent=1, default=str))}</pre>"
                     f"<p>report.json (without its history and data protocol)</p>"
                     f"<pre>{html.escape(json.dumps(report, indent=1, default=str))}</pre></details>")
    return "\n".join(items)


def page(title: str, body_md: str, images: str | Path | None = None,
         reports: Sequence[dict[str, Any]] = (), runs_root: str | Path | None = None,
         figures: Iterable[tuple[str, str | Path]] = ()) -> str:
    """The whole page: ``body_md`` (Markdown subset) rendered, then any extra ``figures`` (name, PNG
    path) embedded, then the runs with their configurations."""
    parts = [markdown_html(body_md, images)]
    figs = [(n, p) for n, p in figures if Path(p).is_file()]
    if figs:
        parts.append("<h2>Figures</h2>")
        parts += [f'<h3>{html.escape(n)}</h3><img alt="{html.escape(n)}" src="{png_data_uri(p)}">' for n, p in figs]
    if reports:
        parts.append(f"<h2>Runs ({len(reports)})</h2><p class=\"note\">Each run's config.json and report.json: "
                     "click a run to open it.</p>")
        parts.append(runs_html(reports, runs_root))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" + _TAG
            + f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def is_our_page(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return _TAG.encode() in head


def check_html_out(out: str | Path) -> Path:
    """Refuse (InputError) a page path that is a folder, lies in a missing or read-only folder, or is an
    existing file this module did not write."""
    p = Path(out)
    if str(out).strip() == "" or p.is_dir():
        raise InputError("--html: is a folder; expected the name of an HTML file to write", path=out)
    parent = p.parent
    if not parent.exists():
        raise InputError(f"--html: the folder {str(parent)!r} does not exist; create it first", path=out)
    if not parent.is_dir():
        raise InputError(f"--html: {str(parent)!r} is a file, not a folder", path=out)
    if p.exists() and not is_our_page(p):
        raise InputError("--html: the file exists and was not written by `lightfmp report`; refusing to "
                         "replace it; name a new file", path=out)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--html: cannot write into {str(parent)!r} (no write permission)", path=out)
    return p


def write_page(out: str | Path, text: str) -> Path:
    """Write ``text`` to ``out`` atomically (a hidden sibling renamed into place), after `check_html_out`."""
    p = check_html_out(out)
    tmp = p.parent / f".{p.name}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p
