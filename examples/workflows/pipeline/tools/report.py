"""Write build/report.md from the aggregates the report's dependencies produced."""

import json
import pathlib
import sys

context = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))["context"]
upstream = context["dependency_results"]
lines = ["# Orders report", ""]
for task_id, result in sorted(upstream.items()):
    lines.append(f"- {task_id}: {result['status']}, {result['output'].strip()}")
lines.append("")
for name in ("customer", "product"):
    sums = json.loads(pathlib.Path(f"build/by-{name}.json").read_text(encoding="utf-8"))
    lines += [f"## By {name}", "", f"| {name} | units | dollars |", "| --- | ---: | ---: |"]
    for key, value in sums.items():
        lines.append(f"| {key} | {value['units']} | {value['cents'] / 100:.2f} |")
    lines.append("")
pathlib.Path("build/report.md").write_text("\n".join(lines), encoding="utf-8")
print("\n".join(lines))
