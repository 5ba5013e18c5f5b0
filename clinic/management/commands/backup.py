"""Back up the PostgreSQL database and the private media into one encrypted file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.management.backups import BackupError, backup_create


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

    def handle(self, *args: Any, folder: str | None, **options: Any) -> None:
        folder = folder or os.environ.get("BACKUP_DIR")
        if not folder:
            raise CommandError("name a folder (scripts/backup /srv/backups) or set BACKUP_DIR.")
        try:
            result = backup_create(folder=Path(folder), log=self._step)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = result.manifest
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"{len(manifest['tables'])} tables, {rows} rows, "
            f"{manifest['media']['files']} media files"
        )
        self.stdout.write(f"sha256 {result.sha256}")
        self.stdout.write(
            self.style.SUCCESS(f"wrote {result.path} ({result.size / 1_048_576:.1f} MiB)")
        )

    def _step(self, message: str) -> None:
        self.stdout.write(f"==> {message}")
