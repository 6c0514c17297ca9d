"""Markdown table of ours-vs-peer ratios from a ``pytest --benchmark-json`` file.

Usage::

    python -m pytest benchmarks/ --benchmark-json=bench.json
    python benchmarks/report.py bench.json

Rows are paired by ``extra_info["case"]``: the one with ``side == "ours"`` against every other
side of the same case. Times are the minimum over rounds (the least disturbed run); the ratio is
peer / ours, and ``target`` comes from the peer's ``extra_info["target"]``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict


def load_rows(path):
    """Return {case: {side: (min seconds, extra_info)}} from a benchmark JSON file."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    cases = defaultdict(dict)
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "case" in info and "side" in info:
            cases[info["case"]][info["side"]] = (bench["stats"]["min"], info)
    return cases, data.get("machine_info", {}), data.get("datetime", "")


def markdown_table(cases):
    """One row per (case, peer): case, shape, peer, ours (s), peer (s), ratio, target, met?."""
    lines = ["| case | shape | dtype | peer | ours (s) | peer (s) | ratio | target | met? |",
             "|---|---|---|---|---|---|---|---|---|"]
    for case in sorted(cases):
        sides = cases[case]
        if "ours" not in sides:
            continue
        ours, ours_info = sides["ours"]
        for side, (peer, info) in sorted(sides.items()):
            if side == "ours":
                continue
            ratio = peer / ours
            target = info.get("target")
            met = "—" if target is None else ("yes" if ratio >= target else "no")
            target_text = "—" if target is None else f"≥ {target:g}×"
            lines.append(f"| {case} | {ours_info.get('shape', '')} | {ours_info.get('dtype', '')} | "
                         f"{side} | {ours:.4f} | {peer:.4f} | {ratio:.1f}× | {target_text} | {met} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="JSON written by pytest --benchmark-json")
    args = parser.parse_args(argv)
    cases, machine, when = load_rows(args.path)
    print(f"machine: {machine.get('cpu', {}).get('brand_raw', machine.get('processor', '?'))}, "
          f"{machine.get('cpu', {}).get('count', '?')} cores; {when}\n")
    print(markdown_table(cases))


if __name__ == "__main__":
    main()
