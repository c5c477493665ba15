"""The one table of ``make bench``: every bench script records its ratios here, and this
script prints them together.

    python bench/table.py outputs/bench/results.jsonl

A script records a row with :func:`record` when ``$BIOTAB_BENCH_RESULTS`` names a file (the
Makefile sets it); run alone, it only prints its own tables.
"""

import json
import os
import sys
from pathlib import Path

ENV = "BIOTAB_BENCH_RESULTS"


def record(workload, ours, peer, peer_name, ratio, target=None, unit="s", note=""):
    """Append one row: ``ours`` and ``peer`` in ``unit``, ``ratio`` = ours / peer (below 1 =
    we are faster or smaller), ``target`` e.g. "<= 0.35" (None: no target)."""
    path = os.environ.get(ENV)
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    row = dict(workload=workload, ours=ours, peer=peer, peer_name=peer_name, ratio=ratio,
               target=target, unit=unit, note=note)
    with open(path, "a") as out:
        out.write(json.dumps(row) + "\n")


def holds(ratio, target):
    """Whether ``ratio`` meets ``target`` ("<= 0.35", ">= 1.8"); None without a target."""
    if target is None:
        return None
    sign, value = target.split()
    return ratio <= float(value) if sign == "<=" else ratio >= float(value)


def main(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    print("\n## make bench: every ratio (ours / peer; below 1 = faster or smaller, "
          "unless the target says >=)\n")
    print("| workload | ours | peer | peer | ratio | target | holds | note |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = holds(r["ratio"], r["target"])
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"| {r['workload']} | {_value(r['ours'], r['unit'])} | {r['peer_name']} "
              f"| {_value(r['peer'], r['unit'])} | {r['ratio']:.2f} | {r['target'] or ''} "
              f"| {mark} | {r['note']} |")


def _value(value, unit):
    if value is None:
        return ""
    return f"{value:.3g} {unit}" if unit != "s" else f"{value:.3f} s"


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ[ENV])
