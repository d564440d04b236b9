"""The pipeline's two calls into apps that may not be on main yet: the alerts app (i15) and the online
guard's promotion rule (i15). Each sits behind one small function so the fallback is one line to remove."""

import logging

logger = logging.getLogger(__name__)


def notify(*, kind: str, subject: str, body: str, link: str = "", payload: dict | None = None) -> None:
    """Send a notification through alerts.services.notification_send (recorded, retried); never fails the step."""
    try:
        from alerts.services import notification_send
    except ImportError:  # fallback until the alerts app is merged
        logger.warning("pipeline notification %s: %s — %s %s", kind, subject, body, link)
        return
    try:
        notification_send(kind=kind, subject=subject, body=body, link=link, payload=payload or {})
    except Exception:  # a notification problem must not stop the loop; alerts records its own failures
        logger.exception("pipeline notification %s could not be sent", kind)


def promotion_decision(*, rollout) -> dict:
    """The online guard's promotion rule: {"ready": bool, "reasons": [str], "numbers": {}}."""
    try:
        from rollout.guard import rollout_promotion_decision
    except ImportError:  # fallback until the online guard is merged: the newest monitor check must be "ok"
        check = rollout.monitor_checks.order_by("-checked_at").first()
        ready = check is not None and check.decision == "ok"
        reason = (
            "the newest monitor check is ok" if ready else f"monitor: {check.decision if check else 'no check yet'}"
        )
        return {"ready": ready, "reasons": [reason], "numbers": check.metrics if check else {}}
    return rollout_promotion_decision(rollout=rollout)
