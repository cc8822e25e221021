"""Judging a report against a scenario's `expect:` block (`opsbot eval`): pure, report in, verdict out.

A finding is named by its pattern id (`oom-killed`) or by the signature of an error outside the
pattern table (the text of the signature, or a part of it). The verdict is `healthy` (no finding),
a severity (the worst finding's), or the finding the report leads with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.models import SEVERITY_ORDER, Finding, Report, Severity
from bot.sandbox.scenario import ExpectSpec

HEALTHY = "healthy"


def matches(finding: Finding, wanted: str) -> bool:
    """`wanted` names this finding: its pattern id, or (an error outside the table) its signature."""
    return finding.pattern == wanted or (finding.signature is not None and wanted in finding.signature)


def verdict_of(findings: Sequence[Finding]) -> str:
    """What the report says first: its top finding's pattern id, or `healthy`."""
    return findings[0].pattern if findings else HEALTHY


def _verdict_holds(findings: Sequence[Finding], wanted: str) -> bool:
    if wanted == HEALTHY:
        return not findings
    if wanted in set(Severity):
        worst = min((f.severity for f in findings), key=SEVERITY_ORDER.__getitem__, default=None)
        return worst == wanted
    return bool(findings) and matches(findings[0], wanted)


@dataclass
class Judgement:
    """One scenario's result: what was expected and found, what was missed, what should not be there."""

    name: str
    expected: list[str]
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unwanted: list[str] = field(default_factory=list)
    verdict: str = HEALTHY
    verdict_ok: bool = True
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.missing and not self.unwanted and self.verdict_ok


def judge(name: str, report: Report, expect: ExpectSpec) -> Judgement:
    findings = report.findings
    out = Judgement(name=name, expected=list(expect.findings), verdict=verdict_of(findings))
    out.found = [w for w in expect.findings if any(matches(f, w) for f in findings)]
    out.missing = [w for w in expect.findings if w not in out.found]
    out.unwanted = [w for w in expect.absent if any(matches(f, w) for f in findings)]
    if expect.verdict is not None:
        out.verdict_ok = _verdict_holds(findings, expect.verdict)
    out.errors = [f"{e.step}: {e.message}" for e in report.errors]
    return out


def summary_line(judgements: Sequence[Judgement]) -> str:
    """`scenarios=N passed=N recall=... false_findings=...`: recall over every expected finding, false
    findings counted over every `absent` one that appeared."""
    expected = sum(len(j.expected) for j in judgements)
    found = sum(len(j.found) for j in judgements)
    recall = found / expected if expected else 1.0
    passed = sum(j.passed for j in judgements)
    false = sum(len(j.unwanted) for j in judgements)
    return f"scenarios={len(judgements)} passed={passed} recall={recall:.2f} false_findings={false}"
