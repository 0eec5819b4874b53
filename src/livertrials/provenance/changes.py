"""Living-review change report (rule provenance_run, provenance.run_record): inputs changed since the previous run, the pooled
estimates that moved and why, and the snapshot of the previous run it compares with."""

from __future__ import annotations

import json
from pathlib import Path

from livertrials.provenance.lineage import study_of
from livertrials.synthesis.measures import RATIO_MEASURES as RATIO

MOVED_COLUMNS = ("estimate", "ci_lb", "ci_ub")


def input_changes(previous: dict, current: dict, config: dict) -> dict:
    """Input files added, removed and changed (by SHA-256), grouped into studies and other inputs."""
    before, now = previous.get("inputs", {}), current.get("inputs", {})
    files = {"added": sorted(set(now) - set(before)), "removed": sorted(set(before) - set(now)),
             "changed": sorted(p for p in set(now) & set(before) if now[p] != before[p])}
    studies: dict[str, dict] = {}
    other = []
    for change, paths in files.items():
        for path in paths:
            owner = study_of(path, config)
            if owner is None:
                other.append({"file": path, "change": change})
                continue
            entry = studies.setdefault(owner[1], {"study_id": owner[1], "collection": owner[0], "files": []})
            entry["files"].append({"file": path, "change": change})
    for study_id, entry in studies.items():
        folder = Path(config[f"{entry['collection']}_dir"]) / study_id
        had = any(study_of(p, config) == (entry["collection"], study_id) for p in before)
        has = any(study_of(p, config) == (entry["collection"], study_id) for p in now)
        entry["change"] = "added" if not had else "removed" if not has else "changed"
        entry["folder"] = str(folder)
        entry["files"].sort(key=lambda f: f["file"])
    config_files = {"changed": sorted(p for p in set(current.get("configfiles", {})) | set(previous.get("configfiles", {}))
                                      if current.get("configfiles", {}).get(p) != previous.get("configfiles", {}).get(p))}
    software = {k: {"before": previous.get("packages", {}).get(k), "now": v}
                for k, v in current.get("packages", {}).items() if previous.get("packages", {}).get(k) != v}
    return {"files": files, "studies": [studies[k] for k in sorted(studies)], "other_inputs": other,
            "config_changed": previous.get("config") != current.get("config"), "config_files": config_files["changed"],
            "software_changed": software,
            "git": {"before": previous.get("git", {}).get("commit"), "now": current.get("git", {}).get("commit")},
            "package_source_changed": previous.get("livertrials_source_sha256") != current.get("livertrials_source_sha256"),
            "workflow_files_changed": sorted(p for p in set(current.get("workflow_files", {})) | set(previous.get("workflow_files", {}))
                                             if current.get("workflow_files", {}).get(p) != previous.get("workflow_files", {}).get(p))}


def _value(x):
    import math

    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    return None if math.isnan(f) else f


def _summary(row) -> dict:
    out = {k: _value(row[k]) for k in MOVED_COLUMNS}
    out.update(k=int(row["k"]), study_ids=sorted(row["study_ids"]), comparison_ids=sorted(row["comparison_ids"]),
               pooled=bool(row["pooled"]))
    if row["measure"] in RATIO:
        out.update({f"ratio_{k}": _value(row[f"ratio_{k}"]) for k in MOVED_COLUMNS})
    return out


def pooled_changes(before, now, studies: list[dict], inputs: dict, tolerance: float = 0.0) -> dict:
    """Pooled rows (matched by pooled_id) that moved, appeared or disappeared, each with the inputs that caused it."""
    import pandas as pd

    changed = {s["study_id"]: s for s in studies}
    global_causes = ([f"input {o['file']} {o['change']}" for o in inputs["other_inputs"]]
                     + (["configuration changed"] if inputs["config_changed"] else [])
                     + [f"{name} {v['before']} -> {v['now']}" for name, v in inputs["software_changed"].items()]
                     + ([f"workflow code changed ({len(inputs['workflow_files_changed'])} files)"]
                        if inputs["workflow_files_changed"] else [])
                     + (["livertrials package source changed"] if inputs.get("package_source_changed") else [])
                     + [f"configuration file {p} changed" for p in inputs["config_files"]])
    identity = ("pooled_id", "outcome", "window", "measure", "design", "basis", "meld_variant", "analysis", "analysis_name",
                "method", "test")

    def who(row) -> dict:
        return {k: (None if k == "meld_variant" and pd.isna(row[k]) else row[k]) for k in identity}

    def causes(study_ids) -> list[dict]:
        found = [{"study_id": s, "change": changed[s]["change"], "files": [f["file"] for f in changed[s]["files"]]}
                 for s in sorted(set(study_ids)) if s in changed]
        return found or [{"study_id": None, "change": c, "files": []} for c in global_causes] or \
            [{"study_id": None, "change": "no input change found", "files": []}]

    before = {r["pooled_id"]: r for r in before.to_dict("records")} if before is not None and len(before) else {}
    now = {r["pooled_id"]: r for r in now.to_dict("records")}
    moved, new, dropped, unchanged = [], [], [], 0
    for pid, row in now.items():
        if pid not in before:
            new.append({**who(row), "now": _summary(row), "caused_by": causes(row["study_ids"])})
            continue
        old = before[pid]
        a, b = _summary(old), _summary(row)
        delta = {k: (None if a[k] is None or b[k] is None else b[k] - a[k]) for k in MOVED_COLUMNS}
        numbers_moved = any((a[k] is None) != (b[k] is None) or (d is not None and abs(d) > tolerance)
                            for k, d in delta.items())
        if not numbers_moved and a["study_ids"] == b["study_ids"] and a["comparison_ids"] == b["comparison_ids"]:
            unchanged += 1
            continue
        moved.append({**who(row), "before": a, "now": b, "change": delta,
                      "studies_added": sorted(set(b["study_ids"]) - set(a["study_ids"])),
                      "studies_removed": sorted(set(a["study_ids"]) - set(b["study_ids"])),
                      "caused_by": causes(set(a["study_ids"]) | set(b["study_ids"]))})
    for pid in [p for p in before if p not in now]:
        row = before[pid]
        dropped.append({**who(row), "before": _summary(row), "caused_by": causes(row["study_ids"])})
    return {"moved": moved, "new": new, "dropped": dropped, "unchanged": unchanged}


