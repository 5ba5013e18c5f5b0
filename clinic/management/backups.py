"""Encrypted backups of the PostgreSQL database and the private media, and their restore.

A backup is one file, `backup-<UTC timestamp>.tar.enc`: an `openssl enc -aes-256-cbc -pbkdf2`
stream (key from BACKUP_KEY) around an uncompressed tar of

    manifest.json    when, which code, which migrations, every table's row count, checksums
    database.dump    `pg_dump -Fc` of the database
    media.tar        the private media folder (patients' photos)

The dump and the manifest read one snapshot: a REPEATABLE READ transaction exports its
snapshot and `pg_dump --snapshot` uses it, so the counts and checksums describe exactly the
rows in the dump, however busy the clinic is. The media are archived after the snapshot, and a
photo's file is written before its row commits, so every photo the dump names is in the tar.

Backups hold patient data: nothing runs without a key, and the plain dump is only ever written
to a private temporary folder (mode 0700) that is removed afterwards, on failure too.

docs/operations.md says how to schedule, keep, test and restore backups.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from django.apps import apps
from django.conf import settings
from django.db import models
from psycopg import sql

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
MEDIA = "media.tar"
MIN_KEY_LENGTH = 32
# openssl's key derivation: PBKDF2-SHA256, 200,000 rounds, a random salt in the file header.
OPENSSL_CIPHER = ["-aes-256-cbc", "-pbkdf2", "-iter", "200000", "-md", "sha256"]

# The records a clinic cannot lose: their rows are hashed, not only counted.
KEY_MODELS = (
    "patients.Patient",
    "patients.PersonalLink",
    "treatments.ProductLot",
    "treatments.TreatmentSession",
    "treatments.CheckIn",
    "adverse_events.Submission",
    "adverse_events.SubmissionPhoto",
    "adverse_events.ReactionReport",
    "adverse_events.Assessment",
)

# Row text depends on these session settings; fixing them makes a checksum comparable
# between the live database and its restored copy, whoever runs the check.
STABLE_OUTPUT = (
    "SET TIME ZONE 'UTC'",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET extra_float_digits = 1",
    "SET bytea_output = 'hex'",
)


class BackupError(Exception):
    """A refusal or failure to report to the operator (never carries patient data)."""


# --- configuration ----------------------------------------------------------------------------
def require_postgres() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise BackupError(
            "backup is for PostgreSQL; the database here is SQLite (the demo). For the demo, "
            "stop it and copy var/ (DATA_DIR) instead."
        )


def require_key() -> None:
    key = os.environ.get("BACKUP_KEY", "")
    if not key:
        raise BackupError(
            "BACKUP_KEY is not set. Backups hold patient data and are always encrypted: set "
            "BACKUP_KEY to the key from your secret store (new key: openssl rand -base64 32)."
        )
    if len(key) < MIN_KEY_LENGTH:
        raise BackupError(
            f"BACKUP_KEY is too short ({len(key)} characters); use at least {MIN_KEY_LENGTH}, "
            "e.g. openssl rand -base64 32."
        )


def media_root() -> Path:
    """The private media folder; refuses storages that are not the local filesystem."""
    backend = settings.STORAGES["default"]["BACKEND"]
    if backend != "django.core.files.storage.FileSystemStorage":
        raise BackupError(
            f"the file storage is {backend}, not the local filesystem; backing up an S3 "
            "bucket (its object listing) waits for a later issue."
        )
    return Path(settings.PRIVATE_MEDIA_ROOT)


def libpq_env() -> dict[str, str]:
    """The database as libpq environment variables, so no password appears in argv."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.pop("BACKUP_KEY", None)  # only openssl needs it
    for var, key in (
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
        ("PGDATABASE", "NAME"),
    ):
        if db.get(key):
            env[var] = str(db[key])
    return env


def connect() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    try:
        connection = psycopg.connect(
            connect_timeout=10, **{k: v for k, v in params.items() if v is not None}
        )
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0]
        hint = " (create it first: createdb)" if "does not exist" in first else ""
        raise BackupError(f"cannot connect to database {db['NAME']!r}: {first}{hint}") from exc
    for statement in STABLE_OUTPUT:
        connection.execute(statement)
    connection.commit()
    return connection


