"""The agent workloads' results: every round's figure (kept as JSON, to redraw without
measuring again) and their medians."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from ..._table import Spread


@dataclass
class AgentResults:
    columns: list[str]  # Column keys, in table order
    labels: dict[str, str]
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # measure -> column -> rounds
    texts: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # measure -> column -> rounds
    unsupported: dict[str, dict[str, str]] = field(default_factory=dict)  # part -> column -> why
    versions: str = ""
    machine: list[str] = field(default_factory=list)
    load: tuple[str, str] = ("", "")
    rounds: str = ""
    seconds: float = 0.0
    figures: dict[str, dict[str, Spread]] = field(default_factory=dict)

    _FIELDS = ("columns", "labels", "samples", "texts", "unsupported", "versions", "machine", "load",
               "rounds", "seconds")  # fmt: skip

    def to_json(self) -> str:
        return json.dumps({f: getattr(self, f) for f in self._FIELDS}, indent=1, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> AgentResults:
        data = json.loads(text)
        results = cls(**{f: data[f] for f in cls._FIELDS})
        results.load = tuple(results.load)  # type: ignore[assignment]
        results.summarise()
        return results

    def summarise(self) -> None:
        self.figures = {m: {c: Spread.of(v) for c, v in by.items()} for m, by in self.samples.items()}

    def spread(self, measure: str, column: str) -> Spread | None:
        return self.figures.get(measure, {}).get(column)

    def text(self, measure: str, column: str) -> str | None:
        """What the rounds said, the most frequent first (``"none"``, or ``"none" (4), "1
        task" (1)`` when the rounds differ)."""
        said = self.texts.get(measure, {}).get(column)
        if not said:
            return None
        counts = Counter(said).most_common()
        if len(counts) == 1:
            return counts[0][0]
        return ", ".join(f"{value} ({n} of {len(said)})" for value, n in counts)