def change_report(previous: dict | None, current: dict, before, now, config: dict, tolerance: float = 0.0) -> dict:
    """What changed since the previous run (None: this run is the baseline)."""
    if previous is None:
        return {"baseline": True, "previous_run": None, "inputs": None,
                "pooled": {"moved": [], "new": [], "dropped": [], "unchanged": None},
                "note": "no previous run recorded: this run is the baseline for the next change report"}
    inputs = input_changes(previous, current, config)
    return {"baseline": False,
            "previous_run": {"end": previous.get("run", {}).get("end"), "git_commit": previous.get("git", {}).get("commit")},
            "inputs": inputs, "pooled": pooled_changes(before, now, inputs["studies"], inputs, tolerance)}


def _fmt(x) -> str:
    return "NA" if x is None else f"{x:.4g}"


def _estimate(summary: dict, measure: str) -> str:
    if summary is None:
        return ""
    prefix = "ratio_" if measure in RATIO and summary.get("ratio_estimate") is not None else ""
    est = summary.get(prefix + "estimate")
    return f"{_fmt(est)} [{_fmt(summary.get(prefix + 'ci_lb'))}, {_fmt(summary.get(prefix + 'ci_ub'))}] (k={summary['k']})"


def _delta(entry: dict) -> str:
    """Change of the estimate: a difference, or for RR/OR/HR the ratio of the two ratios."""
    import math

    d = entry["change"]["estimate"]
    if d is None:
        return "NA"
    if abs(d) < 1e-12 * max(1.0, abs(entry["before"]["estimate"] or 0.0)):   # floating-point noise of a refit
        d = 0.0
    return f"x{math.exp(d):.4g}" if entry["measure"] in RATIO else f"{d:+.4g}"


def _headline(entry: dict, settings) -> bool:
    """The row the comparators table shows: main analysis, default method, default test (or k = 1)."""
    k = (entry.get("now") or entry.get("before"))["k"]
    return (entry["analysis"] == "main" and entry["method"] == settings.default_method
            and (entry["test"] == settings.default_test or k == 1))


