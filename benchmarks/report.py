"""What the load test and the soak report: the figures of a run (`summarize`), a table of them per page
(`format_table`), the server's tracebacks, and the JSON report written to test-artifacts/<name>/."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
from collections import Counter
from pathlib import Path

from benchmarks.load import Outcome, Plan


def summarize(outcome: Outcome, plan: Plan) -> dict:
    pages = {name: row for name, row in outcome.stats.items() if name != "all pages"}
    every = outcome.stats.get("all pages", {"requests": 0, "errors": 0})
    return {
        "users": dict(Counter(u.role for u in plan.users)),
        "seconds": round(outcome.wall_seconds, 1),
        "requests": every["requests"],
        "requests_per_second": round(every["requests"] / outcome.wall_seconds, 1) if outcome.wall_seconds else 0,
        "errors": len(outcome.errors),
        "all_pages": {k: v for k, v in every.items() if k.endswith("_ms")},
        "requests_filed": len(outcome.filed),
        "filings_refused": len(outcome.failed_filings),
        "staff_saves": sum(outcome.saves_by_user.values()),
        "batches_started": len(outcome.started_batches),
        "load_average": outcome.load_average,
        "driver_cpu_seconds": round(outcome.driver_cpu_seconds, 1),
        "pages": pages,
    }


def format_table(summary: dict) -> str:
    lines = [f"{'page':<42} {'n':>6} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"]
    for page, row in summary["pages"].items():
        lines.append(
            f"{page:<42} {row['requests']:>6} {row['errors']:>4} "
            f"{row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}"
        )
    lines.append(
        f"{summary['requests']} requests in {summary['seconds']} s = {summary['requests_per_second']} req/s; "
        f"{summary['errors']} errors; {summary['requests_filed']} requests filed, {summary['staff_saves']} staff saves"
    )
    return "\n".join(lines)

def tracebacks(log: str, limit: int = 5) -> list[str]:
    """The last server tracebacks in a gunicorn log."""
    blocks = re.findall(r"Traceback \(most recent call last\):.*?(?=\n\S|\Z)(?:\n\S[^\n]*)?", log, re.S)
    return blocks[-limit:]


def write_report(out: Path, config: dict, plan: Plan, outcome: Outcome, logs: dict[str, str], **extra) -> dict:
    """Write `out`/summary.json (the run's figures, its problems and errors, the web log's tracebacks) and
    each log as `out`/<name>.log; returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    web = logs.get("web", "")
    report = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "config": config,
        "seed": plan.seed,
        "summary": summarize(outcome, plan),
        **extra,
        "errors": outcome.errors[:50],
        "server_tracebacks": tracebacks(web),
        "deadlocks_retried": web.count("deadlock in "),
    }
    (out / "summary.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    for name, text in logs.items():
        (out / f"{name}.log").write_text(text)
    return report


def describe(report: dict, out: Path, *lines: str) -> str:
    """The per-page table, `lines`, then one line of totals, for the terminal."""
    summary = report["summary"]
    totals = (
        f"confirmation emails: {report.get('confirmation_emails')}; deadlocks retried: {report['deadlocks_retried']}; "
        f"load average {summary['load_average']}; report in {out / 'summary.json'}"
    )
    return "\n".join([format_table(summary), *lines, totals])
