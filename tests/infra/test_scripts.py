"""The quick-start and CI scripts keep their promises."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.infra._processes import ROOT


@pytest.mark.slow
def test_the_test_command_fails_when_it_collects_no_tests():
    result = subprocess.run(
        [str(ROOT / "scripts" / "test"), "-q", "-k", "no_test_is_named_like_this_zzz"],
        cwd=ROOT,
        env={**os.environ, "CLINIC_IGNORE_DOTENV": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 5, result.stdout + result.stderr
    assert "no tests" in result.stderr


def test_the_scripts_are_executable_bash_with_strict_mode():
    for script in (
        "scripts/demo",
        "scripts/test",
        "scripts/backup",
        "scripts/restore",
        ".ci/run",
    ):
        path = ROOT / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        text = path.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script
        assert "set -euo pipefail" in text, script


def test_the_readme_quick_start_is_exactly_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line for line in quick_start.splitlines()[1:] if line.strip()]
    assert commands == ["./scripts/demo", "./scripts/test"]
