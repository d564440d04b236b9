from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """The privacy engine: secret redaction and PII scrubbing, used by traces, labeling and training."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "privacy"
