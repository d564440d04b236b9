"""`python manage.py monitor_check [--rollout ID]`: the online monitors now (what the beat job does every 5 min)."""

from django.core.management.base import BaseCommand, CommandError

from rollout.errors import command_errors
from rollout.monitors import monitor_check
from rollout.selectors import rollout_get, rollouts_running


class Command(BaseCommand):
    help = "Check each running rollout (or one) against its baseline; a failed guard rolls it back."

    def add_arguments(self, parser):
        parser.add_argument("--rollout", default=None, help="rollout id (default: every running rollout)")

    def handle(self, *args, rollout, **options):
        with command_errors():
            ids = (
                [rollout_get(rollout_id=rollout).pk]
                if rollout
                else list(rollouts_running().values_list("pk", flat=True))
            )
        if not ids:
            self.stdout.write("no running rollout")
        for rollout_id in ids:
            check = monitor_check(rollout_id=rollout_id, force=True)
            if check is None:
                raise CommandError(f"--rollout: rollout {rollout_id} is not running (shadow or canary)")
            self.stdout.write(f"rollout {rollout_id}: {check.decision}{f' — {check.reason}' if check.reason else ''}")
