"""What a user installs: `edgectl --version` names the installed edge-labeler."""

import re

import pytest

from components.cli import main

ROOT_VERSION = re.compile(r"^edgectl \d+\.\d+\.\d+$")


def test_edgectl_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert ROOT_VERSION.match(capsys.readouterr().out.strip())
