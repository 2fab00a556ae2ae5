"""Backup and restore of the facility's records: the prefix's DataJoint schemas and the application database,
dumped by mariadb-dump into an archive with a manifest of row counts and checksums (docs/backup.md)."""

from .archive import BackupError
from .dump import BackupDone, backup
from .load import RestoreDone, restore

__all__ = ["BackupDone", "BackupError", "RestoreDone", "backup", "restore"]
