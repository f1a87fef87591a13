"""A release repo's history as values, its timeline as SVG and its Atom 1.0 feed (issue 14). Pure: no I/O, no clock.

Input: the history record the release handler keeps (bot.handlers.shipped.record_release), one entry per
coordinated release: tag, environment, when, versions before and after, rollback / repeat / verified-in.
"""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

ATOM_NS = "http://www.w3.org/2005/Atom"
SVG_WIDTH, LANE_HEIGHT, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP = 800, 90, 110, 30, 30
FEED_ENTRIES = 50  # the newest releases a feed carries


@dataclass(frozen=True)
class Carried:
    repo: str
    number: int
    url: str
    component: str = ""
    ref: str = ""  # how the forge writes it: "#12" (GitHub), "!12" (GitLab)

    @property
    def label(self) -> str:
        return f"{self.repo}{self.ref or '#' + str(self.number)}"


@dataclass(frozen=True)
class Entry:
    tag: str
    environment: str
    at: dt.datetime  # UTC, when the release handler tagged it
    versions: Mapping[str, str]
    previous: Mapping[str, str] = field(default_factory=dict)
    rollback_of: str | None = None
    repeat_of: str | None = None
    verified_in: tuple[str, str] | None = None  # (tag, sha) of the earlier environment's release
    title: str = ""
    url: str = ""  # the Release (or tag) page
    tag_url: str = ""
    changelog_url: str = ""
    commit_sha: str = ""
    pull_number: int | None = None
    pull_url: str = ""
    pull_title: str = ""
    carried: tuple[Carried, ...] = ()

    @property
    def anchor(self) -> str:
        return anchor_of(self.tag)

    @property
    def verified_anchor(self) -> str | None:
        return anchor_of(self.verified_in[0]) if self.verified_in else None

    def changes(self) -> list[tuple[str, str | None, str]]:
        """(component, old or None, new), sorted by name."""
        return [(name, self.previous.get(name), version) for name, version in sorted(self.versions.items())]


def anchor_of(tag: str) -> str:
    """The page's id for a release (HTML ids: no slashes, spaces or quotes)."""
    return "release-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in tag)


def entries_from_record(record: Mapping[str, Any] | None) -> tuple[Entry, ...]:
    """The record's releases, oldest first; entries that cannot be read are left out rather than fail the page."""
    out = []
    for item in (record or {}).get("releases") or ():
        try:
            at = dt.datetime.fromisoformat(item["at"])
            pull = item.get("pull_request") or {}
            verified = item.get("verified_in")
            out.append(Entry(
                tag=item["tag"], environment=item.get("environment") or "production",
                at=at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc),
                versions=dict(item.get("versions") or {}), previous=dict(item.get("previous") or {}),
                rollback_of=item.get("rollback_of"), repeat_of=item.get("repeat_of"),
                verified_in=(str(verified[0]), str(verified[1])) if verified and len(verified) == 2 else None,
                title=item.get("title") or "", url=item.get("url") or "", tag_url=item.get("tag_url") or "",
                changelog_url=item.get("changelog_url") or "", commit_sha=item.get("commit_sha") or "",
                pull_number=pull.get("number"), pull_url=pull.get("url") or "", pull_title=pull.get("title") or "",
                carried=tuple(Carried(c["repo"], int(c["number"]), c.get("url") or "", c.get("component") or "",
                                      c.get("ref") or "") for c in item.get("carried") or ()),
            ))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(sorted(out, key=lambda e: e.at))


def lanes(entries: Sequence[Entry]) -> tuple[str, ...]:
    """Environments top to bottom: an environment others are verified in comes before them; else first seen."""
    order: list[str] = []
    for entry in entries:
        if entry.environment not in order:
            order.append(entry.environment)
    by_tag = {e.tag: e.environment for e in entries}
    for entry in entries:  # move the source of each promotion above its target
        source = by_tag.get(entry.verified_in[0]) if entry.verified_in else None
        if source and source in order and order.index(source) > order.index(entry.environment):
            order.remove(source)
            order.insert(order.index(entry.environment), source)
    return tuple(order)


