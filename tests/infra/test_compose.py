"""docker-compose.yml describes a production stack that would start and stay healthy.

No Docker engine runs here; Debian's docker-compose (v1) still parses and validates the file
against the compose specification with `config`. `.ci/run` installs it under CI=true.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.infra._processes import ROOT
from tests.requirements import missing

SERVICES = {"postgres", "redis", "web", "worker", "beat"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def redis_options(service: dict) -> dict[str, str]:
    command = service["command"]
    words = command.split() if isinstance(command, str) else [str(word) for word in command]
    return {
        words[i].lstrip("-"): words[i + 1]
        for i in range(len(words) - 1)
        if words[i].startswith("--")
    }


def test_docker_compose_accepts_the_file(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        missing("docker-compose is not installed (apt-get install -y docker-compose)")
    for name in ("docker-compose.yml", "Dockerfile", "gunicorn.conf.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    # The operator's .env is made from .env.example; compose needs it to exist.
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [
            binary,
            "--project-directory",
            str(tmp_path),
            "-f",
            str(tmp_path / "docker-compose.yml"),
            "config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == SERVICES
    # The shared app block reached every app service with the .env values.
    for name in ("web", "worker", "beat"):
        assert resolved["services"][name]["environment"]["DATA_DIR"] == "/data"
        assert resolved["services"][name]["environment"]["DEMO_MODE"] == "false"


def test_the_stack_has_the_five_services(compose):
    assert set(compose["services"]) == SERVICES


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_stateful_services_keep_their_data_in_named_volumes(compose):
    volumes = set(compose["volumes"])
    for name, path in [
        ("postgres", "/var/lib/postgresql/data"),
        ("redis", "/data"),
        ("web", "/data"),
        ("worker", "/data"),
        ("beat", "/data"),
    ]:
        mounts = [str(m) for m in compose["services"][name].get("volumes", [])]
        named = [m for m in mounts if m.split(":")[0] in volumes and m.split(":")[1] == path]
        assert named, f"{name} keeps {path} in no named volume: {mounts}"


def test_redis_keeps_queued_tasks(compose):
    options = redis_options(compose["services"]["redis"])
    assert options.get("appendonly") == "yes"
    assert options.get("maxmemory-policy") == "noeviction"


def test_the_web_healthcheck_hits_the_liveness_probe(compose):
    test = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "healthcheck.py web" in test
    assert "/healthz/live" in (ROOT / "scripts" / "healthcheck.py").read_text()


def test_the_beat_healthcheck_runs_the_readiness_checks(compose):
    test = " ".join(compose["services"]["beat"]["healthcheck"]["test"])
    assert "healthcheck.py beat" in test
    script = (ROOT / "scripts" / "healthcheck.py").read_text()
    assert "from clinic.health import readiness" in script


def test_web_and_worker_write_their_metrics_to_folders_web_reads(compose):
    for name in ("web", "worker"):
        command = " ".join(compose["services"][name]["command"])
        assert f"PROMETHEUS_MULTIPROC_DIR=/data/metrics/{name}" in command, name
    env_example = (ROOT / ".env.example").read_text()
    assert "METRICS_READ_DIRS=/data/metrics/web,/data/metrics/worker" in env_example


def test_the_app_services_read_the_env_file_and_never_demo(compose):
    for name in ("web", "worker", "beat"):
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        assert "DEMO_MODE" not in service.get("environment", {})


def test_the_image_installs_from_the_lock_file():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --locked" in dockerfile
    assert "COPY pyproject.toml uv.lock" in dockerfile
