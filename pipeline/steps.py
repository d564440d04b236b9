"""One function per pipeline step. Each takes the run and returns an Outcome; each is safe to run again after a
crash (it finds the record an earlier attempt produced before making one), so a resumed step repeats no effect.
The steps call the other apps' services only; the records they produce are kept on the run."""

from dataclasses import dataclass, field

from django.conf import settings

from pipeline.models import PipelineRun, StepStatus
from pipeline.notify import notify, promotion_decision


@dataclass
class Outcome:
    status: str  # a StepStatus
    detail: str
    output: dict = field(default_factory=dict)
    record: str = ""
    stop: str = ""  # set: the run ends here (stopped), e.g. "nothing new"


def _link(run: PipelineRun) -> str:
    return f"/pipeline/#run-{run.pk}"


def score(run: PipelineRun) -> Outcome:
    from rewards.selectors import reward_model_active
    from rewards.services import traces_score

    reward_model = reward_model_active()
    if reward_model is None:
        return Outcome(StepStatus.SKIPPED, "no active reward model: datasets use human labels only")
    result = traces_score(reward_model=reward_model)
    return Outcome(
        StepStatus.SUCCEEDED,
        f"{result['scored']} new traces scored by reward model {reward_model.version}",
        output=result,
        record=f"reward model {reward_model.version}",
    )


def recalibrate(run: PipelineRun) -> Outcome:
    from rewards.services import reward_model_recalibrate

    result = reward_model_recalibrate()
    agreement = result["agreement"]
    if agreement is None:
        return Outcome(StepStatus.SKIPPED, "no active reward model to check")
    detail = f"agreement Spearman {agreement['spearman']} on {agreement['n']} traces"
    detail += " (below threshold: ALERT)" if agreement["alert"] else ""
    return Outcome(
        StepStatus.SUCCEEDED,
        f"{detail}; {result['spot_checks']} spot checks queued",
        output=result,
        record=f"agreement check {agreement['id']}",
    )


def dataset(run: PipelineRun) -> Outcome:
    from training.models import TrainingRun
    from training.services import curriculum_next_stage, dataset_build
    from zeke_rft.errors import ApplicationError

    stage = curriculum_next_stage(modality=run.modality)
    try:
        build, created = dataset_build(stage=stage, modality=run.modality)
    except ApplicationError as exc:
        return Outcome(StepStatus.SUCCEEDED, exc.message, stop=f"nothing new: {exc.message}")
    PipelineRun.objects.filter(pk=run.pk).update(dataset=build)
    run.dataset = build
    train_rows = (build.files.get("train") or {}).get("rows", 0)
    output = {"sha256": build.sha256, "stage": stage, "created": created, "train": train_rows}
    detail = f"dataset {build.sha256[:12]} stage {stage}: {train_rows} training examples"
    earlier = TrainingRun.objects.filter(dataset=build).exclude(pk=run.training_run_id or 0).first()
    if earlier is not None:
        stop = f"nothing new: dataset {build.sha256[:12]} was already trained (training run {earlier.pk})"
    elif train_rows < settings.PIPELINE_MIN_EXAMPLES:
        stop = f"nothing new: {train_rows} training examples, PIPELINE_MIN_EXAMPLES is {settings.PIPELINE_MIN_EXAMPLES}"
    else:
        stop = ""
    return Outcome(StepStatus.SUCCEEDED, detail, output=output, record=f"dataset {build.sha256[:12]}", stop=stop)


def _training_run(run: PipelineRun):
    from training.models import TrainingRun
    from training.services import training_run_create

    training = run.training_run or TrainingRun.objects.filter(dataset=run.dataset).order_by("created_at").first()
    if training is None:
        training = training_run_create(dataset=run.dataset)
    if run.training_run_id != training.pk:
        PipelineRun.objects.filter(pk=run.pk).update(training_run=training)
        run.training_run = training
    return training


def train(run: PipelineRun) -> Outcome:
    from training.models import TERMINAL_TRAINING_STATUSES, TrainingStatus
    from training.services import training_run_poll, training_run_submit

    training = _training_run(run)
    if training.status == TrainingStatus.PENDING:
        # Here, in the worker, rather than only from the task queued on commit: submitting is claimed by a
        # conditional UPDATE, so whichever comes second does nothing.
        training = training_run_submit(run_id=training.pk)
    if training.job_id and training.status not in TERMINAL_TRAINING_STATUSES:
        training = training_run_poll(run_id=training.pk)
    record = f"training run {training.pk}"
    if training.status == TrainingStatus.SUCCEEDED and training.fine_tuned_model:
        policy = candidate_register(run=run, training=training)
        return Outcome(
            StepStatus.SUCCEEDED, f"{training.fine_tuned_model} is candidate policy {policy.pk}", record=record
        )
    if training.status in TERMINAL_TRAINING_STATUSES:
        message = f"training run {training.pk} {training.status}: {training.error or '-'}"
        notify(kind="training_failed", subject=f"Training failed ({run.modality})", body=message, link=_link(run))
        return Outcome(StepStatus.FAILED, message, record=record)
    return Outcome(StepStatus.WAITING, f"training run {training.pk} is {training.status}", record=record)


