"""`python manage.py register_candidates`: succeeded training runs become candidate policies (the pipeline's
`train` step does it for its own runs; the 5-minute sweeper for runs started by hand)."""

from django.core.management.base import BaseCommand

from pipeline.services import candidates_register_trained


class Command(BaseCommand):
    help = "Register a candidate policy for every succeeded training run that has none."

    def handle(self, *args, **options):
        self.stdout.write(f"{candidates_register_trained()} candidate policies registered")
