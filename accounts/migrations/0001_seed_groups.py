"""Seed the groups reviewers, operators, approvers and admins with their permissions (zeke_rft.access.GROUPS)."""

from django.db import migrations


def seed(apps, schema_editor):
    from zeke_rft.access import groups_seed

    groups_seed(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        content_type_model=apps.get_model("contenttypes", "ContentType"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("labeling", "0004_review_permission_and_blind_sides"),
        ("rewards", "0003_custom_action_permissions"),
        ("rollout", "0002_custom_action_permissions"),
        ("traces", "0003_custom_action_permissions"),
        ("training", "0002_custom_action_permissions"),
    ]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
