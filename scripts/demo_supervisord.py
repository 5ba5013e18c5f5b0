"""Write the demo's supervisord configuration into DATA_DIR from its template; print its path.

scripts/demo runs it just before starting supervisord:

    DATA_DIR=var DEMO_PORT=8000 python scripts/demo_supervisord.py
    -> var/supervisor/supervisord.conf (mode 0600: it holds the control socket's password)

The template is scripts/supervisord.demo.conf.in. Values are escaped for supervisord's own
`%(name)s` expansion, so a path with a `%` in it stays that path.
"""

from __future__ import annotations

import os
import pwd
import secrets
import sys
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "scripts" / "supervisord.demo.conf.in"
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
        "USER": user or pwd.getpwuid(os.getuid()).pw_name,
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


def main() -> None:
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
    print(config)


if __name__ == "__main__":
    main()
