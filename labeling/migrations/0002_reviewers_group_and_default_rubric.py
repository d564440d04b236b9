from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from labeling.rubric_default import DEFAULT_DIMENSIONS, DEFAULT_RUBRIC_NAME

    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name="reviewers")
    Rubric = apps.get_model("labeling", "Rubric")
    HistoricalRubric = apps.get_model("labeling", "HistoricalRubric")
    if Rubric.objects.exists():
        return
    rubric = Rubric.objects.create(name=DEFAULT_RUBRIC_NAME, version=1, dimensions=DEFAULT_DIMENSIONS, active=True)
    HistoricalRubric.objects.create(
        id=rubric.id,
        name=rubric.name,
        version=1,
        dimensions=rubric.dimensions,
        active=True,
        created_at=rubric.created_at,
        updated_at=rubric.updated_at,
        history_date=timezone.now(),
        history_type="+",
        history_change_reason="default ZEKE rubric (migration)",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