def change_markdown(report: dict, settings) -> str:
    """The change report as readable text."""
    lines = ["# What changed since the previous run", ""]
    if report["baseline"]:
        lines += ["No previous run is recorded under `results/provenance/history/`: this run is the baseline.",
                  "The next run will report which inputs changed and which pooled estimates moved.", ""]
        return "\n".join(lines)
    prev = report["previous_run"]
    inputs = report["inputs"]
    lines += [f"Compared with the run that ended {prev['end']} (git commit {prev['git_commit'] or 'none'}).", "",
              "## Inputs that changed", ""]
    if inputs["studies"]:
        for study in inputs["studies"]:
            files = ", ".join(f"`{f['file']}` ({f['change']})" for f in study["files"])
            lines.append(f"- study **{study['study_id']}** ({study['collection']}) {study['change']}: {files}")
    for other in inputs["other_inputs"]:
        lines.append(f"- input `{other['file']}` {other['change']}")
    if inputs["config_changed"]:
        lines.append("- the resolved configuration changed")
    for path in inputs["config_files"]:
        lines.append(f"- configuration file `{path}` added, removed or changed")
    for name, v in inputs["software_changed"].items():
        lines.append(f"- {name}: {v['before']} -> {v['now']}")
    if inputs["workflow_files_changed"]:
        lines.append(f"- workflow code: {', '.join(inputs['workflow_files_changed'])}")
    if inputs["git"]["before"] != inputs["git"]["now"]:
        lines.append(f"- git commit {inputs['git']['before']} -> {inputs['git']['now']}")
    if inputs.get("package_source_changed"):
        lines.append("- the livertrials package source changed (`livertrials_source_sha256`)")
    if lines[-1] == "":
        lines.append("- none (same input files, configuration and software)")
    pooled = report["pooled"]

    def cause(entry):
        return "; ".join(f"{c['study_id']} ({c['change']})" if c["study_id"] else c["change"] for c in entry["caused_by"])

    def where(entry):
        meld = f" ({entry['meld_variant']})" if entry.get("meld_variant") else ""
        return f"{entry['outcome']}{meld} | {entry['window']} | {entry['measure']} | {entry['design']}"

    head = [e for e in pooled["moved"] if _headline(e, settings)]
    lines += ["", f"## Pooled estimates that moved (main analysis, {settings.default_method}, {settings.default_test} test)", ""]
    if head:
        lines += ["| outcome | window | measure | design | before | now | change (ratio measures: now / before) | caused by |",
                  "|---|---|---|---|---|---|---|---|"]
        for e in head:
            lines.append(f"| {where(e)} | {_estimate(e['before'], e['measure'])} | {_estimate(e['now'], e['measure'])} | "
                         f"{_delta(e)} | {cause(e)} |")
    else:
        lines.append("None.")
    new_head = [e for e in pooled["new"] if _headline(e, settings)]
    if new_head:
        lines += ["", "## New pooled estimates", "", "| outcome | window | measure | design | now | caused by |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {where(e)} | {_estimate(e['now'], e['measure'])} | {cause(e)} |" for e in new_head]
    gone = [e for e in pooled["dropped"] if _headline(e, settings)]
    if gone:
        lines += ["", "## Pooled estimates no longer produced", "", "| outcome | window | measure | design | before | caused by |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {where(e)} | {_estimate(e['before'], e['measure'])} | {cause(e)} |" for e in gone]
    others = (len(pooled["moved"]) - len(head), len(pooled["new"]) - len(new_head), len(pooled["dropped"]) - len(gone))
    lines += ["", f"Other pooled rows (other methods, tests, subgroups, sensitivity and leave-one-out analyses): "
                  f"{others[0]} moved, {others[1]} new, {others[2]} no longer produced; {pooled['unchanged']} pooled rows "
                  "unchanged. Every row is listed in `changes.json`; `livertrials audit POOLED_ID` prints the trail of one.", ""]
    return "\n".join(lines)


# The previous run's snapshot lives in results/provenance/history/, which no rule declares as an output:
# Snakemake deletes a job's declared outputs before the job runs, so a declared snapshot would be gone exactly
# when the change report needs it. The changes rule reads it, writes its report, then replaces it.
SNAPSHOT_FILES = ("manifest.json", "pooled.parquet")


def read_snapshot(history: Path, current: dict | None = None):
    """(manifest, pooled table) of the previous run, or (None, None).

    If the previous snapshot is the ``current`` run itself (its change report is being made again, e.g. after
    the run was killed between saving the snapshot and Snakemake recording the job as done), the run before it
    is the previous one: the report says what changed since that run, as an uninterrupted build would."""
    folder = history / "previous"
    previous = _snapshot_manifest(folder)
    # earlier/ also stands in when previous/ is missing: a kill inside save_snapshot, between its renames
    if previous is None or (current is not None and previous == current):
        folder = history / "earlier"
        previous = _snapshot_manifest(folder)
    if previous is None:
        return None, None
    import pandas as pd

    pooled = pd.read_parquet(folder / "pooled.parquet") if (folder / "pooled.parquet").exists() else None
    return previous, pooled


def _snapshot_manifest(folder: Path) -> dict | None:
    path = folder / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def save_snapshot(history: Path, files: dict[str, Path], extra: list[Path], run_end: str, keep: int) -> None:
    """Make this run the previous one: history/previous/ <- files; the run it replaces moves to history/earlier/
    (see read_snapshot); history/runs/<end>/ keeps the last ``keep`` runs."""
    import os
    import shutil
    import tempfile

    history.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".previous.", dir=history))
    for name, source in files.items():
        shutil.copy2(source, staging / name)
    stamp = run_end.replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    if keep > 0:
        archive = history / "runs" / stamp
        archive.mkdir(parents=True, exist_ok=True)
        for source in [*files.values(), *extra]:
            shutil.copy2(source, archive / Path(source).name)
        runs = sorted(p for p in (history / "runs").iterdir() if p.is_dir())
        for old in runs[:-keep]:
            shutil.rmtree(old)
    previous = history / "previous"
    if previous.exists():
        retired = history / f".retired.{os.getpid()}"
        same_run = _snapshot_manifest(previous) == _snapshot_manifest(staging)
        if same_run:                    # saved again for the same run: the run before it stays in earlier/
            os.replace(previous, retired)
        else:                           # previous becomes earlier, the old earlier is dropped
            if (history / "earlier").exists():
                os.replace(history / "earlier", retired)
            os.replace(previous, history / "earlier")
        os.replace(staging, previous)
        if retired.exists():
            shutil.rmtree(retired)
    else:
        os.replace(staging, previous)
