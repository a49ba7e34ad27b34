"""Human-readable text of the ``mmrag`` command: counts in words, escaped paths, summaries.

``--json`` output never goes through here; these functions only shape what a person reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rag.records import Evidence, IngestReport, StoreStats

_KIND_WORDS = {"text": ("text chunk", "text chunks"), "table": ("table", "tables"),
               "figure": ("figure", "figures"), "page": ("page image", "page images")}


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``count(1, "file") -> "1 file"``, ``count(1234, "page") -> "1,234 pages"``."""
    return f"{n:,} {singular if n == 1 else (plural or singular + 's')}"


def shown(text: str) -> str:
    """``text`` with control characters (newlines, tabs, escape sequences) written as escapes, so a
    hostile or odd file name cannot break or recolour the terminal; Korean and other printable text
    stays as it is."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _items(items: Mapping[str, int]) -> str:
    parts = [count(n, *_KIND_WORDS.get(kind, (kind, kind + "s"))) for kind, n in items.items() if n]
    return ", ".join(parts) if parts else "no items"


def _listed(title: str, entries: Sequence[tuple[str, str]]) -> list[str]:
    """``title (n):`` then one ``path: why`` line per entry."""
    if not entries:
        return []
    return [f"{title} ({len(entries):,}):", *(f"  {shown(path)}: {shown(why)}" for path, why in entries)]


def format_ingest_report(report: IngestReport) -> str:
    """What an ingest run did, in sentences, with every failed and skipped file and its reason."""
    head = (f"{count(report.files_seen, 'file')} seen: {report.files_ingested:,} ingested, "
            f"{report.files_unchanged:,} unchanged, {report.files_deleted:,} deleted, "
            f"{len(report.files_failed):,} failed, {len(report.files_skipped):,} skipped")
    total = sum(report.items.values())
    lines = [head]
    if report.files_ingested:
        lines.append(f"{count(report.pages, 'page')} indexed as {count(total, 'item')} "
                     f"({_items(report.items)}) in {report.seconds:.1f} s")
    else:
        lines.append(f"nothing new to index ({report.seconds:.1f} s)")
    lines += _listed("failed", [(f.path, f.reason) for f in report.files_failed])
    lines += _listed("skipped", [(f.path, f.reason) for f in report.files_skipped])
    lines += _listed("look at", [(n.path, n.notice) for n in report.notices])
    if report.warnings:
        lines.append(f"page warnings ({len(report.warnings):,}):")
        lines += [f"  {shown(w.path)}{f', page {w.page}' if w.page else ''}: {shown(w.reason)}"
                  f"{f' ({shown(w.detail)})' if w.detail else ''}" for w in report.warnings]
    return "\n".join(lines)


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def format_hits(hits: Sequence[Evidence], width: int = 160) -> str:
    """Search results, best first: rank, score, file, page and kind, then the text on the next line."""
    if not hits:
        return "(no results)"
    lines = []
    for rank, e in enumerate(hits, start=1):
        lines.append(f"{rank:>2}. {e.score:.4f}  {shown(e.file)}  page {e.page} ({e.kind})")
        if e.text.strip():
            lines.append(f"    {shown(_one_line(e.text, width))}")
    return "\n".join(lines)


def format_stats(stats: StoreStats, where: str) -> str:
    """What an index holds, in one or two lines."""
    if not stats.points:
        return f"index {shown(where)}: empty"
    return (f"index {shown(where)}: {count(stats.files, 'file')}, {count(stats.points, 'point')} "
            f"({_items(stats.items)})\nembedder: {stats.embedder_id} ({stats.dim} dimensions)")


__all__ = ["count", "format_hits", "format_ingest_report", "format_stats", "shown"]
