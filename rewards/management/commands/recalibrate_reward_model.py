"""`python manage.py recalibrate_reward_model`: the pipeline's `recalibrate` step by hand."""

from django.core.management.base import BaseCommand, CommandError

from rewards.services import reward_model_recalibrate


class Command(BaseCommand):
    help = "Check the active reward model against reviewers (agreement) and queue this week's spot checks."

    def handle(self, *args, **options):
        result = reward_model_recalibrate()
        agreement = result["agreement"]
        if agreement is None:
            raise CommandError("no reward model is active: train one (manage.py train_reward_model)")
        alert = " — ALERT: below REWARD_AGREEMENT_THRESHOLD" if agreement["alert"] else ""
        self.stdout.write(f"agreement: Spearman {agreement['spearman']} on {agreement['n']} traces{alert}")
        self.stdout.write(f"{result['spot_checks']} spot checks queued for review")