# --- what the manifest records ------------------------------------------------------------------
def public_tables(connection: psycopg.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows]


def row_counts(connection: psycopg.Connection) -> dict[str, int]:
    counts = {}
    for table in public_tables(connection):
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        counts[table] = connection.execute(query).fetchone()[0]
    return counts


def key_tables() -> dict[str, str]:
    """Table name -> primary key column of the key models."""
    tables = {}
    for label in KEY_MODELS:
        model = apps.get_model(label)
        tables[model._meta.db_table] = model._meta.pk.column
    return tables


def table_checksum(connection: psycopg.Connection, table: str, pk: str) -> str:
    """SHA-256 over every row's full text in primary-key order (an md5 per row keeps the
    aggregate small); any changed, missing or extra row changes it."""
    query = sql.SQL(
        "SELECT encode(sha256(convert_to(coalesce("
        "string_agg(md5(t::text), '' ORDER BY t.{pk}), ''), 'UTF8')), 'hex') FROM {table} t"
    ).format(pk=sql.Identifier(pk), table=sql.Identifier(table))
    return connection.execute(query).fetchone()[0]


def checksums(connection: psycopg.Connection) -> dict[str, str]:
    return {table: table_checksum(connection, table, pk) for table, pk in key_tables().items()}


def applied_migrations(connection: psycopg.Connection) -> list[str]:
    rows = connection.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    return [f"{app}.{name}" for app, name in rows.fetchall()]


def secret_key_fingerprint() -> str:
    """Tells whether a restore runs under the same SECRET_KEY (personal links are derived
    from it) without revealing anything about the key."""
    return hmac.new(
        settings.SECRET_KEY.encode(), b"clinic-backup:secret-key-check", hashlib.sha256
    ).hexdigest()[:16]


