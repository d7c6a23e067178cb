# Filters of the satchel role: read satchel-install's --json reports and build the
# per-host report and the fleet summary. They run on the controller; none touches a host.
#
# The JSON shapes are satchel-install's (cmd/install, install/): preflight prints
# {bundle, verified, facts, findings[], failed, failingComponents}; apply --check prints the
# plan {bundle, actions[], summary{change: n}, changed}; apply prints {plan, steps, changed,
# seconds}; doctor prints {checks[{name, result, detail, remedy}], ok}; status prints
# {installed, bundle{name, version, sequence, componentVersions}, missing[], modified[]};
# any command that fails with --json prints {error, hint, exitCode}.

from __future__ import annotations

import json
import os
import re

# satchel-install's exit codes (README.md "Exit codes").
EXIT_MEANING = {
    0: "success",
    1: "failure",
    2: "usage error",
    3: "verification failed",
    4: "preflight failed",
    5: "apply --check found a change to make",
}

# Plan changes that change nothing (install/plan/types.go: Action.Changes).
NO_CHANGE = ("unchanged", "skip")


def satchel_json(text):
    """Parse a --json report; {} when the output is not a JSON object."""
    if not isinstance(text, str) or not text.strip().startswith("{"):
        return {}
    try:
        v = json.loads(text)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def satchel_variable_errors(v):
    """Problems with the role's variables (v: their values by name without the satchel_
    prefix); [] when they are usable."""
    out = []
    run, installer, bundle = v.get("run") or "", v.get("installer") or "", v.get("bundle") or ""
    if run and (installer or bundle):
        out.append("set satchel_run or satchel_installer and satchel_bundle, not both")
    elif not run and not (installer and bundle):
        out.append("set satchel_installer and satchel_bundle (or satchel_run, a self-extracting .run)")
    for name, path in (("run", run), ("installer", installer), ("bundle", bundle)):
        if path and not _SHA256.match(str(v.get(name + "_sha256") or "")):
            out.append("satchel_%s_sha256 must be the 64 hex digits of %s's sha256" % (name, os.path.basename(path)))
    names = [os.path.basename(str(p)) for p in (run, installer, bundle, v.get("key") or "") if p]
    if len(set(names)) != len(names):
        out.append("the files' names must differ (they are staged side by side): %s" % ", ".join(names))
    for name in ("components", "extra_args", "doctor_args"):
        if not isinstance(v.get(name), (list, tuple)):
            out.append("satchel_%s must be a list (one argument per item), not %r" % (name, v.get(name)))
    if not str(v.get("stage_dir") or "").startswith("/"):
        out.append("satchel_stage_dir must be an absolute path")
    return out


def satchel_local_errors(wanted, local):
    """Problems of the files to carry on the controller: wanted is the role's list of
    {src, sha256 (given; "" for the key), mode}, local what lookup satchel_sha256 found for
    each src ({path, sha256}). [] when every file exists and has the sha256 given."""
    out = []
    for w, l in zip(wanted or [], local or []):
        got, want = (l or {}).get("sha256", ""), str(w.get("sha256", "")).lower()
        if not got:
            out.append("%s: no such file on the controller (looked at %s)" % (w.get("src"), (l or {}).get("path")))
        elif want and got != want:
            out.append("%s: sha256 is %s, expected %s" % (w.get("src"), got, want))
    return out


def satchel_resolved(wanted, local, stage_dir):
    """The files to carry with the path found on the controller (src), the sha256 each must
    have (the given one; the controller's for the key, which has none given) and where it
    is staged on the host (dest)."""
    out = []
    for w, l in zip(wanted or [], local or []):
        f = dict(w)
        f["src"] = (l or {}).get("path") or w.get("src")
        f["sha256"] = str(w.get("sha256") or (l or {}).get("sha256", "")).lower()
        f["dest"] = stage_dir.rstrip("/") + "/" + os.path.basename(str(w.get("src")))
        out.append(f)
    return out


