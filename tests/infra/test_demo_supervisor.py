"""The demo's supervisor: web, worker and beat start together and stop together on Ctrl-C.

GIVEN `scripts/demo --no-setup` (the run step, without installing or seeding) on a free port
WHEN  the health probe answers and the supervisor then gets SIGINT (what Ctrl-C sends)
THEN  it exits, and not one of the processes it started is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request

import pytest

from tests.infra._processes import (
    ROOT,
    alive,
    command_line,
    demo_env,
    descendants,
    free_port,
    port_open,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.slow


def healthy(port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{port}/accounts/healthz/"
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_ctrl_c_stops_the_whole_demo_and_leaves_no_process(tmp_path):
    port = free_port()
    env = demo_env(tmp_path / "data", PORT=str(port))
    supervisor = start(
        [str(ROOT / "scripts" / "demo"), "--no-setup"], env=env, log=tmp_path / "demo.log"
    )
    started: set[int] = set()
    try:
        up = wait_for(lambda: healthy(port) or supervisor.poll() is not None, timeout=90)
        log = (tmp_path / "demo.log").read_text(errors="replace")
        assert up and supervisor.poll() is None, log
        assert wait_for(lambda: "celery@" in (tmp_path / "demo.log").read_text(), timeout=30)

        started = descendants(supervisor.pid)
        names = " ".join(command_line(pid) for pid in started)
        for program in ("gunicorn", "celery -A clinic worker", "celery -A clinic beat"):
            assert program in names, names

        os.kill(supervisor.pid, signal.SIGINT)
        supervisor.wait(timeout=30)
        log = (tmp_path / "demo.log").read_text(errors="replace")

        assert wait_for(lambda: not any(alive(pid) for pid in started), timeout=5), [
            command_line(pid) for pid in started if alive(pid)
        ]
        assert not port_open(port)
        assert "SIGINT received" in log
        assert f"http://127.0.0.1:{port}/" in log
    finally:
        stop([supervisor], grace=1)
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_demo_setup_refuses_unknown_arguments():
    result = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--frobnicate"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unknown argument" in result.stderr
