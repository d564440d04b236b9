from celery import shared_task


@shared_task(name="labeling.tasks.build_label_queue_daily")
def build_label_queue_daily(day: str | None = None) -> int:
    """Queued by beat at 06:00. Builds today's label queue; a second run the same day adds nothing."""
    from datetime import date

    from labeling.services import label_queue_build

    _, added = label_queue_build(day=date.fromisoformat(day) if day else None)
    return added
