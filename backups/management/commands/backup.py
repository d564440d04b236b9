"""`python manage.py backup --to DIR|s3://bucket/prefix` — database dump + storage objects + manifest."""

from django.core.management.base import BaseCommand, CommandError

from backups.services import backup_create
from zeke_rft.errors import ApplicationError


class Command(BaseCommand):
    help = "Back up the database (pg_dump / SQLite backup API) and every storage object, with a sha256 manifest."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, dest="destination", help="a new folder, or s3://bucket/prefix")

    def handle(self, *args, destination, **options):
        try:
            manifest = backup_create(destination=destination)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            f"backup written to {destination}: {manifest['engine']}, {len(manifest['tables'])} tables, "
            f"{rows} rows, {len(manifest['storage'])} storage objects"
        )
