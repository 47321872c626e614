"""Artifacts as HTML: Markdown, tables, links, progress bars and images."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

from runplane._client.models import Artifact, ArtifactType

# "js-default": raw HTML in the Markdown is escaped and unsafe link schemes are refused.
_markdown = MarkdownIt("js-default", {"linkify": False}).enable("table")
_MARKDOWN_LINK = re.compile(r"^\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]+)\)$")
_SAFE_URL = re.compile(r"^(https?://|/)", re.IGNORECASE)
# An image is fetched by the browser as soon as the page shows: absolute http(s) URLs only.
_IMAGE_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]  # empty for a table of row lists, which has no headers
    rows: tuple[tuple[str, ...], ...]


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def table_of(data: str) -> Table | None:
    """A table artifact's rows: a list of row objects, or an object of column lists."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        columns = tuple(str(name) for name in value)
        length = max((len(v) for v in value.values()), default=0)
        rows = tuple(
            tuple(_cell(v[i]) if i < len(v) else "" for v in value.values()) for i in range(length)
        )
        return Table(columns, rows)
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        names = tuple(dict.fromkeys(str(key) for row in value for key in row))
        return Table(names, tuple(tuple(_cell(row.get(n, "")) for n in names) for row in value))
    if isinstance(value, list) and all(isinstance(row, list) for row in value):
        return Table((), tuple(tuple(_cell(cell) for cell in row) for row in value))
    return None


def progress_of(data: str) -> float | None:
    """A progress artifact's percentage, None when the data is no number from 0 to 100."""
    try:
        value = float(data)
    except ValueError:
        return None
    return value if 0 <= value <= 100 else None


def _progress(artifact: Artifact) -> Markup:
    percent = progress_of(artifact.data)
    if percent is None:
        return Markup("<code>{}</code>").format(artifact.data)
    label = f"{percent:g}%"
    return Markup(
        '<div class="progress"><progress max="100" value="{}" aria-label="{}">{}</progress>'
        ' <span class="progress-value">{}</span></div>'
    ).format(f"{percent:g}", artifact.description or artifact.key or "progress", label, label)


def _image(artifact: Artifact) -> Markup:
    url = artifact.data.strip()
    if not _IMAGE_URL.match(url):
        return Markup("<code>{}</code>").format(artifact.data)
    # Markup.format escapes the URL and the text into the quoted attributes, so neither can
    # close them; no-referrer keeps the dashboard's address from the image's host.
    return Markup(
        '<a href="{}" rel="noopener noreferrer"><img class="artifact-image" src="{}" alt="{}"'
        ' loading="lazy" referrerpolicy="no-referrer"></a>'
    ).format(url, url, artifact.description or artifact.key or "image")


def render_artifact(artifact: Artifact) -> Markup:
    """The artifact's data as safe HTML."""
    if artifact.type is ArtifactType.MARKDOWN:
        return Markup(_markdown.render(artifact.data))  # escaped by js-default
    if artifact.type is ArtifactType.LINK:
        text, url = artifact.data, artifact.data
        if match := _MARKDOWN_LINK.match(artifact.data.strip()):
            text, url = match["text"], match["url"]
        if not _SAFE_URL.match(url):
            return Markup("<code>{}</code>").format(artifact.data)
        return Markup('<a href="{}" rel="noopener noreferrer">{}</a>').format(url, text or url)
    if artifact.type is ArtifactType.PROGRESS:
        return _progress(artifact)
    if artifact.type is ArtifactType.IMAGE:
        return _image(artifact)
    table = table_of(artifact.data)
    if table is None:
        return Markup("<pre>{}</pre>").format(artifact.data)
    head = Markup("").join(Markup("<th>{}</th>").format(c) for c in table.columns)
    body = Markup("").join(
        Markup("<tr>{}</tr>").format(Markup("").join(Markup("<td>{}</td>").format(c) for c in row))
        for row in table.rows
    )
    if head:
        body = Markup("<tr>{}</tr>{}").format(head, body)
    return Markup("<table class='artifact'>{}</table>").format(body)
