"""Back up the PostgreSQL database and the private media into one encrypted file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.management.backups import BackupError, backup_create, backup_prune


class Command(BaseCommand):
    help = (
        "Write backup-<UTC timestamp>.tar.enc into FOLDER (default: $BACKUP_DIR): a pg_dump -Fc "
        "of DATABASE_URL, a tar of the private media (photos) and a manifest (row counts of "
        "every table, checksums of the key tables, migrations, app version), read from one "
        "database snapshot and encrypted with openssl AES-256 (PBKDF2) under $BACKUP_KEY "
        "(required; at least 32 characters, e.g. from `openssl rand -base64 32`). The plain "
        "dump only exists in a private temporary folder (mode 0700, honours TMPDIR) that is "
        "removed afterwards. PostgreSQL only: for the SQLite demo, copy var/. S3 storage is not "
        "backed up yet (a later issue). Restore with scripts/restore; see docs/operations.md."
    )
    # The command only reads; it must run even if a check would complain.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "folder",
            nargs="?",
            help="Where to write the backup (created with mode 0700). Default: $BACKUP_DIR.",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="After a successful backup, delete the folder's older backups that the "
            "retention policy below does not keep (other files are never touched).",
        )
        parser.add_argument(
            "--keep-daily", type=int, default=7, help="Newest backup of each of N days (7)."
        )
        parser.add_argument(
            "--keep-weekly", type=int, default=4, help="...of each of N ISO weeks (4)."
        )
        parser.add_argument(
            "--keep-monthly", type=int, default=12, help="...of each of N months (12)."
        )

    def handle(self, *args: Any, folder: str | None, prune: bool, **options: Any) -> None:
        folder = folder or os.environ.get("BACKUP_DIR")
        if not folder:
            raise CommandError("name a folder (scripts/backup /srv/backups) or set BACKUP_DIR.")
        keep = {
            "daily": options["keep_daily"],
            "weekly": options["keep_weekly"],
            "monthly": options["keep_monthly"],
        }
        if keep["daily"] < 1 or keep["weekly"] < 0 or keep["monthly"] < 0:
            raise CommandError("--keep-daily must be at least 1, the others at least 0.")
        try:
            result = backup_create(folder=Path(folder), log=self._step)
            removed = backup_prune(folder=Path(folder), **keep) if prune else []
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = result.manifest
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"{len(manifest['tables'])} tables, {rows} rows, "
            f"{manifest['media']['files']} media files"
        )
        self.stdout.write(f"sha256 {result.sha256}  {result.path.name}")
        for path in removed:
            self.stdout.write(f"pruned {path.name}")
        self.stdout.write(
            self.style.SUCCESS(f"wrote {result.path} ({result.size / 1_048_576:.1f} MiB)")
        )

    def _step(self, message: str) -> None:
        self.stdout.write(f"==> {message}")
