"""Span trees as text: what a test compares, and what a person reads.

``render(spans)`` draws the SDK's finished spans (``InMemorySpanExporter``) as a tree by
parent span id, children in start order, one line per span: name, kind, status, duration,
and the attributes asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.sdk.trace import ReadableSpan


def children(spans: Sequence[ReadableSpan]) -> dict[int | None, list[ReadableSpan]]:
    ids = {s.context.span_id for s in spans if s.context is not None}
    tree: dict[int | None, list[ReadableSpan]] = {}
    for span in sorted(spans, key=lambda s: (s.start_time or 0, s.end_time or 0)):
        parent = span.parent.span_id if span.parent is not None else None
        tree.setdefault(parent if parent in ids else None, []).append(span)
    return tree


def render(spans: Sequence[ReadableSpan], attributes: Iterable[str] = (), *, events: bool = False) -> str:
    shown = tuple(attributes)
    tree = children(spans)
    lines: list[str] = []

    def walk(span: ReadableSpan, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└── " if last else "├── ")
        status = span.status.status_code.name
        duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        extra = " ".join(
            f"{k}={span.attributes[k]!r}" for k in shown if span.attributes and k in span.attributes
        )
        lines.append(
            f"{prefix}{branch}{span.name}  [{span.kind.name.lower()}, {status.lower()}, {duration:.2f} ms]"
            + (f"  {extra}" if extra else "")
        )
        below = prefix + ("" if root else ("    " if last else "│   "))
        if events:
            for event in span.events:
                lines.append(f"{below}· {event.name} {dict(event.attributes or {})}")
        kids = tree.get(span.context.span_id if span.context else None, [])
        for index, kid in enumerate(kids):
            walk(kid, below, index == len(kids) - 1, False)

    for root in tree.get(None, []):
        walk(root, "", True, True)
    return "\n".join(lines)


def outline(spans: Sequence[ReadableSpan]) -> list[tuple[int, str]]:
    """The tree as (depth, name) rows, in the order ``render`` draws it."""
    tree = children(spans)
    rows: list[tuple[int, str]] = []

    def walk(span: ReadableSpan, depth: int) -> None:
        rows.append((depth, span.name))
        for kid in tree.get(span.context.span_id if span.context else None, []):
            walk(kid, depth + 1)

    for root in tree.get(None, []):
        walk(root, 0)
    return rows
