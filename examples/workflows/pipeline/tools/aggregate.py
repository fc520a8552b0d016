"""Sum units and cents of build/orders.json by the field named on standard input."""

import collections
import json
import pathlib
import sys

field = sys.stdin.read().strip()
orders = json.loads(pathlib.Path("build/orders.json").read_text(encoding="utf-8"))
sums = collections.defaultdict(lambda: {"units": 0, "cents": 0})
for order in orders:
    sums[order[field]]["units"] += int(order["units"])
    sums[order[field]]["cents"] += int(order["cents"])
out = pathlib.Path("build") / f"by-{field}.json"
out.write_text(json.dumps(sums, indent=1, sort_keys=True), encoding="utf-8")
print(f"{len(sums)} {field}(s) in {out}")