def satchel_paths(files, elsewhere, tmp_dir):
    """Each file's path on the host by role: its staged copy (dest), or for the files in
    elsewhere (check mode: not staged yet) their copy in tmp_dir."""
    moved = {f.get("dest") for f in elsewhere or []}
    out = {}
    for f in files or []:
        dest = f.get("dest")
        out[f.get("role")] = (tmp_dir.rstrip("/") + "/" + os.path.basename(dest)) if dest in moved and tmp_dir else dest
    return out


_SUM_LINE = re.compile(r"^\\?([0-9a-fA-F]{64}) [ *](.*)$")


def satchel_stale(files, sha256sum_stdout):
    """The files whose staged copy (dest) is missing from sha256sum's output or has
    another sha256 than the file must have."""
    got = {}
    for line in (sha256sum_stdout or "").splitlines():
        m = _SUM_LINE.match(line)
        if m:
            got[m.group(2)] = m.group(1).lower()
    return [f for f in files or [] if got.get(f.get("dest")) != f.get("sha256")]


def describe(action):
    """One plan action in a few words, as satchel-install prints it (plan.Action.Describe)."""
    kind, change = action.get("kind", ""), action.get("change", "")
    if kind == "service":
        return "systemctl daemon-reload" if change == "daemon-reload" else "%s %s" % (change, action.get("unit", ""))
    if kind == "image":
        ref = action.get("ref", "")
        if change == "import":
            return "import %s into containerd (%s)" % (ref, ", ".join(action.get("namespaces") or []))
        if change == "docker-load":
            return "docker load " + ref
        if change == "stage":
            return "stage %s as %s" % (ref, action.get("path", ""))
        return "%s %s" % (change, ref)
    if kind == "runtimeclass":
        return "kubectl apply -f " + action.get("path", "")
    return "%s %s %s" % (change, kind, action.get("path", ""))


def _plan(report):
    """The plan inside an apply report, or the report itself when it is a plan."""
    if not isinstance(report, dict):
        return {}
    return report.get("plan") if isinstance(report.get("plan"), dict) else report


def satchel_plan_changes(report):
    """Descriptions of the actions that change something."""
    return [describe(a) for a in _plan(report).get("actions") or [] if a.get("change") not in NO_CHANGE]


def satchel_change_count(report):
    return len(satchel_plan_changes(report))


def _finding(f):
    s = f.get("id", "?")
    if f.get("component"):
        s += " (%s)" % f["component"]
    s += ": " + f.get("message", "")
    if f.get("remedy"):
        s += "; remedy: " + f["remedy"]
    return s


def satchel_findings_of(findings, severity="error"):
    """Findings of one severity, each as "id (component): message; remedy: ..."."""
    return [_finding(f) for f in findings or [] if f.get("severity") == severity]


def satchel_command_error(result, step):
    """Why a satchel-install command failed, from its registered result."""
    rc = result.get("rc")
    meaning = EXIT_MEANING.get(rc, "exit status")
    head = "satchel-install %s exited %s (%s)" % (step, rc, meaning)
    j = satchel_json(result.get("stdout", ""))
    if j.get("error"):
        msg = head + ": " + j["error"]
        if j.get("hint"):
            msg += "; hint: " + j["hint"]
        return msg
    if rc == 4 and isinstance(j.get("findings"), list):
        return head + ": " + " | ".join(satchel_findings_of(j["findings"]))
    if isinstance(j.get("checks"), list):
        failed = [c for c in j["checks"] if c.get("result") == "fail"]
        return "%s: %d of %d checks failed: %s" % (head, len(failed), len(j["checks"]), " | ".join(
            "%s: %s%s" % (c.get("name"), c.get("detail", ""), "; remedy: " + c["remedy"] if c.get("remedy") else "")
            for c in failed))
    tail = (result.get("stderr") or result.get("msg") or "").strip().splitlines()[-3:]
    return head + (": " + " / ".join(tail) if tail else "")


