"""The demo's supervisor (supervisord): web, worker and beat start together, a killed worker
or beat comes back while the site keeps answering, and Ctrl-C stops everything.

GIVEN `scripts/demo --no-setup` (the run step, without installing or seeding) on a free port
WHEN  the health probe answers and the supervisor then gets SIGINT (what Ctrl-C sends)
THEN  it exits, and not one of the processes it started is left running.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import signal
import subprocess
import termios
import threading
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
        assert "received SIGINT indicating exit request" in log
        assert f"http://127.0.0.1:{port}/" in log
    finally:
        stop([supervisor], grace=1)
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def program_pids(supervisor_pid: int, program: str) -> set[int]:
    """The supervisor's live children whose command line runs `program`."""
    return {
        pid for pid in descendants(supervisor_pid) if program in command_line(pid) and alive(pid)
    }


class SitePoller:
    """Requests the health page every 0.2 s in a thread and keeps every answer (or error)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.answers: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        url = f"http://127.0.0.1:{self.port}/accounts/healthz/"
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    self.answers.append(str(response.status))
            except OSError as exc:
                self.answers.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(0.2)

    def __enter__(self) -> SitePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.mark.fault
def test_a_killed_worker_or_beat_comes_back_and_the_site_never_stops_answering(tmp_path):
    """GIVEN the demo running (web, worker, beat under supervisord)
    WHEN  the worker is killed with SIGKILL, and then beat is
    THEN  each is started again (a new process with the same command line, within 60 s), the
          web server answers every request in the meantime, and the rest keep their pids."""
    port = free_port()
    data_dir = tmp_path / "data"
    log_path = tmp_path / "demo.log"
    env = demo_env(data_dir, PORT=str(port))
    supervisor = start([str(ROOT / "scripts" / "demo"), "--no-setup"], env=env, log=log_path)
    seen: set[int] = set()

    def log() -> str:
        return log_path.read_text(errors="replace")

    try:
        up = wait_for(lambda: healthy(port) or supervisor.poll() is not None, timeout=90)
        assert up and supervisor.poll() is None, log()
        assert wait_for(lambda: "celery@" in log() and "beat: Starting" in log(), timeout=60)
        web = program_pids(supervisor.pid, "gunicorn")
        assert web, log()

        with SitePoller(port) as site:
            for program in ("celery -A clinic worker", "celery -A clinic beat"):
                (victim,) = program_pids(supervisor.pid, program)
                seen |= descendants(supervisor.pid)
                os.kill(victim, signal.SIGKILL)

                def replaced(program=program, victim=victim) -> bool:
                    pids = program_pids(supervisor.pid, program)
                    return len(pids) == 1 and victim not in pids

                assert wait_for(replaced, timeout=60), log()
                seen |= descendants(supervisor.pid)
                assert "(terminated by SIGKILL; not expected)" in log()
            # Each new process stayed up (supervisord counts it as running after startsecs)...
            for name in ("worker", "beat"):
                running = f"success: {name} entered RUNNING state"
                assert wait_for(lambda running=running: log().count(running) >= 2, timeout=60)
            # ...and the new worker connects to the broker again and says so.
            assert wait_for(lambda: len(re.findall(r"celery@\S+ ready\.", log())) >= 2, timeout=60)
            answered_before_stop = len(site.answers)

        assert supervisor.poll() is None, log()
        assert answered_before_stop >= 5, site.answers
        assert set(site.answers) == {"200"}, site.answers
        assert program_pids(supervisor.pid, "gunicorn") == web  # the web server never restarted
        assert log().count("spawned: 'web'") == 1
    finally:
        seen |= descendants(supervisor.pid)
        if supervisor.poll() is None:
            os.kill(supervisor.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                supervisor.wait(timeout=40)
        stop([supervisor], grace=1)
        for pid in seen:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not [command_line(pid) for pid in seen if alive(pid)]


def test_closing_the_terminal_stops_the_whole_demo_and_leaves_no_process(tmp_path):
    """GIVEN the demo started in a terminal (a pseudo-terminal it controls)
    WHEN  the terminal window closes (its master side is closed: SIGHUP, then EIO on output)
    THEN  the demo stops every process it started, as Ctrl-C does; none keeps the port."""
    port = free_port()
    env = demo_env(tmp_path / "data", PORT=str(port))
    controller, terminal = pty.openpty()

    def take_the_terminal() -> None:  # after setsid: the pty becomes the controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo"), "--no-setup"],
        cwd=ROOT,
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=take_the_terminal,
    )
    os.close(terminal)
    output = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        assert wait_for(lambda: healthy(port) or demo.poll() is not None, timeout=90), output
        assert wait_for(lambda: b"is running at" in output, timeout=60), bytes(output)
        started = descendants(demo.pid)
        names = " ".join(command_line(pid) for pid in started)
        programs = ("supervisord", "gunicorn", "celery -A clinic worker", "celery -A clinic beat")
        for program in programs:
            assert program in names, names

        os.close(controller)  # the window closes
        controller = -1
        demo.wait(timeout=40)
        assert wait_for(lambda: not any(alive(pid) for pid in started), timeout=10), [
            command_line(pid) for pid in started if alive(pid)
        ]
        assert not port_open(port)
        log = (tmp_path / "data" / "supervisor" / "supervisord.log").read_text()
        assert "received SIGTERM indicating exit request" in log, log
        assert "stopped: web" in log and "stopped: worker" in log, log
    finally:
        if controller != -1:
            os.close(controller)
        stop([demo], grace=1)
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_demo_setup_refuses_unknown_arguments():
    result = subprocess.run(
        [str(ROOT / "scripts" / "demo"), "--frobnicate"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unknown argument" in result.stderr
