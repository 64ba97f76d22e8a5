"""`lrface --help` and each command's help list the exit codes (and the extra a command needs)."""

from __future__ import annotations

import pytest

from lrface.cli import main


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_exit_codes_in_help(capsys):
    text = help_text(capsys)
    assert "exit status:" in text and "1 verify: different people" in text and "130 interrupted" in text
    assert "1 different people, 2 bad input" in help_text(capsys, "verify")
    assert "Exit status: 0 success, 2 bad input" in help_text(capsys, "identify")
    assert "Needs the [train] extra: pip install 'lrface[train]'" in help_text(capsys, "train")
