"""Benchmark conventions: each figure beside its anchor, reported as a ratio.

A benchmark declares its group (`@pytest.mark.benchmark(group=...)`), the number of items
one round handles (`benchmark.extra_info["items"]`) and its role: "ours" or "anchor" (what
a user would otherwise use: DataSketches, numpy, plain Bytewax). The summary prints per
group the time per item of each side and how many times faster ours is, all from this run,
from each side's fastest round: on a shared machine noise only ever adds time (the same
flow measured 0.47-0.68 s across eight runs in one process), so the minimum is the
stable figure, and both sides are measured alike.
"""

from __future__ import annotations

from typing import Any

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.bench)


def _per_item_ns(bench: Any) -> float:
    return float(bench.stats.min) * 1e9 / int(bench.extra_info.get("items", 1))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, list[Any]] = {}
    for bench in session.benchmarks:
        groups.setdefault(bench.group or bench.name, []).append(bench)
    write = terminalreporter.write_line
    write("")
    write("Ratios (fastest round, time per item; x = anchor time / ours, higher is better)")
    for group, benches in sorted(groups.items()):
        ours = [b for b in benches if b.extra_info.get("role") == "ours"]
        anchors = [b for b in benches if b.extra_info.get("role") == "anchor"]
        for o in ours:
            param = f"[{o.param}]" if getattr(o, "param", None) else ""
            line = f"  {group:<28} ours{param} {_per_item_ns(o):>10.1f} ns"
            for a in anchors:
                ratio = _per_item_ns(a) / _per_item_ns(o)
                label = a.extra_info.get("label", a.name)
                line += f" | {label} {_per_item_ns(a):>10.1f} ns  x{ratio:.2f}"
            write(line)
    reports = [r for b in session.benchmarks for r in b.extra_info.get("report", [])]
    if reports:
        write("")
        write("Other figures")
        for line in reports:
            write(f"  {line}")
