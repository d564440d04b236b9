"""`python manage.py export_partitions [--date YYYY-MM-DD]`: write a day's Parquet partition (default yesterday)."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from traces.partitions import partition_export
from zeke_rft.storage import get_storage


class Command(BaseCommand):
    help = "Export a day's eligible traces (scrubbed) to <TRACE_STORAGE_URL>/logs/yyyy-mm-dd/part-0000.parquet."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="The day to export, YYYY-MM-DD (default: yesterday).")

    def handle(self, *args, **options):
        day = self._day(options["date"])
        export = partition_export(day=day)
        self.stdout.write(f"{export.rows} traces → {get_storage().url(export.key)} (sha256 {export.sha256})")

    def _day(self, value: str | None) -> date:
        if value is None:
            return timezone.localdate() - timedelta(days=1)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, got {value!r}") from None
