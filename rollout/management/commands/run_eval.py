from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from rollout.evaluation import eval_run_all
from rollout.gate import gate_evaluate, gate_record
from rollout.models import Policy, PolicyStatus
from zeke_rft.errors import ApplicationError


def _policy(model_id: str, modality: str | None) -> Policy:
    policies = Policy.objects.filter(model_id=model_id)
    if modality:
        policies = policies.filter(modality=modality)
    policy = policies.first()
    if policy is None:
        raise CommandError(f"no policy with model id {model_id!r}")
    return policy


class Command(BaseCommand):
    help = "Run eval suites against a policy (and a baseline: the active policy unless --baseline), then the gate."

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, help="model id of the policy to evaluate")
        parser.add_argument("--suite", action="append", help="suite name (repeatable); default every active suite")
        parser.add_argument("--baseline", help="model id of the baseline (default: the modality's active policy)")
        parser.add_argument("--modality", help="when the model id exists for several modalities")

    def handle(self, *args, **options):
        try:
            self._handle(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None

    def _handle(self, **options):
        policy = _policy(options["policy"], options["modality"])
        if options["baseline"]:
            baseline = _policy(options["baseline"], policy.modality)
        else:
            baseline = Policy.objects.filter(modality=policy.modality, status=PolicyStatus.ACTIVE).first()
        for run in eval_run_all(policy=policy, baseline=baseline, suite_names=options["suite"]):
            scores = run.scores
            extra = ""
            if scores.get("refusal_rate") is not None or scores.get("over_refusal_rate") is not None:
                extra = f", refusal {scores.get('refusal_rate')}, over-refusal {scores.get('over_refusal_rate')}"
            self.stdout.write(
                f"{run.suite.name}: pass rate {scores.get('pass_rate')} (threshold {run.suite.threshold}){extra}, "
                f"win-rate {scores.get('win_rate')}, {scores['cases_run']}/{scores['cases_total']} cases"
                + (f" — stopped: {scores['budget']['stopped']}" if scores["budget"]["stopped"] else "")
            )
        if not options["suite"]:
            gate = gate_evaluate(policy=policy, baseline=baseline)
            gate_record(policy=policy, gate=gate)
            verdict = "PASSED" if gate["passed"] else "FAILED: " + "; ".join(gate["reasons"])
            self.stdout.write(f"gate {verdict} (win-rate {gate['win_rate']}, safety {gate['safety']})")
