"""The one table a bench run prints."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass
class Row:
    section: str
    measure: str
    value: str
    goal: str = ""
    verdict: str = ""  # "met", "MISSED by …", or "" when there is no goal


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, section: str, measure: str, value: str, goal: str = "", verdict: str = "") -> None:
        self.rows.append(Row(section, measure, value, goal, verdict))
        # As it is measured too, so a long run shows where it is.
        print(f"[bench] {section} | {measure} | {value} | {goal} | {verdict}", file=sys.stderr, flush=True)

    def render(self) -> str:
        header = ("section", "measure", "value", "goal", "verdict")
        cells = [header] + [(r.section, r.measure, r.value, r.goal, r.verdict) for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]

        def line(c):
            return "| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |"

        out = [self.title, "", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(c) for c in cells[1:]]
        if self.notes:
            out += [""] + [f"- {n}" for n in self.notes]
        if self.errors:
            out += ["", "ERRORS:"] + [f"- {e}" for e in self.errors]
        return "\n".join(out)


def at_most(value: float, goal: float, unit: str = "ms", scale: float = 1000) -> str:
    """Verdict for a figure that must stay at or below `goal` (both in seconds when unit is ms)."""
    if value != value:
        return "not measured"
    if value <= goal:
        return "met"
    return f"MISSED by {(value - goal) * scale:.0f} {unit}"


def at_least(value: float, goal: float) -> str:
    if value != value:
        return "not measured"
    return "met" if value >= goal else f"MISSED by {goal - value:.2f}"
