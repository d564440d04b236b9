from django.core.management.base import BaseCommand

from rollout.errors import command_errors
from rollout.evaluation import policy_evaluate
from rollout.selectors import policy_get


class Command(BaseCommand):
    help = "Run eval suites against a policy (and a baseline: the active policy unless --baseline), then the gate."

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, help="model id of the policy to evaluate")
        parser.add_argument("--suite", action="append", help="suite name (repeatable); default every active suite")
        parser.add_argument("--baseline", help="model id of the baseline (default: the modality's active policy)")
        parser.add_argument("--modality", help="when the model id exists for several modalities")

    def handle(self, *args, **options):
        with command_errors():
            policy = policy_get(model_id=options["policy"], modality=options["modality"], field="policy")
            baseline = None
            if options["baseline"]:
                baseline = policy_get(model_id=options["baseline"], modality=policy.modality, field="baseline")
            runs, gate = policy_evaluate(policy=policy, baseline=baseline, suite_names=options["suite"])
        for run in runs:
            self.stdout.write(self._line(run))
        if gate is not None:
            verdict = "PASSED" if gate["passed"] else "FAILED: " + "; ".join(gate["reasons"])
            self.stdout.write(f"gate {verdict} (win-rate {gate['win_rate']}, safety {gate['safety']})")

    def _line(self, run) -> str:
        scores = run.scores
        extra = ""
        if scores.get("refusal_rate") is not None or scores.get("over_refusal_rate") is not None:
            extra = f", refusal {scores.get('refusal_rate')}, over-refusal {scores.get('over_refusal_rate')}"
        stopped = scores["budget"]["stopped"]
        return (
            f"{run.suite.name}: pass rate {scores.get('pass_rate')} (threshold {run.suite.threshold}){extra}, "
            f"win-rate {scores.get('win_rate')}, {scores['cases_run']}/{scores['cases_total']} cases"
            + (f" — stopped: {stopped}" if stopped else "")
        )
