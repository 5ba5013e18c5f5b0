"""Start-up refuses bad configuration with a message naming the variable.

Each case starts `manage.py check` (or gunicorn) in a child process with a crafted
environment: no CLINIC_TESTING, no .env, so it sees what production would see.
"""

from __future__ import annotations

import re
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra._processes import ROOT, VENV_BIN, child_env, free_port, manage


def production_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    settings = {
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "ALLOWED_HOSTS": "clinic.example.org",
        "EMAIL_URL": "smtp+tls://clinic:secret@smtp.example.org:587",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'clinic.sqlite3'}",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "DATA_DIR": str(tmp_path / "data"),
    }
    return child_env(**{**settings, **overrides})


def assert_refused(result: subprocess.CompletedProcess, variable: str, *phrases: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"ImproperlyConfigured: {variable}:" in output, output
    for phrase in phrases:
        assert phrase in output, output


def test_a_production_environment_starts(tmp_path):
    result = manage("check", env=production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_finds_nothing_to_warn_about(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    "url, phrase",
    [
        ("mysql://clinic@db/clinic", "unsupported scheme 'mysql'"),
        ("definitely not a url", "unsupported scheme '(none)'"),
        ("postgres://clinic@db:5432/", "needs a database name"),
        ("postgres://clinic@db:notaport/clinic", "cannot be parsed"),
    ],
)
def test_it_refuses_a_bad_database_url(tmp_path, url, phrase):
    result = manage("check", env=production_env(tmp_path, DATABASE_URL=url))
    assert_refused(result, "DATABASE_URL", phrase)


def test_it_refuses_to_start_without_a_secret_key_outside_the_demo(tmp_path):
    result = manage("check", env=production_env(tmp_path, SECRET_KEY=None))
    assert_refused(result, "SECRET_KEY", "required outside DEMO_MODE")


def test_it_refuses_a_short_secret_key(tmp_path):
    result = manage("check", env=production_env(tmp_path, SECRET_KEY="too-short"))
    assert_refused(result, "SECRET_KEY", "at least 50 characters")


def test_it_refuses_to_start_without_allowed_hosts_outside_the_demo(tmp_path):
    result = manage("check", env=production_env(tmp_path, ALLOWED_HOSTS=None))
    assert_refused(result, "ALLOWED_HOSTS", "required")


def test_it_refuses_to_start_without_email_outside_the_demo(tmp_path):
    result = manage("check", env=production_env(tmp_path, EMAIL_URL=None))
    assert_refused(result, "EMAIL_URL", "required")


def test_it_refuses_an_unknown_broker(tmp_path):
    result = manage("check", env=production_env(tmp_path, CELERY_BROKER_URL="amqp://x"))
    assert_refused(result, "CELERY_BROKER_URL", "redis://")


def test_the_demo_refuses_a_public_host_name(tmp_path):
    env = child_env(
        DEMO_MODE="true", ALLOWED_HOSTS="localhost,clinic.example.org", DATA_DIR=str(tmp_path)
    )
    result = manage("check", env=env)
    assert_refused(result, "DEMO_MODE", "loopback only", "clinic.example.org")


def test_the_demo_starts_with_no_configuration_at_all(tmp_path):
    result = manage("check", env=child_env(DEMO_MODE="true", DATA_DIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "broker" / "queue").is_dir()
    assert (tmp_path / "broker" / "control").is_dir()


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "192.0.2.10", ""])
def test_the_demo_web_server_refuses_to_bind_a_public_address(tmp_path, host):
    port = free_port()
    result = subprocess.run(
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"{host}:{port}",
            "clinic.wsgi",
        ],
        cwd=ROOT,
        env=child_env(DEMO_MODE="true", DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DEMO_MODE is on" in result.stderr
    assert "loopback only" in result.stderr


def test_the_loopback_check_knows_loopback_from_the_rest():
    sys.path.insert(0, str(ROOT))
    import importlib.util

    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    for address in ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.0.2:1", "unix:/x"]:
        assert conf.is_loopback_bind(address), address
    for address in ["0.0.0.0:8000", "[::]:8000", ":8000", "example.org:80", "fd://3"]:
        assert not conf.is_loopback_bind(address), address


def env_example(tmp_path: Path) -> dict[str, str]:
    """The variables .env.example sets, as an operator who copied it would have them."""
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    # Only the folders move to this test's temporary place.
    values.update(DATA_DIR=str(tmp_path / "data"), PRIVATE_MEDIA_ROOT=str(tmp_path / "private"))
    return values


def test_the_example_env_file_refuses_to_start_until_a_secret_is_set(tmp_path):
    result = manage("check", env=child_env(**env_example(tmp_path)))
    assert_refused(result, "SECRET_KEY", "required")


def test_the_example_env_file_with_a_secret_passes_the_deploy_check(tmp_path):
    values = env_example(tmp_path)
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=child_env(**values))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


# --- .env.example documents every variable -----------------------------------------------------
_ENV_READS = re.compile(
    r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']"""
    r"""|os\.environ(?:\.get)?[\[(]\s*["']([A-Z][A-Z0-9_]+)["']"""
    r"""|["']([A-Z][A-Z0-9_]+)["']\s+in\s+os\.environ"""
)
_READERS = ["clinic/settings.py", "clinic/celery.py", "gunicorn.conf.py"]
# Names read from the environment that are not the app's configuration.
_NOT_CONFIGURATION = {"DJANGO_SETTINGS_MODULE"}


def variables_read() -> set[str]:
    names: set[str] = set()
    for reader in _READERS:
        for match in _ENV_READS.finditer((ROOT / reader).read_text()):
            names.add(next(group for group in match.groups() if group))
    return names - _NOT_CONFIGURATION


def test_env_example_documents_every_variable_the_app_reads():
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    read = variables_read()
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "DEMO_MODE"} <= read
    assert read - documented == set(), "add these to .env.example"
