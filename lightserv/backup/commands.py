"""`flask --app run:app backup <file or folder>` and `flask --app run:app restore <archive> [--force]`."""

from __future__ import annotations

from pathlib import Path

import click
import pymysql
from flask import Flask


def _migration_names() -> list[str]:
    from lightserv.dbinit import MIGRATIONS

    return [name for name, _ in MIGRATIONS]


def register(app: Flask) -> None:
    @app.cli.command("backup")
    @click.argument("destination", type=click.Path(path_type=Path))
    def backup_command(destination: Path) -> None:
        """Back up every database of DJ_SCHEMA_PREFIX into an archive (a file, or a new file in a folder)."""
        from . import BackupError, backup

        try:
            done = backup(app.config["SETTINGS"], destination, _migration_names())
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        except pymysql.MySQLError as exc:
            raise click.ClickException(f"MariaDB: {exc.args[-1]}. No backup was written.") from None
        click.echo(
            f"Backed up {done.tables} tables ({done.rows:,} rows) to {done.path} "
            f"({done.bytes / 1e6:.1f} MB) in {done.seconds:.1f} s; commits waited {done.commits_paused_ms} ms."
        )
        if done.binlog:
            click.echo(f"Binary-log position of the snapshot: {done.binlog['file']}:{done.binlog['position']} "
                       f"(GTID {done.binlog['gtid'] or '-'}).")  # fmt: skip

    @app.cli.command("restore")
    @click.argument("archive", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--force", is_flag=True, help="Replace the prefix's databases even though they hold records.")
    def restore_command(archive: Path, force: bool) -> None:
        """Restore an archive into DJ_SCHEMA_PREFIX (as the DBA) and verify every table against its manifest."""
        from . import BackupError, restore

        settings = app.config["SETTINGS"]
        try:
            done = restore(settings, archive, force=force, code_migrations=_migration_names())
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        except pymysql.MySQLError as exc:
            raise click.ClickException(f"MariaDB: {exc.args[-1]}.") from None
        source = "" if done.source_prefix == done.prefix else f" (taken of prefix {done.source_prefix!r})"
        click.echo(
            f"Restored the backup of {done.taken_at}{source} into prefix {done.prefix!r}: {done.tables} tables, "
            f"{done.rows:,} rows, in {done.seconds:.1f} s."
        )
        if done.differences:
            raise click.ClickException(
                "Verification FAILED: these tables differ from the backup's manifest:\n"
                + "\n".join(f"  - {line}" for line in done.differences)
            )
        click.echo("Verified: every table's row count and checksum equal the backup's manifest.")
        if done.pending_migrations:
            click.echo(f"The backup predates migrations {', '.join(done.pending_migrations)}: run init-db.")