def _bundle(b):
    if not isinstance(b, dict) or not b.get("name"):
        return None
    return {"name": b.get("name"), "version": b.get("version"), "sequence": b.get("sequence")}


def _ran(result):
    """A registered command result that ran (not skipped, not absent)."""
    return isinstance(result, dict) and "rc" in result and not result.get("skipped")


# Outcomes of a host that reached the end of the role.
OK = ("changed", "unchanged", "would-change", "up-to-date")

# Outcomes that stop a host (the role fails it after recording its report).
FAILED = ("sha256-mismatch", "preflight-failed", "doctor-failed", "failed")


def satchel_report(host, check_mode=False, variable_errors=None, local_errors=None, status_run=None,
                   preflight_run=None, apply_run=None, doctor_run=None, status_after_run=None,
                   doctor_must_pass=True, final=False):
    """The per-host report (fact satchel_report) from the registered results of the role's
    satchel-install calls: the outcome, the bundle installed, what changed (or would), the
    findings, the doctor's checks. Outcomes: sha256-mismatch, preflight-failed, failed,
    doctor-failed (these stop the host); changed, unchanged (apply), would-change,
    up-to-date (check mode); not-finished (the role has not reached its end)."""
    errors, outcome = list(variable_errors or []) + list(local_errors or []), None
    if variable_errors:
        outcome = "failed"
    elif local_errors:
        outcome = "sha256-mismatch"
    status = satchel_json(status_run.get("stdout")) if _ran(status_run) else {}
    if _ran(status_after_run) and status_after_run.get("rc") == 0:
        status = satchel_json(status_after_run.get("stdout"))
    preflight = satchel_json(preflight_run.get("stdout")) if _ran(preflight_run) else {}
    applied = satchel_json(apply_run.get("stdout")) if _ran(apply_run) else {}
    doctor = satchel_json(doctor_run.get("stdout")) if _ran(doctor_run) else {}
    if outcome is None:
        for step, run in (("status", status_run), ("preflight", preflight_run)):
            if _ran(run) and run["rc"] != 0:
                errors.append(satchel_command_error(run, step))
                outcome = outcome or ("preflight-failed" if step == "preflight" and run["rc"] == 4 else "failed")
    if outcome is None and _ran(apply_run):
        rc = apply_run["rc"]
        if check_mode and rc in (0, 5):
            outcome = "would-change" if rc == 5 else "up-to-date"
        elif not check_mode and rc == 0:
            outcome = "changed" if applied.get("changed") else "unchanged"
        else:
            errors.append(satchel_command_error(apply_run, "apply"))
            outcome = "failed"
    if outcome not in FAILED and _ran(doctor_run) and doctor_run["rc"] != 0:
        checks = isinstance(doctor.get("checks"), list)
        if doctor_must_pass or not checks:
            errors.append(satchel_command_error(doctor_run, "doctor"))
            outcome = "doctor-failed" if checks else "failed"
    if outcome not in FAILED and _ran(status_after_run) and status_after_run["rc"] != 0:
        errors.append(satchel_command_error(status_after_run, "status"))
        outcome = "failed"
    if outcome is None or (outcome not in FAILED and not final):
        outcome = "not-finished"
    if outcome == "not-finished" and not errors:
        errors = ["the role did not finish on this host (unreachable, or stopped by the play)"]
    rep = {
        "host": host,
        "outcome": outcome,
        "check_mode": bool(check_mode),
        "installed": _bundle(status.get("bundle")) if status.get("installed") else None,
        "versions": ((status.get("bundle") or {}).get("componentVersions") or {}) if status.get("installed") else {},
        "offered": _bundle(preflight.get("bundle")),
        "drift": {"missing": status.get("missing") or [], "modified": status.get("modified") or []},
        "changes": None,
        "actions": [],
        "errors": errors,
        "warnings": satchel_findings_of(preflight.get("findings"), "warning"),
        "doctor": None,
    }
    if applied and ("actions" in applied or "plan" in applied):
        rep["actions"] = satchel_plan_changes(applied)
        rep["changes"] = len(rep["actions"])
    if isinstance(doctor.get("checks"), list):
        checks = doctor["checks"]
        rep["doctor"] = {
            "ok": bool(doctor.get("ok")),
            "failed": ["%s: %s" % (c.get("name"), c.get("detail", "")) for c in checks if c.get("result") == "fail"],
            "passed": len([c for c in checks if c.get("result") == "ok"]),
            "skipped": len([c for c in checks if c.get("result") == "skip"]),
        }
    return rep


