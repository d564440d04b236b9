"""The pipeline's calls into the alerts app and the online guard, each behind one small function."""

import logging

logger = logging.getLogger(__name__)


def notify(*, kind: str, subject: str, body: str, link: str = "", payload: dict | None = None) -> None:
    """Send a notification through alerts.services.notification_send (recorded, retried); never fails the step."""
    from alerts.services import notification_send

    try:
        notification_send(kind=kind, subject=subject, body=body, link=link, payload=payload or {})
    except Exception:  # a notification problem must not stop the loop; alerts records its own failures
        logger.exception("pipeline notification %s could not be sent", kind)


def promotion_decision(*, rollout) -> dict:
    """The online guard's promotion rule: {"ready": bool, "reasons": [str], "numbers": {}}."""
    from rollout.guard import rollout_promotion_decision

    return rollout_promotion_decision(rollout=rollout)
