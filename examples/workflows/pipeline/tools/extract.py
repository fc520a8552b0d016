"""Read data/orders.csv into build/orders.json; report the orders that had to be dropped."""

import csv
import json
import pathlib

rows = list(csv.DictReader(pathlib.Path("data/orders.csv").open(encoding="utf-8")))
kept = [r for r in rows if r["customer"]]
build = pathlib.Path("build")
build.mkdir(exist_ok=True)
(build / "orders.json").write_text(json.dumps(kept, indent=1), encoding="utf-8")
print(f"extracted {len(kept)} of {len(rows)} orders into build/orders.json")
for row in rows:
    if not row["customer"]:
        print(f"TODO: order {row['order']} has no customer and was dropped; fix the source data")
