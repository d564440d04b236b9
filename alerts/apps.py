from django.apps import AppConfig


class AlertsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "alerts"

    def ready(self):
        # Every beat job records its heartbeat, whichever app defines it.
        from alerts import heartbeat

        heartbeat.connect_beat_signals()
