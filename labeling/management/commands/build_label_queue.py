from datetime import date

from django.core.management.base import BaseCommand, CommandError

from labeling.services import label_queue_build


class Command(BaseCommand):
    help = "Build the day's label queue (LABEL_QUEUE_SIZE eligible traces, stratified, prioritised). Safe to rerun."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: today)")

    def handle(self, *args, **options):
        try:
            day = date.fromisoformat(options["date"]) if options["date"] else None
        except ValueError:
            raise CommandError(f"--date must be YYYY-MM-DD, got {options['date']!r}")
        queue, added = label_queue_build(day=day)
        overlap = queue.stats.get("overlap", 0) if added else 0
        self.stdout.write(
            f"Queue {queue.day}: added {added - overlap} items + {overlap} overlap "
            f"(by reason {queue.stats.get('by_reason', {})}, by category {queue.stats.get('by_category', {})})"
        )