# --------------------------------------------------------------------------------------------- SVG


def timeline_svg(entries: Sequence[Entry], *, page_url: str = "") -> str:
    """An inline SVG: one lane per environment, a dot per release at its time (a rollback is a red diamond),
    promotions drawn from the earlier environment's release to the one it verified. Each mark links to the
    release's entry on the page and carries a <title> for hover and screen readers."""
    rows = lanes(entries)
    height = MARGIN_TOP + LANE_HEIGHT * max(1, len(rows)) + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {SVG_WIDTH} {height}" '
           f'width="100%" role="img" aria-labelledby="timeline-title">',
           f'<title id="timeline-title">{escape(_summary(entries, rows))}</title>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker></defs>']
    if not entries:
        out.append(f'<text x="{SVG_WIDTH // 2}" y="{MARGIN_TOP + 40}" text-anchor="middle" fill="#57606a">'
                   'No release recorded yet.</text></svg>')
        return "\n".join(out)
    x_of = _x_scale(entries)
    y_of = {name: MARGIN_TOP + LANE_HEIGHT * index + LANE_HEIGHT // 2 for index, name in enumerate(rows)}
    for name in rows:
        y = y_of[name]
        out.append(f'<line class="lane" x1="{MARGIN_LEFT}" y1="{y}" x2="{SVG_WIDTH - MARGIN_RIGHT}" y2="{y}" '
                   'stroke="#d0d7de" stroke-width="2"/>')
        out.append(f'<text class="lane-name" x="{MARGIN_LEFT - 12}" y="{y + 5}" text-anchor="end" '
                   f'font-weight="600" fill="#1f2328">{escape(name)}</text>')
    by_tag = {e.tag: e for e in entries}
    for entry in entries:  # promotions under the marks
        source = by_tag.get(entry.verified_in[0]) if entry.verified_in else None
        if source is None or source.environment not in y_of:
            continue
        x1, y1, x2, y2 = x_of(source.at), y_of[source.environment], x_of(entry.at), y_of[entry.environment]
        bend = (y1 + y2) / 2
        out.append(f'<path class="promotion" d="M{x1:.1f},{y1 + 7} C{x1:.1f},{bend:.1f} {x2:.1f},{bend:.1f} '
                   f'{x2:.1f},{y2 - 9}" fill="none" stroke="#57606a" stroke-width="1.5" stroke-dasharray="4 3" '
                   f'marker-end="url(#arrow)"><title>{escape(f"{source.tag} promoted to {entry.environment} as {entry.tag}")}'
                   '</title></path>')
    for entry in entries:
        x, y = x_of(entry.at), y_of[entry.environment]
        label_y = y + 24  # below the mark: promotion arrows arrive from above
        what = f"{entry.tag} — {entry.environment}, {entry.at:%Y-%m-%d %H:%M} UTC"
        if entry.rollback_of:
            what += f", rollback to {entry.rollback_of}"
            mark = (f'<path class="rollback" d="M{x:.1f},{y - 8} L{x + 8:.1f},{y} L{x:.1f},{y + 8} L{x - 8:.1f},{y} z" '
                    'fill="#cf222e" stroke="#ffffff" stroke-width="1.5"/>')
        else:
            mark = (f'<circle class="release" cx="{x:.1f}" cy="{y}" r="7" fill="#1a7f37" stroke="#ffffff" '
                    'stroke-width="1.5"/>')
        label = _short(entry)
        out.append(f'<a href={quoteattr(f"{page_url}#{entry.anchor}")}><title>{escape(what)}</title>{mark}'
                   f'<text x="{x:.1f}" y="{label_y}" text-anchor="middle" font-size="11" fill="#1f2328">'
                   f'{escape(label)}</text></a>')
    first, last = entries[0].at, entries[-1].at
    axis_y = height - 12
    out.append(f'<text x="{MARGIN_LEFT}" y="{axis_y}" font-size="11" fill="#57606a">{first:%Y-%m-%d}</text>')
    if last.date() != first.date():
        out.append(f'<text x="{SVG_WIDTH - MARGIN_RIGHT}" y="{axis_y}" text-anchor="end" font-size="11" '
                   f'fill="#57606a">{last:%Y-%m-%d}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _x_scale(entries: Sequence[Entry]):
    start, end = entries[0].at, entries[-1].at
    span = (end - start).total_seconds()
    usable = SVG_WIDTH - MARGIN_LEFT - MARGIN_RIGHT - 40

    def x(at: dt.datetime) -> float:
        if span <= 0:
            return MARGIN_LEFT + 20 + usable / 2
        return MARGIN_LEFT + 20 + usable * (at - start).total_seconds() / span

    return x


def _short(entry: Entry) -> str:
    """A compact label: the versions, or "rollback"."""
    if entry.rollback_of:
        return "rollback"
    versions = "/".join(entry.versions[name] for name in sorted(entry.versions))
    return versions if len(versions) <= 24 else versions[:23] + "…"


def _summary(entries: Sequence[Entry], rows: Sequence[str]) -> str:
    if not entries:
        return "Release timeline: no release recorded yet"
    rollbacks = sum(1 for e in entries if e.rollback_of)
    promotions = sum(1 for e in entries if e.verified_in)
    return (f"Release timeline: {len(entries)} releases in {', '.join(rows)}; {promotions} promotions, "
            f"{rollbacks} rollbacks")


# --------------------------------------------------------------------------------------------- Atom


def atom_feed(entries: Sequence[Entry], *, repo: str, feed_id: str, self_url: str, page_url: str) -> bytes:
    """Atom 1.0 (RFC 4287) of the newest releases, newest first: feed id/title/updated/author/self link, and per
    entry an id (the release's page, a permanent IRI), title, updated, link and an HTML summary of the change."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    newest = sorted(entries, key=lambda e: e.at, reverse=True)[:FEED_ENTRIES]
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", feed_id)
    sub(feed, "title", f"Releases of {repo}")
    sub(feed, "updated", _rfc3339(newest[0].at if newest else dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)))
    sub(sub(feed, "author"), "name", "release-coordinator")
    sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    sub(feed, "link", rel="alternate", type="text/html", href=page_url)
    sub(feed, "generator", "release-coordinator")
    for entry in newest:
        item = sub(feed, "entry")
        sub(item, "id", entry.url or f"{feed_id}#{entry.anchor}")
        title = f"{entry.tag} to {entry.environment}"
        if entry.rollback_of:
            title = f"Rollback: {title}"
        sub(item, "title", title)
        sub(item, "updated", _rfc3339(entry.at))
        sub(item, "published", _rfc3339(entry.at))
        sub(item, "link", rel="alternate", type="text/html", href=entry.url or f"{page_url}#{entry.anchor}")
        sub(item, "category", term=entry.environment)
        sub(item, "summary", _entry_html(entry), type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _entry_html(entry: Entry) -> str:
    items = []
    for name, old, new in entry.changes():
        items.append(f"<li>{escape(name)}: {escape(new if old in (None, new) else f'{old} → {new}')}</li>")
    parts = [f"<ul>{''.join(items)}</ul>"]
    if entry.rollback_of:
        parts.append(f"<p>Rolls back to {escape(entry.rollback_of)}.</p>")
    if entry.verified_in:
        parts.append(f"<p>Verified in {escape(entry.verified_in[0])}.</p>")
    if entry.carried:
        parts.append("<p>Pull requests: " + ", ".join(
            f'<a href={quoteattr(c.url)}>{escape(c.label)}</a>' for c in entry.carried) + "</p>")
    return "".join(parts)


def _rfc3339(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
