"""Restore an encrypted backup into an empty database and empty storage, then verify it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.management.backups import BackupError, backup_check, format_report, restore


class Command(BaseCommand):
    help = (
        "Restore FILE (made by scripts/backup; decrypted with $BACKUP_KEY) into the database "
        "of DATABASE_URL and the private media folder. Both must be empty: the command refuses "
        "a database with any table in its public schema and a media folder with any file, so "
        "it can never overwrite live data. Create the database first (createdb <name>). "
        "Afterwards it compares every table's row count, the key tables' checksums, the "
        "migrations, the media files and the photos the database names with the backup's "
        "manifest, prints PASS/FAIL for each, and exits 1 on any mismatch."
    )
    # The database is empty until pg_restore has run: no check may query it first.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The backup-<timestamp>.tar.enc file to restore.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only decrypt the file and check each part against its manifest; touch no "
            "database or storage (for off-site copies and the escrowed key).",
        )

    def handle(self, *args: Any, file: str, check: bool, **options: Any) -> None:
        if check:
            self._check(Path(file))
            return
        try:
            report = restore(file=Path(file), log=self._step)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(format_report(report))
        if not report.ok:
            failed = ", ".join(c.name for c in report.checks if not c.ok and not c.warning)
            raise CommandError(f"the restored data does not match the backup: {failed}")

    def _check(self, file: Path) -> None:
        try:
            manifest = backup_check(file=file)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        app = manifest["app"]
        self.stdout.write(
            f"backup of {manifest['created_at']} (app {app['version']}, commit "
            f"{app['git_commit'] or '?'}): {len(manifest['tables'])} tables, "
            f"{sum(manifest['tables'].values())} rows, {manifest['media']['files']} media files"
        )
        self.stdout.write(self.style.SUCCESS("file checked: PASS (decrypts, every part intact)"))

    def _step(self, message: str) -> None:
        self.stdout.write(f"==> {message}")
