"""The torch-free core: import-linter's contracts (pyproject.toml) hold, and a planted violation breaks them;
a command whose extra is missing stops with one line naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("importlinter")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    return subprocess.run(
        [*cmd, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_a_lazy_torch_import_in_serving_breaks_the_contract(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "lrface", tmp_path / "lrface", ignore=shutil.ignore_patterns("*.onnx", "__pycache__"))
    planted = tmp_path / "lrface" / "api" / "results.py"
    planted.write_text(planted.read_text() + "\n\ndef _planted():\n    import torch  # noqa: F401\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "lrface.api is not allowed to import torch" in done.stdout, done.stdout[-2000:]


def test_missing_extra_is_one_line(monkeypatch, capsys, tmp_path):
    from lrface import cli, extras

    monkeypatch.setitem(extras.EXTRAS, "train", ("lrface_no_such_module",))
    rc = cli.main(["export", "--onnx", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "lrface export: error: this command needs the [train] extra (lrface_no_such_module is not installed)" in err
    assert "pip install 'lrface[train]'" in err
