"""The sweep runner: one row per case, and the rules that make a CLI, API or HTTP case FAIL."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
BAD, ANY, OK = "bad", "any", "ok"  # expected outcome: exit 2; {0, 1, 2}; {0, 1}; or an int: exactly that exit
TYPE = "type"  # API: a UserError that is also a TypeError (lrface.errors.WrongType)


@dataclass
class Row:
    case: str
    command: str
    code: str
    first: str
    ok: bool
    why: str = ""


@dataclass
class Sweep:
    work: Path
    only: str = ""
    rows: list[Row] = field(default_factory=list)

    def record(self, case, command, code, first, why):
        self.rows.append(Row(case, command, str(code), first, not why, why))
        r = self.rows[-1]
        print(f"{'PASS' if r.ok else 'FAIL'}  {case:34.34}  {code!s:>6}  {first[:110]}{'  <- ' + why if why else ''}")
        sys.stdout.flush()

    def wanted(self, case: str) -> bool:
        return self.only in case

    # -- CLI ------------------------------------------------------------------------------------
    def cli(self, case, args, expect=BAD, timeout=90, check=None, lines=1, env=None, stdout=None):
        """Run `python -m lrface ARGS`; ``check()`` returns a failure reason for the output state, or ''.
        ``stdout`` (a file or descriptor) replaces the captured stdout; an int ``expect`` is that exit status
        exactly, with no error line on stderr."""
        if not self.wanted(case):
            return
        args = [str(a) for a in args]
        cmd = "lrface " + " ".join(_quote(a) for a in args)
        try:
            p = subprocess.run(
                [PY, "-m", "lrface", *args],
                cwd=self.work,
                env={**ENV, **(env or {})},
                stdout=subprocess.PIPE if stdout is None else stdout,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            self.record(case, cmd, "hang", f"no answer in {timeout} s", "ran past the timeout (work started?)")
            return
        err = [line for line in p.stderr.splitlines() if line.strip()]
        first = err[-1] if p.returncode == 2 and err else (err[0] if err else (p.stdout or "").strip()[:80])
        why = ""
        if "Traceback" in p.stderr:
            why = "traceback"
        elif isinstance(expect, int):
            if p.returncode != expect or any(": error:" in line for line in err):
                why = f"exit {p.returncode}, expected {expect} without an error line"
        elif p.returncode not in (0, 1, 2):
            why = f"exit {p.returncode}"
        elif expect == BAD and p.returncode != 2:
            why = "bad input not refused (exit != 2)"
        elif expect == OK and p.returncode not in (0, 1):
            why = "good input refused"
        elif p.returncode == 2 and len(err) > lines:
            why = f"{len(err)} stderr lines"
        if not why and check:
            why = check()
        self.record(case, cmd, p.returncode, first, why)

    # -- Python API -----------------------------------------------------------------------------
    def api(self, case, fn, expect=BAD):
        if not self.wanted(case):
            return
        from lrface.errors import UserError

        try:
            out = fn()
        except UserError as e:
            msg = str(e)
            why = "multi-line message" if "\n" in msg else ("" if expect in (BAD, ANY, TYPE) else "good input refused")
            if not why and expect == TYPE and not isinstance(e, TypeError):
                why = "a wrong type, not a TypeError"
            self.record(case, "api", type(e).__name__, msg, why)
            return
        except Exception as e:  # noqa: BLE001 - the point is to catch what leaks
            self.record(case, "api", type(e).__name__, f"{type(e).__name__}: {e}".splitlines()[0], "leaked exception")
            return
        self.record(case, "api", "ok", repr(out)[:100], "bad input accepted" if expect == BAD else "")

    # -- HTTP -----------------------------------------------------------------------------------
    def http(self, case, port, method, path, body=b"", headers=None, expect=(400, 499)):
        if not self.wanted(case):
            return
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            conn.close()
        except Exception as e:  # noqa: BLE001
            self.record(case, f"{method} {path}", "conn", str(e), "no HTTP answer")
            return
        why = ""
        try:
            doc = json.loads(raw)
        except ValueError:
            doc, why = None, "answer is not JSON"
        first = json.dumps(doc)[:110] if doc is not None else raw[:80].decode("latin-1")
        if resp.status >= 500 and resp.status > expect[1]:
            why = f"server error {resp.status}"
        elif not expect[0] <= resp.status <= expect[1]:
            why = f"status {resp.status}, expected {expect[0]}-{expect[1]}"
        elif resp.status >= 400 and not (isinstance(doc, dict) and "error" in doc and doc.get("status") == resp.status):
            why = "error answer lacks {error, status}"
        self.record(case, f"{method} {path}", resp.status, first, why)


def _quote(a: str) -> str:
    return repr(a) if (not a or any(c in a for c in " \n\t'\"")) else a