def _label(b):
    if not b:
        return "nothing installed"
    return "%s %s (sequence %s)" % (b.get("name"), b.get("version"), b.get("sequence"))


def _this_run(r):
    o = r.get("outcome", "?")
    if o in ("changed", "would-change"):
        s = "%s: %d changes" % (o, r.get("changes") or 0)
    elif o in ("unchanged", "up-to-date"):
        s = o
    else:
        s = o + ": " + ("; ".join(r.get("errors") or []) or "no reason recorded")
    d = r.get("doctor")
    if d:
        s += "; doctor: %d ok, %d failed, %d skipped" % (d["passed"], len(d["failed"]), d["skipped"])
    drift = r.get("drift") or {}
    if drift.get("missing") or drift.get("modified"):
        s += "; drift: %d missing, %d modified files" % (len(drift.get("missing") or []), len(drift.get("modified") or []))
    return s


def _get(mapping, key):
    try:
        return mapping[key]
    except (KeyError, TypeError):
        return None
    except Exception:  # an undefined variable in Ansible's HostVars
        return None


def satchel_fleet(hosts, hostvars):
    """The fleet summary: one row per host (its satchel_report, or why there is none)
    and the hosts grouped by the bundle they run (name and sequence), printed as lines."""
    rows = []
    for h in hosts or []:
        hv = _get(hostvars, h)
        rep = _get(hv, "satchel_report") if hv is not None else None
        if not isinstance(rep, dict):
            rep = {"host": h, "outcome": "not-run", "installed": None,
                   "errors": ["no report from this run (unreachable, limited out, or stopped before the role ran)"]}
        rows.append(dict(rep))
    groups = {}
    for r in rows:
        b = r.get("installed")
        key = "%s sequence %s" % (b["name"], b["sequence"]) if b else ("unknown" if r.get("outcome") == "not-run" else "nothing installed")
        groups.setdefault(key, []).append(r["host"])
    failed = [r["host"] for r in rows if r.get("outcome") not in OK]
    width = max([len(r["host"]) for r in rows] + [4])
    iw = max([len(_label(r.get("installed"))) for r in rows] + [9])
    lines = ["%d hosts: %d ok, %d failed or not run%s" % (
        len(rows), len(rows) - len(failed), len(failed),
        " (check mode: nothing was changed)" if any(r.get("check_mode") for r in rows) else "")]
    lines.append("%-*s  %-*s  %s" % (width, "HOST", iw, "INSTALLED", "THIS RUN"))
    for r in rows:
        lines.append("%-*s  %-*s  %s" % (width, r["host"], iw, _label(r.get("installed")), _this_run(r)))
    lines.append("by bundle:")
    for key in sorted(groups):
        lines.append("  %s: %s" % (key, ", ".join(groups[key])))
    return {"hosts": rows, "bundles": groups, "failed": failed, "lines": lines}


class FilterModule(object):
    def filters(self):
        return {
            "satchel_json": satchel_json,
            "satchel_variable_errors": satchel_variable_errors,
            "satchel_local_errors": satchel_local_errors,
            "satchel_resolved": satchel_resolved,
            "satchel_stale": satchel_stale,
            "satchel_paths": satchel_paths,
            "satchel_plan_changes": satchel_plan_changes,
            "satchel_change_count": satchel_change_count,
            "satchel_findings_of": satchel_findings_of,
            "satchel_command_error": satchel_command_error,
            "satchel_report": satchel_report,
            "satchel_fleet": satchel_fleet,
        }
