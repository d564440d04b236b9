"""`python manage.py run_filters [--date YYYY-MM-DD] [--dry-run] [--refilter]`: the nightly filter, by hand."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from traces.models import FilterRunTrigger


class Command(BaseCommand):
    help = "Scrub PII and apply the filter rules to pending traces (all, or one day's); same work as the 02:00 job."

    def add_arguments(self, parser):
        parser.add_argument("--date", dest="day", help="only traces that occurred on this day (YYYY-MM-DD)")
        parser.add_argument("--dry-run", action="store_true", help="report what would be dropped; write no trace")
        parser.add_argument(
            "--refilter", action="store_true", help="with --date: also re-evaluate that day's filtered traces"
        )

    def handle(self, *args, day=None, dry_run=False, refilter=False, **options):
        from traces.filtering import filter_run

        parsed = None
        if day:
            try:
                parsed = date.fromisoformat(day)
            except ValueError:
                raise CommandError(f"--date must be YYYY-MM-DD, got {day!r}")
        if refilter and parsed is None:
            raise CommandError("--refilter needs --date")
        run = filter_run(day=parsed, dry_run=dry_run, trigger=FilterRunTrigger.COMMAND, refilter=refilter)
        what = "would drop" if dry_run else "dropped"
        self.stdout.write(
            f"FilterRun #{run.pk}{' (dry run)' if dry_run else ''}: {run.processed} processed, "
            f"{run.eligible} eligible, {run.dropped} {what} in {run.duration_ms} ms"
        )
        for rule, count in sorted(run.counts.items()):
            if count:
                self.stdout.write(f"  {rule}: {count}")