def candidate_register(*, run: PipelineRun | None = None, training):
    """The succeeded training run's model becomes a candidate policy (inheriting the active policy's config)."""
    from rollout.services import policy_register_candidate

    policy = policy_register_candidate(
        model_id=training.fine_tuned_model,
        modality=training.modality,
        training_run=training,
        config=training.serving or None,
    )
    if run is not None:
        PipelineRun.objects.filter(pk=run.pk).update(policy=policy)
        run.policy = policy
    return policy


def evaluate(run: PipelineRun) -> Outcome:
    from rollout.evaluation import policy_evaluate

    eval_runs, gate = policy_evaluate(policy=run.policy)
    output = {"eval_runs": [eval_run.pk for eval_run in eval_runs], "gate": gate}
    record = f"{len(eval_runs)} eval runs"
    if not gate["passed"]:
        reasons = "; ".join(gate["reasons"])
        notify(
            kind="gate_failed",
            subject=f"Offline gate failed for {run.policy.model_id}",
            body=reasons,
            link=_link(run),
            payload={"gate": gate},
        )
        return Outcome(StepStatus.FAILED, f"gate failed: {reasons}", output=output, record=record)
    return Outcome(StepStatus.SUCCEEDED, f"gate passed (win-rate {gate['win_rate']})", output=output, record=record)


def _rollout(run: PipelineRun):
    from rollout.models import Rollout

    rollout = run.rollout or Rollout.objects.filter(candidate=run.policy).order_by("-started_at").first()
    if rollout is not None:
        rollout.refresh_from_db()
    return rollout


def _keep_rollout(run: PipelineRun, rollout) -> None:
    PipelineRun.objects.filter(pk=run.pk).update(rollout=rollout)
    run.rollout = rollout


def _rolled_back(rollout) -> Outcome:
    return Outcome(StepStatus.FAILED, f"rolled back: {rollout.rollback_reason}", record=f"rollout {rollout.pk}")


def shadow(run: PipelineRun) -> Outcome:
    from rollout.models import RolloutState
    from rollout.services import rollout_start_shadow

    rollout = _rollout(run) or rollout_start_shadow(candidate=run.policy, reason=f"pipeline run {run.pk}")
    _keep_rollout(run, rollout)
    if rollout.state == RolloutState.ROLLED_BACK:
        return _rolled_back(rollout)
    return Outcome(
        StepStatus.SUCCEEDED,
        f"rollout {rollout.pk} in {rollout.state}, smoke tests passed",
        record=f"rollout {rollout.pk}",
    )


def canary(run: PipelineRun) -> Outcome:
    from rollout.models import RolloutState
    from rollout.services import rollout_start_canary

    rollout = _rollout(run)
    if rollout.state == RolloutState.SHADOW:
        rollout = rollout_start_canary(rollout=rollout, reason=f"pipeline run {run.pk}")
    if rollout.state == RolloutState.ROLLED_BACK:
        return _rolled_back(rollout)
    return Outcome(
        StepStatus.SUCCEEDED,
        f"rollout {rollout.pk} canary at {rollout.traffic_percent:g}%",
        record=f"rollout {rollout.pk}",
    )


def monitor(run: PipelineRun) -> Outcome:
    from rollout.models import RolloutState

    rollout = _rollout(run)
    if rollout.state == RolloutState.ROLLED_BACK:
        return _rolled_back(rollout)
    if rollout.state == RolloutState.ACTIVE:
        return Outcome(
            StepStatus.SUCCEEDED, f"rollout {rollout.pk} was already promoted", record=f"rollout {rollout.pk}"
        )
    decision = promotion_decision(rollout=rollout)
    output = {"ready": decision["ready"], "reasons": decision["reasons"], "numbers": decision.get("numbers") or {}}
    status = StepStatus.SUCCEEDED if decision["ready"] else StepStatus.WAITING
    verdict = "ready to promote" if decision["ready"] else "not ready"
    detail = f"{verdict}: {'; '.join(decision['reasons'])}"
    return Outcome(status, detail, output=output, record=f"rollout {rollout.pk}")


def promote(run: PipelineRun, *, user=None, reason: str = "") -> Outcome:
    from rollout.models import RolloutState
    from rollout.services import rollout_promote

    rollout = _rollout(run)
    if rollout.state == RolloutState.ROLLED_BACK:
        return _rolled_back(rollout)
    if rollout.state == RolloutState.CANARY:
        decision = promotion_decision(rollout=rollout)
        if not decision["ready"]:  # the evidence weakened since `monitor` (e.g. while waiting for approval)
            return Outcome(StepStatus.WAITING, f"not ready: {'; '.join(decision['reasons'])}")
        rollout = rollout_promote(rollout=rollout, user=user, reason=reason or f"pipeline run {run.pk}")
    return Outcome(StepStatus.SUCCEEDED, f"{run.policy.model_id} is active", record=f"rollout {rollout.pk}")


STEPS = {
    "score": score,
    "recalibrate": recalibrate,
    "dataset": dataset,
    "train": train,
    "evaluate": evaluate,
    "shadow": shadow,
    "canary": canary,
    "monitor": monitor,
    "promote": promote,
}
