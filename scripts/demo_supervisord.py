"""Run the demo's processes under supervisord, or only write its configuration.

    python scripts/demo_supervisord.py run     what scripts/demo runs last (exec)
    python scripts/demo_supervisord.py write   only write the configuration; print its path

Both read DATA_DIR and DEMO_PORT and write $DATA_DIR/supervisor/supervisord.conf (mode 0600:
it holds the control socket's password) from the template scripts/supervisord.demo.conf.in.
Values are escaped for supervisord's own `%(name)s` expansion, so a path with a `%` stays that
path.

`run` keeps supervisord away from the terminal. supervisord runs in its own session and writes
into a pipe that this process copies to the terminal, and this process turns what the terminal
sends into a stop: Ctrl-C (SIGINT), SIGTERM and a closed terminal window (SIGHUP, or output that
can no longer be written) all stop every program and then supervisord. Left to itself,
supervisord treats SIGHUP as "reload" and dies writing to a terminal that is gone, leaving the
web server, worker and beat running without it. If this process is killed outright, the
kernel sends supervisord SIGTERM (Linux: PR_SET_PDEATHSIG), which stops them too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "scripts" / "supervisord.demo.conf.in"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# A unix socket's path must fit in sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100

CONTROL_SOCKET = """\
; supervisorctl talks to this socket (`supervisorctl -c <this file> status`, `... restart
; worker`); only this user may open it, with the password below (new at every start).
[unix_http_server]
file=${SOCKET}
chmod=0700
username=demo
password=${PASSWORD}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://${SOCKET}
username=demo
password=${PASSWORD}
"""


def _escape(value: str) -> str:
    return value.replace("%", "%%")


def _current_user() -> str:
    """This user's name, or the uid where it has none (a container without a passwd entry).

    supervisord runs as whoever starts it; naming that user only silences its warning."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def render(
    *,
    data_dir: Path,
    port: int,
    venv_bin: Path,
    root: Path = ROOT,
    user: str | None = None,
    password: str | None = None,
) -> str:
    """The configuration text for these paths and this port."""
    if not 0 < port < 65536:
        raise ValueError(f"DEMO_PORT must be a port number (1-65535), not {port}")
    supervisor_dir = data_dir / "supervisor"
    socket = supervisor_dir / "supervisor.sock"
    values = {
        "ROOT": str(root),
        "DATA_DIR": str(data_dir),
        "SUPERVISOR_DIR": str(supervisor_dir),
        "CONFIG": str(supervisor_dir / "supervisord.conf"),
        "SOCKET": str(socket),
        "DEMO_PORT": str(port),
        "VENV_BIN": str(venv_bin),
        "USER": user or _current_user(),
        "PASSWORD": password or secrets.token_hex(16),
    }
    escaped = {key: _escape(value) for key, value in values.items()}
    if len(str(socket).encode()) <= MAX_SOCKET_PATH:
        control = Template(CONTROL_SOCKET).substitute(escaped)
    else:
        # supervisord would refuse to start; run without supervisorctl instead.
        control = f"; No control socket: its path would be too long for a unix socket ({socket}).\n"
    escaped["CONTROL_SOCKET"] = control
    return Template(TEMPLATE.read_text()).substitute(escaped)


def write_config() -> Path:
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / "var")).resolve()
    port_text = os.environ.get("DEMO_PORT", "8000")
    try:
        port = int(port_text)
    except ValueError:
        sys.exit(f"scripts/demo: PORT must be a number, not {port_text!r}")
    venv_bin = Path(sys.executable).parent
    try:
        text = render(data_dir=data_dir, port=port, venv_bin=venv_bin)
    except ValueError as exc:
        sys.exit(f"scripts/demo: {exc}")
    supervisor_dir = data_dir / "supervisor"
    supervisor_dir.mkdir(parents=True, exist_ok=True)
    config = supervisor_dir / "supervisord.conf"
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
    os.chmod(config, 0o600)  # an older copy may have been created with other permissions
    return config


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, however it dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run(config: Path) -> int:
    supervisord = subprocess.Popen(
        [str(Path(sys.executable).parent / "supervisord"), "-c", str(config)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # no terminal signal reaches it but through `forward`
        preexec_fn=_stop_with_parent,  # this process starts no thread
    )

    def forward(signum: int, _frame) -> None:
        # Ctrl-C stays SIGINT (supervisord logs it as such); anything else is a stop, never a
        # reload.
        with contextlib.suppress(ProcessLookupError):
            supervisord.send_signal(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)

    # Copy until every program and supervisord have closed the pipe (they all write into it).
    pipe = supervisord.stdout.fileno()
    terminal = sys.stdout.fileno()
    terminal_gone = False
    while chunk := os.read(pipe, 65536):
        if terminal_gone:
            continue  # keep draining, so that nobody blocks on a full pipe while stopping
        try:
            os.write(terminal, chunk)
        except OSError:  # EIO (terminal closed) or EPIPE (reader gone): nobody is watching
            terminal_gone = True
            forward(signal.SIGTERM, None)
    return supervisord.wait()


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "write"
    if command == "write":
        print(write_config())
    elif command == "run":
        sys.exit(run(write_config()))
    else:
        sys.exit(f"usage: {sys.argv[0]} [write|run]")


if __name__ == "__main__":
    main()
