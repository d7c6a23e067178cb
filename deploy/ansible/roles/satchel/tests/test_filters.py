"""Tests of the role's filters against reports satchel-install really printed.

testdata/ holds --json output of satchel-install on the hosts of test/e2e/fleet.sh:
  preflight-conflict.json   preflight on a host with Debian's containerd package (exit 4)
  apply-check-change.json   apply --check with a newer bundle (exit 5)
  apply-unchanged.json      apply with the installed bundle (exit 0, nothing changed)
  apply-badkey.json         apply --key with a file that is no key (exit 3)
  doctor-standin.json       doctor with stand-in programs and no containerd (exit 1)
  status-installed.json     status after an install of sequence 2; status-none.json: nothing installed

Run: python3 -m unittest discover -s tests (in the role's directory).
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "filter_plugins"))

import satchel as f  # noqa: E402


def run(name, rc):
    """A registered command result as Ansible records it."""
    with open(os.path.join(HERE, "testdata", name)) as fh:
        return {"rc": rc, "stdout": fh.read().rstrip("\n"), "stderr": "", "changed": False}


SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


class Json(unittest.TestCase):
    def test_report_and_garbage(self):
        self.assertEqual(f.satchel_json(run("status-none.json", 0)["stdout"])["installed"], False)
        self.assertEqual(f.satchel_json("panic: runtime error"), {})
        self.assertEqual(f.satchel_json("[1]"), {})
        self.assertEqual(f.satchel_json(None), {})


class CommandError(unittest.TestCase):
    def test_preflight_findings_with_remedy(self):
        msg = f.satchel_command_error(run("preflight-conflict.json", 4), "preflight")
        self.assertIn("satchel-install preflight exited 4 (preflight failed): package-conflict (containerd): "
                      "packaged containerd installed: containerd 1.6.20~ds1-1+deb12u3 (dpkg)", msg)
        self.assertIn("remedy: remove it: apt-get remove containerd", msg)
        self.assertNotIn("binary-conflict", msg)  # warnings are not why it failed

    def test_error_report_with_hint(self):
        msg = f.satchel_command_error(run("apply-badkey.json", 3), "apply")
        self.assertEqual(msg, "satchel-install apply exited 3 (verification failed): public key /etc/hostname: "
                              "no PEM block found; hint: give the .pub file written by `satchel-bundle keygen` "
                              "(or `cosign generate-key-pair`)")

    def test_doctor_failed_checks(self):
        msg = f.satchel_command_error(run("doctor-standin.json", 1), "doctor")
        self.assertRegex(msg, r"^satchel-install doctor exited 1 \(failure\): 1 of \d+ checks failed: ctr version: ")

    def test_no_json(self):
        msg = f.satchel_command_error({"rc": 2, "stdout": "", "stderr": "a\nb\nunknown flag: --x"}, "apply")
        self.assertEqual(msg, "satchel-install apply exited 2 (usage error): a / b / unknown flag: --x")


class Plan(unittest.TestCase):
    def test_changes_of_a_check(self):
        changes = f.satchel_plan_changes(f.satchel_json(run("apply-check-change.json", 5)["stdout"]))
        self.assertIn("replace file /usr/local/bin/crictl", changes)
        self.assertIn("replace state /var/lib/satchel/state.json", changes)
        self.assertNotIn("unchanged file /usr/local/bin/runc", changes)

    def test_nothing_to_do(self):
        self.assertEqual(f.satchel_plan_changes(f.satchel_json(run("apply-unchanged.json", 0)["stdout"])), [])

    def test_describe_like_the_installer(self):
        self.assertEqual(f.describe({"kind": "service", "change": "enable", "unit": "containerd.service"}), "enable containerd.service")
        self.assertEqual(f.describe({"kind": "service", "change": "daemon-reload"}), "systemctl daemon-reload")
        self.assertEqual(f.describe({"kind": "image", "change": "import", "ref": "r:1", "namespaces": ["k8s.io", "x"]}),
                         "import r:1 into containerd (k8s.io, x)")
        self.assertEqual(f.describe({"kind": "image", "change": "stage", "ref": "r:1", "path": "/p"}), "stage r:1 as /p")


class Report(unittest.TestCase):
    def test_preflight_failed(self):
        r = f.satchel_report("h3", status_run=run("status-none.json", 0), preflight_run=run("preflight-conflict.json", 4))
        self.assertEqual(r["outcome"], "preflight-failed")
        self.assertIsNone(r["installed"])
        self.assertEqual(r["offered"], {"name": "satchel-fleet", "version": "2026.11.0", "sequence": 1})
        self.assertEqual(len(r["errors"]), 1)
        self.assertIn("package-conflict", r["errors"][0])

    def test_not_finished_until_final(self):
        r = f.satchel_report("h1", status_run=run("status-installed.json", 0), preflight_run=run("preflight-conflict.json", 0))
        self.assertEqual(r["outcome"], "not-finished")

    def test_would_change(self):
        r = f.satchel_report("h2", check_mode=True, final=True, status_run=run("status-installed.json", 0),
                             preflight_run=run("preflight-conflict.json", 0), apply_run=run("apply-check-change.json", 5),
                             doctor_run=SKIPPED, status_after_run=SKIPPED)
        self.assertEqual(r["outcome"], "would-change")
        self.assertEqual(r["actions"], ["replace file /usr/local/bin/crictl", "replace state /var/lib/satchel/state.json"])
        self.assertEqual(r["changes"], 2)
        self.assertEqual(r["installed"]["sequence"], 2)
        self.assertEqual(r["versions"], {"containerd": "2.4.2", "crictl": "1.38.0", "runc": "1.5.2"})

    def test_up_to_date(self):
        r = f.satchel_report("h1", check_mode=True, final=True, status_run=run("status-installed.json", 0),
                             preflight_run=run("preflight-conflict.json", 0), apply_run=run("apply-unchanged.json", 0))
        self.assertEqual((r["outcome"], r["changes"]), ("up-to-date", 0))

    def test_unchanged_and_doctor_may_fail(self):
        kw = dict(final=True, status_run=run("status-installed.json", 0), preflight_run=run("preflight-conflict.json", 0),
                  apply_run=run("apply-unchanged.json", 0), doctor_run=run("doctor-standin.json", 1),
                  status_after_run=run("status-installed.json", 0))
        r = f.satchel_report("h1", doctor_must_pass=False, **kw)
        self.assertEqual(r["outcome"], "unchanged")
        self.assertFalse(r["doctor"]["ok"])
        self.assertTrue(r["doctor"]["failed"][0].startswith("ctr version: "))
        r = f.satchel_report("h1", doctor_must_pass=True, **kw)
        self.assertEqual(r["outcome"], "doctor-failed")

    def test_apply_error(self):
        r = f.satchel_report("h2", final=True, status_run=run("status-installed.json", 0),
                             preflight_run=run("preflight-conflict.json", 0), apply_run=run("apply-badkey.json", 3))
        self.assertEqual(r["outcome"], "failed")
        self.assertIn("exited 3 (verification failed)", r["errors"][0])

    def test_files_wrong(self):
        self.assertEqual(f.satchel_report("h", local_errors=["x: sha256 is a, expected b"])["outcome"], "sha256-mismatch")
        self.assertEqual(f.satchel_report("h", variable_errors=["set ..."], local_errors=["x"])["outcome"], "failed")


class Files(unittest.TestCase):
    V = dict(run="", run_sha256="", installer="/b/satchel-install", installer_sha256="a" * 64, bundle="/b/k.satchel",
             bundle_sha256="B" * 64, key="/k/satchel.pub", components=[], extra_args=["--no-start"], doctor_args=[],
             stage_dir="/var/cache/satchel-ansible")

    def test_variables(self):
        self.assertEqual(f.satchel_variable_errors(self.V), [])
        self.assertEqual(len(f.satchel_variable_errors(dict(self.V, run="/x.run", run_sha256="c" * 64))), 1)
        self.assertIn("satchel_bundle_sha256", f.satchel_variable_errors(dict(self.V, bundle_sha256="abc"))[0])
        self.assertIn("must be a list", f.satchel_variable_errors(dict(self.V, extra_args="--no-start"))[0])
        self.assertIn("names must differ", f.satchel_variable_errors(dict(self.V, key="/k/k.satchel"))[0])
        self.assertIn("absolute", f.satchel_variable_errors(dict(self.V, stage_dir="cache"))[0])

    def test_local_resolved_stale_paths(self):
        wanted = [{"role": "installer", "src": "satchel-install", "sha256": "A" * 64, "mode": "0755"},
                  {"role": "bundle", "src": "k.satchel", "sha256": "b" * 64, "mode": "0644"},
                  {"role": "key", "src": "satchel.pub", "sha256": "", "mode": "0644"}]
        local = [{"path": "/f/satchel-install", "sha256": "a" * 64}, {"path": "/f/k.satchel", "sha256": "c" * 64},
                 {"path": "/nowhere/satchel.pub", "sha256": ""}]
        errs = f.satchel_local_errors(wanted, local)
        self.assertEqual(errs, ["k.satchel: sha256 is %s, expected %s" % ("c" * 64, "b" * 64),
                                "satchel.pub: no such file on the controller (looked at /nowhere/satchel.pub)"])
        local[2]["sha256"] = "d" * 64
        files = f.satchel_resolved(wanted, local, "/stage/")
        self.assertEqual([(x["src"], x["sha256"][:1], x["dest"]) for x in files],
                         [("/f/satchel-install", "a", "/stage/satchel-install"), ("/f/k.satchel", "b", "/stage/k.satchel"),
                          ("/nowhere/satchel.pub", "d", "/stage/satchel.pub")])
        out = "%s  /stage/satchel-install\n%s  /stage/k.satchel\n" % ("a" * 64, "e" * 64)
        stale = f.satchel_stale(files, out)
        self.assertEqual([x["dest"] for x in stale], ["/stage/k.satchel", "/stage/satchel.pub"])
        self.assertEqual(f.satchel_paths(files, stale, "/tmp/t"),
                         {"installer": "/stage/satchel-install", "bundle": "/tmp/t/k.satchel", "key": "/tmp/t/satchel.pub"})
        self.assertEqual(f.satchel_paths(files, [], ""), {"installer": "/stage/satchel-install", "bundle": "/stage/k.satchel",
                                                          "key": "/stage/satchel.pub"})


class Fleet(unittest.TestCase):
    def test_summary(self):
        h1 = f.satchel_report("h1", final=True, status_run=run("status-installed.json", 0),
                              preflight_run=run("preflight-conflict.json", 0), apply_run=run("apply-unchanged.json", 0),
                              status_after_run=run("status-installed.json", 0))
        h3 = f.satchel_report("h3", status_run=run("status-none.json", 0), preflight_run=run("preflight-conflict.json", 4))
        hostvars = {"h1": {"satchel_report": h1}, "h3": {"satchel_report": h3}, "h4": {}}
        s = f.satchel_fleet(["h1", "h3", "h4"], hostvars)
        self.assertEqual(s["bundles"], {"satchel-fleet sequence 2": ["h1"], "nothing installed": ["h3"], "unknown": ["h4"]})
        self.assertEqual(s["failed"], ["h3", "h4"])
        self.assertEqual(s["lines"][0], "3 hosts: 1 ok, 2 failed or not run")
        self.assertRegex(s["lines"][2], r"^h1 +satchel-fleet 2026\.12\.0 \(sequence 2\) +unchanged$")
        self.assertIn("preflight-failed: satchel-install preflight exited 4", s["lines"][3])
        self.assertIn("not-run: no report from this run", s["lines"][4])
        self.assertEqual(s["lines"][5:], ["by bundle:", "  nothing installed: h3", "  satchel-fleet sequence 2: h1",
                                          "  unknown: h4"])


if __name__ == "__main__":
    unittest.main()
