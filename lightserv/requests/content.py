"""Static page content: markdown files in `lightserv/content/`, rendered to HTML.

The facility edits the files without touching code. A file may use the placeholders
`{{ facility_name }}` and `{{ facility_contact_email }}`; nothing else is substituted, and the files are
trusted content of the application package (not user input). Rendering is cached per file until the
file changes on disk.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import markdown
from markupsafe import Markup, escape

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"
EXTENSIONS = ["tables", "attr_list", "toc", "fenced_code", "sane_lists"]
PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

_lock = threading.Lock()
_cache: dict[Path, tuple[float, str]] = {}


class UnknownPlaceholder(ValueError):
    pass


def _markdown_html(path: Path) -> str:
    mtime = path.stat().st_mtime
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
    html = markdown.markdown(path.read_text(encoding="utf-8"), extensions=EXTENSIONS, output_format="html")
    with _lock:
        _cache[path] = (mtime, html)
    return html


def render_page(name: str, values: dict[str, str]) -> Markup:
    """HTML of `content/<name>.md` with the placeholders filled (values are HTML-escaped)."""
    path = CONTENT_DIR / f"{name}.md"

    def fill(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise UnknownPlaceholder(f"{path.name}: unknown placeholder {{{{ {key} }}}}")
        return str(escape(values[key]))

    return Markup(PLACEHOLDER_RE.sub(fill, _markdown_html(path)))  # noqa: S704 - trusted package content


def gallery_details(spec: dict) -> str:
    """One line of technical details of a gallery link's spec."""
    from schemas.enums import ATLAS_LABELS

    group = spec.get("group") or {}
    parts = []
    if group.get("image_resolution"):
        parts.append(f"{group['image_resolution']}{' ventral-up' if group.get('ventral_up') else ''}")
    layers = spec.get("layers") or []
    if layers:
        parts.append(
            ", ".join(
                " ".join(str(x) for x in (layer.get("product"), layer.get("channel") and f"{layer['channel']} nm") if x)
                for layer in layers
            )
        )
    if group.get("space") == "atlas" or spec.get("atlas_name"):
        atlas = spec.get("atlas_name")
        parts.append(f"registered to the {ATLAS_LABELS.get(atlas, atlas)}" if atlas else "atlas space")
    return " · ".join(parts)
