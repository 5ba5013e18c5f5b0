"""scripts/backup and scripts/restore: an encrypted backup restores into a new database with
every row, the key tables unchanged, the photos, and personal links that still open.

The PostgreSQL tests run the scripts as child processes with a production-like environment
(no CLINIC_TESTING, no .env), against the test database, which they commit to
(`transaction=True`), and a second database they create and drop.
"""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from psycopg import sql

from adverse_events.models import ReactionTerm
from adverse_events.vocabulary import load_terms
from clinic.management import backups
from clinic.management.backups import RestoreReport, backups_to_prune
from patients.links import link_issue
from patients.models import LinkPurpose, Patient
from tests.factories import PatientFactory, SubmissionPhotoFactory
from tests.infra._processes import ROOT, child_env, manage
from tests.requirements import require_postgres

KEY_TABLES = (
    "patients_patient",
    "patients_personallink",
    "treatments_productlot",
    "treatments_treatmentsession",
    "adverse_events_reactionreport",
)


def new_key() -> str:
    return secrets.token_urlsafe(32)


# --- refusals that need no database server --------------------------------------------------
def test_backup_refuses_to_run_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("BACKUP_KEY", raising=False)
    with pytest.raises(CommandError, match="BACKUP_KEY is not set"):
        call_command("backup", str(tmp_path / "out"), stdout=StringIO())
    assert not (tmp_path / "out").exists()


