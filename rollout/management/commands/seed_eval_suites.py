from django.core.management.base import BaseCommand

from rollout.evaluation import eval_suites_seed
from rollout.seeds import all_suites


class Command(BaseCommand):
    help = "Create or update the eval suites (ZEKE's own cases, XSTest, SimpleSafetyTests, a BFCL slice). Idempotent."

    def handle(self, *args, **options):
        for name, counts in eval_suites_seed(suites=all_suites()).items():
            self.stdout.write(f"{name}: {counts['cases']} cases ({counts['created']} new, {counts['updated']} updated)")
