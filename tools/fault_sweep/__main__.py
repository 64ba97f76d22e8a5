"""Adversarial bad-input sweep over every lrface command, the Python API and the HTTP service.

    python -m tools.fault_sweep [--work /tmp/lrface-faults] [--only SUBSTRING] [--fail-only]

Builds fixtures under --work (generated faces, a 1-epoch resnet_tiny run and its ONNX export, galleries,
~25 kinds of broken image), then runs each case and prints one row: case, command, exit code (or HTTP
status / exception type), the first line of stderr, PASS/FAIL. A case FAILs on a traceback, an exit code
outside {0, 1, 2} (CLI), a bad input that does not exit 2, an error of more than one stderr line, or an
output left half-written; the API must raise lrface.errors.UserError (not a leaked internal exception);
the service must answer a client mistake with a 4xx JSON {"error", "status"}, never 500. Exit code 1 when
any case fails. Fixtures are reused on the next run (delete --work to rebuild them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cases_api import api_cases
from .cases_files import image_cases, mixed_folder_cases, packed_cases, path_cases, special_file_cases
from .cases_http import http_cases
from .cases_integrity import metadata_cases, model_cases, served_model_cases
from .cases_interrupt import interrupt_cases
from .cases_own import own_cases
from .cases_runs import damage_cases, identity_cases, option_cases, run_dir_cases
from .cases_train import config_cases
from .fixtures import fixtures
from .runner import REPO, Sweep


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.fault_sweep", description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/tmp/lrface-faults", help="fixtures and scratch outputs (reused)")
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    ap.add_argument("--fail-only", action="store_true", help="list only the failing cases at the end")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    work = Path(a.work)
    t0 = time.time()
    F = fixtures(work)
    print(f"fixtures ready in {time.time() - t0:.0f} s under {work}")
    s = Sweep(work, a.only)
    for group in (
        image_cases,
        special_file_cases,
        run_dir_cases,
        mixed_folder_cases,
        packed_cases,
        path_cases,
        option_cases,
        identity_cases,
        damage_cases,
        config_cases,
        api_cases,
        model_cases,
        metadata_cases,
        http_cases,
        served_model_cases,
        interrupt_cases,
        own_cases,
    ):
        group(s, F)
    fails = [r for r in s.rows if not r.ok]
    print(f"\n{'case':36} {'code':>6}  first line / failure")
    for r in fails if a.fail_only else s.rows:
        print(f"{r.case[:36]:36} {r.code:>6}  {'FAIL ' + r.why + ': ' if not r.ok else ''}{r.first[:100]}")
    print(f"\n{len(s.rows)} cases, {len(fails)} FAIL, {time.time() - t0:.0f} s")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