def test_backup_refuses_a_short_key(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKUP_KEY", "hunter2")
    with pytest.raises(CommandError, match="BACKUP_KEY is too short"):
        call_command("backup", str(tmp_path), stdout=StringIO())


def test_backup_of_the_sqlite_demo_says_to_copy_var(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKUP_KEY", new_key())
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    with pytest.raises(CommandError, match="backup is for PostgreSQL.*copy var/"):
        call_command("backup", str(tmp_path), stdout=StringIO())
    assert list(tmp_path.iterdir()) == []


def test_backup_asks_for_a_folder(monkeypatch):
    monkeypatch.setenv("BACKUP_KEY", new_key())
    monkeypatch.delenv("BACKUP_DIR", raising=False)
    with pytest.raises(CommandError, match="BACKUP_DIR"):
        call_command("backup", stdout=StringIO())


def test_the_scripts_have_a_help_that_needs_no_environment():
    for script, phrase in (("backup", "BACKUP_KEY"), ("restore", "empty")):
        result = subprocess.run(
            [str(ROOT / "scripts" / script), "--help"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert phrase in result.stdout


def nightly(days: int, *, until: datetime) -> list[str]:
    return [f"backup-{until - timedelta(days=n):%Y%m%dT%H%M%SZ}.tar.enc" for n in range(days)]


def test_retention_keeps_7_daily_4_weekly_and_12_monthly_backups():
    names = nightly(400, until=datetime(2026, 12, 7, 3, 0, 1, tzinfo=UTC))
    doomed = backups_to_prune(names, daily=7, weekly=4, monthly=12)
    kept = sorted(set(names) - set(doomed), reverse=True)
    assert kept[:7] == names[:7]  # the last week, night by night, the newest first
    # the newest of each of the last four ISO weeks (Monday 7 December 2026 and Sunday the
    # 6th are dailies already) ...
    assert "backup-20261129T030001Z.tar.enc" in kept
    assert "backup-20261122T030001Z.tar.enc" in kept
    assert "backup-20261115T030001Z.tar.enc" not in kept
    # ... and the newest of each of the last 12 months
    assert "backup-20261130T030001Z.tar.enc" in kept
    assert "backup-20260131T030001Z.tar.enc" in kept
    assert "backup-20251231T030001Z.tar.enc" not in kept
    assert len(kept) == 7 + 2 + 11  # a file kept for a day, a week and a month counts once


def test_retention_never_touches_other_files_and_keeps_a_fresh_folder_whole():
    names = [*nightly(3, until=datetime(2026, 12, 7, tzinfo=UTC)), "notes.txt"]
    names += [".backup-20200101T000000Z.tar.enc.partial", "backup-latest.tar.enc"]
    assert backups_to_prune(names, daily=7, weekly=4, monthly=12) == []
    assert backups_to_prune(names, daily=1, weekly=0, monthly=0) == names[1:3]


# --- PostgreSQL: the round trip -----------------------------------------------------------------
def pg_url(name: str) -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def pg_connect(name: str) -> psycopg.Connection:
    conn = psycopg.connect(pg_url(name), autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


@pytest.fixture
def new_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    require_postgres()
    name = f"clinic_restore_{uuid.uuid4().hex[:12]}"
    with pg_connect("postgres") as admin:
        # template0 takes no connections, so a busy template1 cannot make this fail.
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with pg_connect("postgres") as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


class Site:
    """One installation's environment: its database, data folder and secrets."""

    def __init__(self, tmp: Path, database: str, key: str) -> None:
        self.data = tmp / "data"
        self.temp = tmp / "tmp"  # TMPDIR: where the plain dump lives while it exists
        self.temp.mkdir(parents=True)
        self.env = child_env(
            SECRET_KEY=settings.SECRET_KEY,  # links are derived from it
            ALLOWED_HOSTS="clinic.example.org",
            EMAIL_URL="smtp+tls://clinic:secret@smtp.example.org:587",
            CELERY_BROKER_URL="redis://127.0.0.1:6379/0",  # must be valid; never contacted
            DATABASE_URL=pg_url(database),
            DATA_DIR=str(self.data),
            BACKUP_KEY=key,
            TMPDIR=str(self.temp),
        )

    @property
    def media(self) -> Path:
        return self.data / "private"

    def run(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ROOT / "scripts" / script), *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )


def counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return {
        t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
        for (t,) in tables
    }


def rows_digest(conn: psycopg.Connection, table: str) -> str:
    query = sql.SQL("SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {} t").format(
        sql.Identifier(table)
    )
    return conn.execute(query).fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_into_a_new_database_with_every_row_photo_and_link(
    tmp_path, new_database
):
    """GIVEN the seeded demo clinics, a patient's photo on disk and a fresh personal link
    WHEN the site is backed up and the backup restored into a new database and empty storage
    THEN every table has its rows, the key tables are identical, the photo is back byte for
    byte, and the patient's link resolves to the patient in the restored database."""
    require_postgres()
    if not ReactionTerm.objects.exists():  # transactional tests flush the vocabulary
        load_terms(ReactionTerm)
    call_command("seed_demo", "--force", "--scale", "0.1", stdout=StringIO())
    patient = Patient.objects.order_by("pk").first()
    link, token = link_issue(patient=patient, purpose=LinkPurpose.SESSION_REPORT)
    photo = SubmissionPhotoFactory(image="photos/ab/abcdef.jpg")
    SubmissionPhotoFactory()  # its file was lost before the backup: a warning, not a failure
    key = new_key()
    source = Site(tmp_path / "source", connection.settings_dict["NAME"], key)
    picture = secrets.token_bytes(20_000)
    (source.media / "photos" / "ab").mkdir(parents=True)
    (source.media / photo.image.name).write_bytes(picture)

    made = source.run("backup", str(tmp_path / "backups"))
    assert made.returncode == 0, made.stdout + made.stderr
    (backup,) = (tmp_path / "backups").iterdir()
    assert backup.name.startswith("backup-") and backup.name.endswith("Z.tar.enc")
    assert backup.stat().st_mode & 0o777 == 0o600
    head = backup.read_bytes()[:4096]
    assert head.startswith(b"Salted__")  # openssl's encrypted format, not a tar or a dump
    assert b"PGDMP" not in head and b"manifest.json" not in head
    assert list(source.temp.iterdir()) == []  # the plain dump is gone

    target = Site(tmp_path / "target", new_database, key)
    restored = target.run("restore", str(backup))
    output = restored.stdout + restored.stderr
    assert restored.returncode == 0, output
    assert "restore verified: PASS" in output and "FAIL" not in output
    assert "WARN  photos named by the database: 1 of 2 present (1 already missing" in output
    assert list(target.temp.iterdir()) == []

    with pg_connect(connection.settings_dict["NAME"]) as live, pg_connect(new_database) as copy:
        live_counts = counts(live)
        assert live_counts["patients_patient"] >= 20
        assert counts(copy) == live_counts
        for table in KEY_TABLES:
            assert rows_digest(copy, table) == rows_digest(live, table), table
    assert (target.media / photo.image.name).read_bytes() == picture

    resolve = (
        "from patients.links import link_resolve; "
        f"link = link_resolve({token!r}); print(link.patient.uuid if link else 'no link')"
    )
    resolved = manage("shell", "-c", resolve, env=target.env)
    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stdout.strip().splitlines()[-1] == str(patient.uuid)
    assert link.patient_id == patient.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_restore_refuses_live_data_a_wrong_key_and_a_damaged_file(tmp_path, new_database):
    """GIVEN a backup of a database with a patient
    WHEN it is restored over that (non-empty) database, into non-empty storage, with a wrong
    key, or from a damaged file
    THEN each is refused with a reason, exits non-zero and leaves the target untouched."""
    require_postgres()
    SubmissionPhotoFactory()  # its file was never written: lost before any backup
    live_name = connection.settings_dict["NAME"]
    key = new_key()
    source = Site(tmp_path / "source", live_name, key)
    folder = tmp_path / "backups"
    folder.mkdir()
    old = nightly(5, until=datetime(2020, 1, 5, 3, tzinfo=UTC))
    for name in [*old, "notes.txt"]:
        (folder / name).write_bytes(b"old")
    made = source.run(
        "backup", str(folder), "--prune", "--keep-daily=3", "--keep-weekly=0", "--keep-monthly=0"
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert made.stdout.count("pruned backup-2020") == 3
    assert "WARNING: 1 of 1 photos named by the database are not in" in made.stdout
    left = sorted(p.name for p in folder.iterdir())
    backup = folder / left[-2]  # names sort by time; notes.txt sorts last
    assert left == [old[1], old[0], backup.name, "notes.txt"]
    assert backup.name.startswith(f"backup-{datetime.now(UTC):%Y%m%d}")
    with pg_connect(live_name) as live:
        before = counts(live)

    over_live = source.run("restore", str(backup))
    assert over_live.returncode == 1
    assert f"database '{live_name}' is not empty" in over_live.stderr
    with pg_connect(live_name) as live:
        assert counts(live) == before

    target = Site(tmp_path / "target", new_database, key)
    target.media.mkdir(parents=True)
    (target.media / "someone-elses.jpg").write_bytes(b"x")
    busy_storage = target.run("restore", str(backup))
    assert busy_storage.returncode == 1
    assert "private media folder" in busy_storage.stderr and "not empty" in busy_storage.stderr
    (target.media / "someone-elses.jpg").unlink()

    wrong_key = target.run("restore", str(backup), BACKUP_KEY=new_key())
    assert wrong_key.returncode == 1
    assert "cannot decrypt" in wrong_key.stderr and "wrong BACKUP_KEY" in wrong_key.stderr

    damaged = tmp_path / "damaged.tar.enc"
    data = bytearray(backup.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    broken = target.run("restore", str(damaged))
    assert broken.returncode == 1
    assert "damaged" in broken.stderr

    # --check reads only the file: the off-site copy and the escrowed key, without a database
    checked = target.run("restore", "--check", str(backup))
    assert checked.returncode == 0, checked.stderr
    assert "file checked: PASS" in checked.stdout and "0 media files" in checked.stdout
    checked = target.run("restore", "--check", str(damaged))
    assert checked.returncode == 1 and "damaged" in checked.stderr

    with pg_connect(new_database) as copy:
        assert counts(copy) == {}
    assert list(target.media.iterdir()) == []
    assert list(target.temp.iterdir()) == []
    assert list(source.temp.iterdir()) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_verification_fails_on_a_changed_row_and_a_missing_photo(tmp_path):
    """GIVEN a manifest of the database and its media (what a backup records)
    WHEN a patient's name changes and a photo's file disappears
    THEN verification fails on exactly the patients' checksum and the photos, while the row
    counts still pass: a checksum catches what a count cannot."""
    require_postgres()
    PatientFactory.create_batch(3)
    photo = SubmissionPhotoFactory(image="photos/cd/cdef.jpg")
    root = tmp_path / "private"
    (root / "photos" / "cd").mkdir(parents=True)
    (root / photo.image.name).write_bytes(b"\xff\xd8 a jpeg")
    with backups.connect() as conn:
        manifest = backups.describe(conn, created=datetime.now(UTC))
    manifest["media"] = {"files": 1, "bytes": len(b"\xff\xd8 a jpeg")}

    report = RestoreReport(manifest=manifest, checks=backups.verify(manifest, root))
    assert report.ok, backups.format_report(report)

    with backups.connect() as conn:  # plain SQL: the ORM's read audit would add rows
        conn.execute(
            "UPDATE patients_patient SET first_name = 'X' "
            "WHERE id = (SELECT min(id) FROM patients_patient)"
        )
    (root / photo.image.name).unlink()
    report = RestoreReport(manifest=manifest, checks=backups.verify(manifest, root))
    failed = {c.name for c in report.checks if not c.ok}
    assert failed == {"checksum patients_patient", "media files", "photos named by the database"}
    assert not report.ok
    text = backups.format_report(report)
    assert "PASS  row counts" in text and "FAIL  checksum patients_patient" in text
    assert "photos named by the database: 0 of 1 present" in text
    assert text.endswith("restore verified: FAIL\n")
