"""Every command-line tool runs torch with passive OpenMP threads, set before torch loads.

On a CPU shared with other work, OpenMP threads that spin while waiting made ``python -m
explorer.predict`` 30 times slower beside two busy processes (issue 21). The package sets the
policy on import (``explorer.OMP_WAIT_POLICY``, the same definition the server's warm-up uses);
these tests run each CLI the way ``python -m`` does, in a process whose environment does not
have it, and look at the environment at the moment torch is first imported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIS = sorted(p.parent.name for p in (ROOT / "explorer").glob("*/__main__.py"))

# Each CLI in a child forked from one interpreter that has imported nothing of the project:
# `python -m explorer.NAME --help` with a finder that notes the policy when torch is about to be
# imported, and stops there (loading torch would take seconds and tell nothing more).
RUNNER = r'''
import contextlib, io, json, os, runpy, sys

class AtTorch:
    def __init__(self, out):
        self.out = out
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            self.out.setdefault("at_torch", os.environ.get("OMP_WAIT_POLICY"))
            raise ModuleNotFoundError("torch is not loaded in this test")
        return None

given = os.environ.get("OMP_WAIT_POLICY")
results = {}
for cli in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        out = {"before": os.environ.get("OMP_WAIT_POLICY")}
        sys.meta_path.insert(0, AtTorch(out))
        sys.argv = [f"python -m explorer.{cli}", "--help"]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                runpy.run_module(f"explorer.{cli}", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            out["exit"] = exc.code
        except BaseException as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
        out["after"] = os.environ.get("OMP_WAIT_POLICY")
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.waitpid(pid, 0)
    results[cli] = json.loads(data)
print(json.dumps(results))
'''


def _run(env_policy: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    proc = subprocess.run([sys.executable, "-c", RUNNER, *CLIS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_cli_has_passive_threads_before_torch_loads():
    from explorer import OMP_WAIT_POLICY

    assert OMP_WAIT_POLICY == "PASSIVE"
    assert {"predict", "channels", "attribution", "train", "analysis", "weights",
            "data"} <= set(CLIS)  # and whatever CLI is added later
    results = _run(None)
    for cli, out in results.items():
        assert out["before"] is None  # the process started without it...
        assert out["after"] == OMP_WAIT_POLICY, cli  # ...and the CLI's package set it
        if "at_torch" in out:  # a CLI that imports torch at once had it set already then
            assert out["at_torch"] == OMP_WAIT_POLICY, cli
        else:  # one that does not: --help printed, and nothing else failed
            assert out.get("exit") in (0, None) and "error" not in out, (cli, out)
    # train's __main__ imports torch at the top: the check above did bite at least once.
    assert results["train"].get("at_torch") == OMP_WAIT_POLICY


def test_a_policy_the_user_set_is_kept():
    results = _run("ACTIVE")
    assert {out["after"] for out in results.values()} == {"ACTIVE"}
