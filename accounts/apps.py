from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, the seeded groups (reviewers, operators, approvers, admins), login throttling and logout."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