def app_version() -> dict[str, str | None]:
    with open(settings.BASE_DIR / "pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    commit = os.environ.get("APP_GIT_COMMIT") or None
    if commit is None and shutil.which("git"):
        result = subprocess.run(
            ["git", "-C", str(settings.BASE_DIR), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        commit = result.stdout.strip() or None if result.returncode == 0 else None
    return {"version": version, "git_commit": commit}


def describe(connection: psycopg.Connection, *, created: datetime) -> dict[str, Any]:
    """The manifest's account of the database, as `connection` sees it."""
    return {
        "format": FORMAT,
        "created_at": created.isoformat(),
        "app": app_version(),
        "database": {
            "server_version": connection.execute("SHOW server_version").fetchone()[0],
        },
        "migrations": applied_migrations(connection),
        "tables": row_counts(connection),
        "checksums": checksums(connection),
        "secret_key_fingerprint": secret_key_fingerprint(),
    }


def media_files(root: Path) -> Iterator[Path]:
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                yield path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- private working folder ---------------------------------------------------------------------
@contextmanager
def private_workdir() -> Iterator[Path]:
    """A 0700 temporary folder for the plain dump, removed however the block ends."""
    path = Path(tempfile.mkdtemp(prefix="clinic-backup-"))
    try:
        path.chmod(0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-2000:]
        raise BackupError(f"{what} failed (exit {result.returncode}): {detail}")


# --- backup -------------------------------------------------------------------------------------
@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    size: int
    sha256: str


def backup_create(*, folder: Path, log: Callable[[str], None] = print) -> BackupResult:
    """Dump the database and the private media, with a manifest, into one encrypted file."""
    require_key()
    require_postgres()
    root = media_root()
    for tool in ("pg_dump", "openssl"):
        if shutil.which(tool) is None:
            raise BackupError(f"{tool} is not installed (apt-get install postgresql-client).")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = datetime.now(UTC)
    name = f"backup-{created:%Y%m%dT%H%M%SZ}.tar.enc"
    target = folder / name
    if target.exists():
        raise BackupError(f"{target} already exists.")

    with private_workdir() as work:
        connection = connect()
        try:
            # One snapshot for the dump and the manifest: they describe the same rows.
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            connection.read_only = True
            snapshot = connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
            log("dumping the database (pg_dump -Fc)")
            _run(
                ["pg_dump", "-Fc", f"--snapshot={snapshot}", "-f", str(work / DUMP)],
                "pg_dump",
                env=libpq_env(),
            )
            log("counting rows and hashing the key tables")
            manifest = describe(connection, created=created)
            referenced = _referenced_files(connection)
        finally:
            connection.close()

        log(f"archiving the private media ({root})")
        count = size = 0
        with tarfile.open(work / MEDIA, "w") as tar:
            for path in media_files(root):
                tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
                count += 1
                size += path.stat().st_size
        # A photo the database names but storage lacks is lost already; say so every night
        # (a wrong PRIVATE_MEDIA_ROOT shows here first) rather than at a restore.
        missing = sum(1 for name in referenced if not (root / name).is_file())
        if missing:
            log(
                f"WARNING: {missing} of {len(referenced)} photos named by the database are not "
                f"in {root}: check DATA_DIR / PRIVATE_MEDIA_ROOT"
            )
        manifest["media"] = {"files": count, "bytes": size, "photos_missing": missing}
        manifest["artifacts"] = {
            part: {"sha256": sha256_file(work / part), "bytes": (work / part).stat().st_size}
            for part in (DUMP, MEDIA)
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))

        log(f"encrypting into {target}")
        partial = target.with_name(f".{name}.partial")
        try:
            _encrypt(work, [MANIFEST, DUMP, MEDIA], partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(
        path=target, manifest=manifest, size=target.stat().st_size, sha256=sha256_file(target)
    )


def _encrypt(work: Path, names: list[str], out: Path) -> None:
    """Tar `names` straight into openssl: the plain archive never touches the disk."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as sink:
        process = subprocess.Popen(
            ["openssl", "enc", "-e", *OPENSSL_CIPHER, "-salt", "-pass", "env:BACKUP_KEY"],
            stdin=subprocess.PIPE,
            stdout=sink,
            stderr=subprocess.PIPE,
        )
        assert process.stdin is not None
        try:
            with tarfile.open(fileobj=process.stdin, mode="w|") as tar:
                for name in names:
                    tar.add(work / name, arcname=name)
        finally:
            process.stdin.close()
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            returncode = process.wait()
    if returncode != 0:
        raise BackupError(f"openssl enc failed (exit {returncode}): {stderr.strip()}")


# --- retention ----------------------------------------------------------------------------------
BACKUP_NAME = re.compile(r"^backup-(\d{8}T\d{6}Z)\.tar\.enc$")


def backups_to_prune(names: Iterable[str], *, daily: int, weekly: int, monthly: int) -> list[str]:
    """The backup files outside the retention policy: the newest backup of each of the last
    `daily` days, `weekly` ISO weeks and `monthly` months is kept (a file may count for all
    three). Names that are not `backup-<timestamp>.tar.enc` are never returned."""
    stamped = sorted(
        (
            (datetime.strptime(match[1], "%Y%m%dT%H%M%SZ"), name)
            for name in names
            if (match := BACKUP_NAME.match(name))
        ),
        reverse=True,
    )
    keep: set[str] = set()
    periods: list[tuple[int, Callable[[datetime], object]]] = [
        (daily, lambda t: t.date()),
        (weekly, lambda t: t.isocalendar()[:2]),
        (monthly, lambda t: (t.year, t.month)),
    ]
    for count, period in periods:
        seen: list[object] = []
        for stamp, name in stamped:
            if period(stamp) in seen:
                continue
            if len(seen) == count:
                break
            seen.append(period(stamp))
            keep.add(name)
    return [name for _, name in stamped if name not in keep]


def backup_prune(*, folder: Path, daily: int, weekly: int, monthly: int) -> list[Path]:
    """Delete the backups in `folder` that the retention policy no longer keeps."""
    if daily < 1:
        raise BackupError("--keep-daily must be at least 1 (the backup just made).")
    names = [p.name for p in folder.iterdir() if p.is_file()]
    doomed = [
        folder / name
        for name in backups_to_prune(names, daily=daily, weekly=weekly, monthly=monthly)
    ]
    for path in doomed:
        path.unlink()
    return doomed


# --- restore ------------------------------------------------------------------------------------
@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # when not ok: reported as WARN, does not fail the restore


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if not c.warning)


def restore_preflight() -> None:
    """Refuse anything but an empty database and empty storage (checked before decrypting)."""
    require_key()
    require_postgres()
    root = media_root()
    for tool in ("pg_restore", "openssl"):
        if shutil.which(tool) is None:
            raise BackupError(f"{tool} is not installed (apt-get install postgresql-client).")
    connection = connect()
    try:
        # Any table or view at all, not only the app's: someone else's data is live data too.
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()[0]
        name = settings.DATABASES["default"]["NAME"]
    finally:
        connection.close()
    if tables:
        raise BackupError(
            f"database {name!r} is not empty ({tables} tables in its public schema); "
            "restore only into a new, empty database (createdb <name>), never over live data."
        )
    if root.exists() and any(root.iterdir()):
        raise BackupError(
            f"the private media folder {root} is not empty; restore into empty storage "
            "(a new DATA_DIR or PRIVATE_MEDIA_ROOT)."
        )


def restore(*, file: Path, log: Callable[[str], None] = print) -> RestoreReport:
    """Restore `file` into the configured (empty) database and storage, then verify it."""
    if not file.is_file():
        raise BackupError(f"{file} is not a file.")
    restore_preflight()
    root = media_root()
    with private_workdir() as work:
        log(f"decrypting {file.name}")
        manifest = _unpack(file, work)

        log("restoring the database (pg_restore)")
        _run(
            [
                "pg_restore",
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                "-d",
                settings.DATABASES["default"]["NAME"],
                str(work / DUMP),
            ],
            "pg_restore",
            env=libpq_env(),
        )
        log(f"restoring the private media into {root}")
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(work / MEDIA) as tar:
            # The "data" filter refuses absolute paths, links out of the folder and devices.
            tar.extractall(root, filter="data")
    log("verifying")
    return RestoreReport(manifest=manifest, checks=verify(manifest, root))


def backup_check(*, file: Path) -> dict[str, Any]:
    """Decrypt `file` and check each part against its manifest; touches no database or
    storage (for off-site copies and the escrowed key). Returns the manifest."""
    require_key()
    if not file.is_file():
        raise BackupError(f"{file} is not a file.")
    with private_workdir() as work:
        return _unpack(file, work)


def _unpack(file: Path, work: Path) -> dict[str, Any]:
    """Decrypt into `work` and return the manifest once every part matches its checksum."""
    _decrypt(file, work)
    try:
        manifest = json.loads((work / MANIFEST).read_text())
    except ValueError as exc:
        raise BackupError("the manifest is unreadable: the file is damaged.") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}.")
    for name, expected in manifest["artifacts"].items():
        if sha256_file(work / name) != expected["sha256"]:
            raise BackupError(f"{name} does not match its checksum: the file is damaged.")
    return manifest


def _decrypt(file: Path, work: Path) -> None:
    with open(file, "rb") as source:
        process = subprocess.Popen(
            ["openssl", "enc", "-d", *OPENSSL_CIPHER, "-pass", "env:BACKUP_KEY"],
            stdin=source,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdout is not None
        unreadable = False
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|") as tar:
                for member in tar:
                    if member.name not in (MANIFEST, DUMP, MEDIA) or not member.isfile():
                        raise BackupError(f"unexpected entry {member.name!r} in the backup.")
                    tar.extract(member, work, filter="data")
        except (tarfile.TarError, EOFError):
            unreadable = True
        finally:
            process.stdout.close()
            returncode = process.wait()
    if returncode != 0 or unreadable:
        # A wrong key and a damaged file look alike to CBC: say both, quote nothing.
        raise BackupError(
            f"cannot decrypt {file.name}: wrong BACKUP_KEY, or the file is damaged or not a backup."
        )
    missing = [n for n in (MANIFEST, DUMP, MEDIA) if not (work / n).is_file()]
    if missing:
        raise BackupError(f"the backup is incomplete: {', '.join(missing)} missing.")


def verify(manifest: dict[str, Any], root: Path) -> list[Check]:
    """Compare the restored database and media with the manifest."""
    connection = connect()
    try:
        counts = row_counts(connection)
        sums = {
            table: table_checksum(connection, table, pk)
            for table, pk in key_tables().items()
            if table in manifest["checksums"]
        }
        migrations = applied_migrations(connection)
        referenced = _referenced_files(connection)
    finally:
        connection.close()
    checks = []

    expected = manifest["tables"]
    wrong = [
        f"{t}: {expected.get(t, 'absent')} in the backup, {counts.get(t, 'absent')} restored"
        for t in sorted(set(expected) | set(counts))
        if expected.get(t) != counts.get(t)
    ]
    rows = sum(expected.values())
    checks.append(
        Check("row counts", not wrong, "; ".join(wrong) or f"{len(expected)} tables, {rows} rows")
    )
    for table, checksum in sorted(manifest["checksums"].items()):
        got = sums.get(table)
        checks.append(
            Check(
                f"checksum {table}",
                got == checksum,
                f"{counts.get(table, 0)} rows"
                if got == checksum
                else f"expected {checksum[:12]}…, got {(got or 'no table')[:12]}…",
            )
        )
    checks.append(
        Check(
            "migrations",
            migrations == manifest["migrations"],
            f"{len(migrations)} applied"
            if migrations == manifest["migrations"]
            else f"{len(manifest['migrations'])} in the backup, {len(migrations)} restored",
        )
    )
    files = list(media_files(root))
    size = sum(p.stat().st_size for p in files)
    media = manifest["media"]
    checks.append(
        Check(
            "media files",
            (len(files), size) == (media["files"], media["bytes"]),
            f"{len(files)} files, {size} bytes (backup: {media['files']} files, "
            f"{media['bytes']} bytes)",
        )
    )
    absent = sum(1 for name in referenced if not (root / name).is_file())
    lost_before = media.get("photos_missing", 0)
    checks.append(
        Check(
            "photos named by the database",
            absent == 0,
            f"{len(referenced) - absent} of {len(referenced)} present"
            + (f" ({lost_before} already missing when the backup was made)" if absent else ""),
            # Missing at backup time: the restore cannot bring them back, nor is it to blame.
            warning=absent <= lost_before,
        )
    )
    same_key = manifest.get("secret_key_fingerprint") == secret_key_fingerprint()
    checks.append(
        Check(
            "SECRET_KEY",
            same_key,
            "same as the backup's: personal links and QR codes keep working"
            if same_key
            else "differs from the backup's: links already sent to patients will not open; "
            "set the SECRET_KEY the backed-up site ran with",
            warning=True,
        )
    )
    return checks


def _referenced_files(connection: psycopg.Connection) -> list[str]:
    """Every file name stored in a FileField column of the restored database."""
    names = []
    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if isinstance(f, models.FileField):
                query = sql.SQL("SELECT {col} FROM {table} WHERE {col} <> ''").format(
                    col=sql.Identifier(f.column), table=sql.Identifier(model._meta.db_table)
                )
                names.extend(name for (name,) in connection.execute(query).fetchall())
    return names


def format_report(report: RestoreReport) -> str:
    out = io.StringIO()
    made = report.manifest["created_at"]
    app = report.manifest["app"]
    out.write(f"backup of {made} (app {app['version']}, commit {app['git_commit'] or '?'})\n")
    for check in report.checks:
        mark = "PASS" if check.ok else ("WARN" if check.warning else "FAIL")
        out.write(f"  {mark}  {check.name}: {check.detail}\n")
    out.write("restore verified: PASS\n" if report.ok else "restore verified: FAIL\n")
    return out.getvalue()
