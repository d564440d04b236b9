"""`python manage.py restore --from DIR|s3://bucket/prefix` — into an empty database, every count and hash checked."""

from django.core.management.base import BaseCommand, CommandError

from backups.services import backup_restore
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Restore a backup made by `backup` into an empty database and the configured storage."

    def add_arguments(self, parser):
        parser.add_argument("--from", required=True, dest="source", help="a backup folder, or s3://bucket/prefix")

    def handle(self, *args, source, **options):
        try:
            report = backup_restore(source=source)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"restored from {source}: {report['tables']} tables, {report['rows']} rows, "
            f"{report['objects']} storage objects; every count and sha256 matches the manifest"
        )
