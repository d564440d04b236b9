"""`python manage.py purge_raw_text`: empty raw trace text older than RAW_RETENTION_DAYS (same as the 02:30 job)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from traces.models import FilterRunTrigger


class Command(BaseCommand):
    help = "Purge raw (unscrubbed) text older than RAW_RETENTION_DAYS; pending old traces are filtered first."

    def handle(self, *args, **options):
        from traces.filtering import raw_purge

        record = raw_purge(trigger=FilterRunTrigger.COMMAND)
        self.stdout.write(
            f"RawPurge #{record.pk}: {record.purged} trace(s) older than {settings.RAW_RETENTION_DAYS} days "
            f"(before {record.cutoff:%Y-%m-%d %H:%M}) purged"
        )
