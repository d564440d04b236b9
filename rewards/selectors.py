from rewards.models import AgreementCheck, RewardModel, RewardModelStatus


def reward_model_active() -> RewardModel | None:
    return RewardModel.objects.filter(status=RewardModelStatus.ACTIVE).first()


def reward_model_alerts() -> list[dict]:
    """Open recalibration alerts: the newest agreement check of the active model, if it alerted."""
    active = reward_model_active()
    if active is None:
        return []
    check = AgreementCheck.objects.filter(reward_model=active).order_by("-created_at").first()
    if check is None or not check.alert:
        return []
    return [
        {
            "kind": "reward_model_agreement",
            "reward_model": active.version,
            "spearman": check.spearman,
            "threshold": check.threshold,
            "window_end": check.window_end,
            "message": f"Reward model {active.version} agrees with reviewers at Spearman {check.spearman:.2f}, "
            f"below {check.threshold:.2f}: retrain or recalibrate.",
        }
    ]
