"""The demo's supervisord configuration, as scripts/demo generates it, says what the demo needs.

Read back with supervisord's own parser: web, worker and beat restart when they die, every
program is stopped with its whole process group, the readiness announcer runs once, output
goes to the terminal, and supervisord's own files stay inside DATA_DIR.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from tests.infra._processes import ROOT, child_env

RENDER = ROOT / "scripts" / "demo_supervisord.py"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A data folder whose socket path fits a unix socket's 108 bytes, however deep pytest's
    own tmp_path is (xdist workers and long test names make it deeper)."""
    folder = Path(tempfile.mkdtemp(prefix="sv", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def generate(data_dir: Path, port: str = "8123") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(RENDER), "write"],
        env=child_env(DATA_DIR=str(data_dir), DEMO_PORT=port),
        capture_output=True,
        text=True,
        timeout=60,
    )


def parsed(config: Path) -> ServerOptions:
    options = ServerOptions()
    options.configfile = str(config)
    options.process_config(do_usage=False)
    return options


def programs(options: ServerOptions) -> dict:
    return {
        process.name: process
        for group in options.process_group_configs
        for process in group.process_configs
    }


def test_web_worker_and_beat_restart_and_every_file_stays_in_the_data_folder(short_dir):
    data_dir = short_dir / "demo 100%"  # a space and a percent sign survive
    result = generate(data_dir)
    assert result.returncode == 0, result.stderr
    config = Path(result.stdout.strip())
    assert config == data_dir / "supervisor" / "supervisord.conf"
    assert config.stat().st_mode & 0o777 == 0o600  # it holds the control socket's password

    options = parsed(config)
    inside = str(data_dir / "supervisor")
    assert options.nodaemon is True
    assert options.logfile.startswith(inside) and options.pidfile.startswith(inside)
    sockets = [server["file"] for server in options.configroot.supervisord.server_configs]
    assert len(sockets) == 1 and sockets[0].startswith(inside)

    found = programs(options)
    assert set(found) == {"web", "worker", "beat", "ready"}
    assert "--bind 127.0.0.1:8123" in found["web"].command
    assert "celery -A clinic worker" in found["worker"].command
    assert "celery -A clinic beat" in found["beat"].command
    for name in ("web", "worker", "beat"):
        assert found[name].autorestart is RestartUnconditionally, name
        assert found[name].startretries >= 3, name
    assert found["ready"].autorestart is False
    assert found["ready"].exitcodes == [0]
    for name, program in found.items():
        assert program.stopasgroup and program.killasgroup, name
        assert program.stdout_logfile == "/dev/stdout", name
        assert program.stdout_logfile_maxbytes == 0, name
        assert program.redirect_stderr, name
        assert program.directory == str(ROOT), name


def test_a_data_folder_too_deep_for_a_unix_socket_still_starts_without_one(tmp_path):
    data_dir = tmp_path / ("deep" * 30)
    result = generate(data_dir)
    assert result.returncode == 0, result.stderr
    options = parsed(Path(result.stdout.strip()))
    assert options.configroot.supervisord.server_configs == []
    assert set(programs(options)) == {"web", "worker", "beat", "ready"}


@pytest.mark.parametrize("port", ["eighty", "0", "70000"])
def test_a_bad_port_is_refused_naming_it(tmp_path, port):
    result = generate(tmp_path / "data", port=port)
    assert result.returncode != 0
    assert "PORT" in result.stderr
    assert not (tmp_path / "data" / "supervisor" / "supervisord.conf").exists()


def test_the_configuration_is_rewritten_with_a_new_password_each_start(short_dir):
    first = Path(generate(short_dir / "data").stdout.strip()).read_text()
    second = Path(generate(short_dir / "data").stdout.strip()).read_text()
    passwords = [
        [line for line in text.splitlines() if line.startswith("password=")]
        for text in (first, second)
    ]
    assert passwords[0] and passwords[1] and passwords[0] != passwords[1]
