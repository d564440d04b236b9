"""Demo step for rollout: a baseline active policy per modality when there is none, and the eval suites.

A candidate from the training demo stays a candidate: gate, shadow, canary and promotion are
steps a person (or `manage.py rollout_step`) takes."""

from rollout.evaluation import eval_suites_seed
from rollout.models import Policy, PolicyStatus
from rollout.seeds import all_suites
from rollout.services import policy_bootstrap_active
from traces.models import Modality

DEMO_BASELINES = {
    Modality.CHAT: ("gpt-4.1-mini", {"system_prompt_version": "zeke-v1", "temperature": 0.3}),
    Modality.VOICE: ("gpt-4.1-mini", {"system_prompt_version": "zeke-voice-v1", "temperature": 0.3}),
    Modality.SMS: ("gpt-4.1-nano", {"system_prompt_version": "zeke-sms-v1", "temperature": 0.2}),
}


def demo_load(*, stdout) -> None:
    for modality, (model_id, config) in DEMO_BASELINES.items():
        active = Policy.objects.filter(modality=modality, status=PolicyStatus.ACTIVE).first()
        if active is None:
            active = policy_bootstrap_active(model_id=model_id, modality=modality, config=config)
            stdout.write(f"rollout: {active.model_id} is the active {modality} policy (baseline)")
        else:
            stdout.write(f"rollout: {active.model_id} already active for {modality}")
    summary = eval_suites_seed(suites=all_suites())
    counts = ", ".join(f"{name} {counts['cases']}" for name, counts in summary.items())
    stdout.write(f"rollout: eval suites seeded ({counts})")
    candidates = Policy.objects.filter(status=PolicyStatus.CANDIDATE)
    for candidate in candidates:
        stdout.write(
            f"rollout: candidate {candidate.model_id} waits for `manage.py run_eval --policy {candidate.model_id}` "
            "then `manage.py rollout_step shadow …`"
        )
