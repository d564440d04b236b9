from django.core.management.base import BaseCommand

from rollout.errors import command_errors
from rollout.selectors import rollout_get, user_get
from rollout.services import rollout_rollback


class Command(BaseCommand):
    help = "Roll back a rollout: previous policy active again, candidate's traces quarantined, all in one transaction."

    def add_arguments(self, parser):
        parser.add_argument("rollout_id")
        parser.add_argument("--reason", required=True)
        parser.add_argument("--user", help="username to record as the one who rolled back")

    def handle(self, *args, rollout_id, reason, user, **options):
        with command_errors():
            rollout = rollout_get(rollout_id=rollout_id)
            acting = user_get(username=user) if user else None
            rollout = rollout_rollback(rollout=rollout, reason=reason, user=acting)
        baseline = rollout.baseline.model_id if rollout.baseline else "none"
        self.stdout.write(f"rollout {rollout.pk} rolled back; active policy for {rollout.modality}: {baseline}")
