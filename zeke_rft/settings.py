"""ZEKE RFT settings.

Every value comes from the environment through the small typed helpers below,
with defaults that work on a bare machine: SQLite under var/, Celery eager,
local storage under var/storage. Every variable is documented in .env.example.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ZEKE_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    """Turn DATABASE_URL (postgres://user:pass@host:port/name or sqlite:///path) into a DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme in ("postgres", "postgresql", "pgsql"):
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        name = unquote(parsed.path.lstrip("/")) or "postgres"
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            # A test database per process, so parallel test runs on one server never share one.
            "TEST": {"NAME": env_str("DATABASE_TEST_NAME") or f"test_{name}_{os.getpid()}"},
        }
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if path.startswith("//"):
            path = path[1:]
        if path in ("", "/", "/:memory:", ":memory:"):
            path = ":memory:"
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parsed.scheme!r} is not supported (use postgres:// or sqlite://)")


# Off unless set: `make run` sets DEBUG=true for itself; tests get their variables from tests/environment.py.
DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off ZEKE RFT refuses to start without a SECRET_KEY: "
            "set SECRET_KEY in the environment (see .env.example)."
        )
    SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105 - DEBUG only, refused above in production

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
if not ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. With DEBUG off ZEKE RFT refuses to start without ALLOWED_HOSTS: "
        "set ALLOWED_HOSTS to the host names it serves, comma separated (see .env.example)."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS (docs/deploy.md lists the production values; `check --deploy` is clean with them) ---
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (deploy/nginx.conf does).
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = env_list("SECURE_REDIRECT_EXEMPT", [])
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "simple_history",
    "django_celery_beat",
    "alerts",
    "privacy",
    "traces",
    "labeling",
    "rewards",
    "training",
    "rollout",
    "pipeline",
    "backups",
    "axes",  # login throttling and lockout (issue 13); before accounts, whose admin guards axes' action
    "accounts",
]

MIDDLEWARE = [
    "zeke_rft.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "zeke_rft.observability.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login with the lockout page
]

ROOT_URLCONF = "zeke_rft.urls"
WSGI_APPLICATION = "zeke_rft.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'zeke_rft.sqlite3'}")),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server and a worker read while another writes.
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/review/login/"
LOGIN_REDIRECT_URL = "/review/"

# Login throttling (django-axes) on every login form (admin and /review/login/): after AXES_FAILURE_LIMIT
# failures for one username from one address, that pair is locked out for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# zeke_rft is not an app, so its static folder is listed here.
STATICFILES_DIRS = [BASE_DIR / "zeke_rft" / "static"]
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST API --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "traces.auth.AgentTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "zeke_rft.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ZEKE RFT API",
    "DESCRIPTION": "Trace ingestion, policy routing and status for ZEKE's agents.",
    "VERSION": "1.0.0",
    # Served from our own static files: no CDN on these machines.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Ingestion limits (413 names the limit in its message).
INGEST_MAX_BATCH = env_int("INGEST_MAX_BATCH", 1000)
INGEST_MAX_REQUEST_BYTES = env_int("INGEST_MAX_REQUEST_BYTES", 20 * 1024 * 1024)
INGEST_MAX_FIELD_CHARS = env_int("INGEST_MAX_FIELD_CHARS", 100_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_REQUEST_BYTES + 1024

# --- Storage ---------------------------------------------------------------
TRACE_STORAGE_URL = env_str("TRACE_STORAGE_URL", str(VAR_DIR / "storage"))

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_TASK_ACKS_LATE = True
# With acks_late a task is acknowledged when it finishes. If the worker process dies (OOM, kill -9),
# reject it so the broker re-queues it now, instead of acknowledging and losing it: every task is safe
# to run twice. Redis re-delivers an unacknowledged task after visibility_timeout (kombu's default,
# 1 h, would leave a dead worker's task waiting an hour); it must exceed the longest a task may run,
# or a running task would be delivered twice: the hard time limit plus 5 minutes.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_BROKER_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 300)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
# A run record (FilterRun, EvalRun) still "running" after this was left by a dead worker: the next run marks it
# failed and takes its work up.
RUN_STALE_SECONDS = env_int("RUN_STALE_SECONDS", CELERY_TASK_TIME_LIMIT + 300)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
# Beat jobs are sweepers: each queues one task per item of work.
CELERY_BEAT_SCHEDULE = {
    "export-partitions-nightly": {
        "task": "traces.tasks.export_partitions_nightly",
        "schedule": crontab(hour=3, minute=0),
    },
    "run-filters-nightly": {"task": "traces.tasks.run_filters_nightly", "schedule": crontab(hour=2, minute=0)},
    "purge-raw-text-nightly": {"task": "traces.tasks.purge_raw_text_nightly", "schedule": crontab(hour=2, minute=30)},
    "build-label-queue-daily": {
        "task": "labeling.tasks.build_label_queue_daily",
        "schedule": crontab(hour=6, minute=0),
    },
    "train-reward-model-weekly": {
        "task": "rewards.tasks.train_reward_model_weekly",
        "schedule": crontab(hour=4, minute=0, day_of_week="sun"),
    },
    "score-traces-nightly": {"task": "rewards.tasks.score_traces_nightly", "schedule": crontab(hour=5, minute=0)},
    "build-dataset-weekly": {
        "task": "training.tasks.build_dataset_weekly",
        "schedule": crontab(hour=5, minute=30, day_of_week="sun"),
    },
    "poll-training-runs": {
        "task": "training.tasks.poll_training_runs",
        "schedule": timedelta(seconds=env_int("TRAINING_POLL_INTERVAL_SECONDS", 120)),
    },
    "run-online-monitors": {"task": "rollout.tasks.run_online_monitors", "schedule": timedelta(minutes=5)},
    "deliver-pending-notifications": {
        "task": "alerts.tasks.deliver_pending_notifications",
        "schedule": timedelta(minutes=1),
    },
    "check-job-heartbeats": {"task": "alerts.tasks.check_job_heartbeats", "schedule": timedelta(minutes=5)},
    "pipeline-weekly": {
        "task": "pipeline.tasks.pipeline_weekly",
        "schedule": crontab(hour=6, minute=0, day_of_week="sun"),
    },
    "advance-pipeline-runs": {"task": "pipeline.tasks.advance_pipeline_runs", "schedule": timedelta(minutes=5)},
    "watch-active-policies": {"task": "rollout.tasks.watch_active_policies", "schedule": timedelta(minutes=15)},
}

# Heavy jobs (filter, scoring, training the reward model, dataset builds, partition export) go to
# this queue; the default keeps them on Celery's "celery" queue, so one worker serves everything.
# Production can set "heavy" and run workers with `-Q heavy` on bigger machines (docs/deploy.md).
CELERY_HEAVY_QUEUE = env_str("CELERY_HEAVY_QUEUE", "celery")
CELERY_TASK_ROUTES = {
    name: {"queue": CELERY_HEAVY_QUEUE}
    for name in (
        "traces.tasks.run_filters_nightly",
        "traces.tasks.export_partition",
        "traces.tasks.purge_raw_text_nightly",
        "rewards.tasks.score_traces_nightly",
        "rewards.tasks.train_reward_model_weekly",
        "training.tasks.build_dataset_weekly",
    )
}
# Open-weights training runs on its own queue, consumed by a worker on a GPU host (docs/training.md).
# Added to the heavy routes above (not replacing them).
CELERY_TASK_ROUTES["training.tasks.run_trl_job"] = {"queue": "training"}

# --- Pipeline knobs ---------------------------------------------------------
RAW_RETENTION_DAYS = env_int("RAW_RETENTION_DAYS", 7)
TIMEOUT_THRESHOLD_MS = env_int("TIMEOUT_THRESHOLD_MS", 30_000)
FILTER_RULES_DISABLED = env_list("FILTER_RULES_DISABLED", [])
LABEL_QUEUE_SIZE = env_int("LABEL_QUEUE_SIZE", 40)
if not 30 <= LABEL_QUEUE_SIZE <= 50:
    raise ImproperlyConfigured(f"LABEL_QUEUE_SIZE must be between 30 and 50, got {LABEL_QUEUE_SIZE}")

# --- OpenAI-compatible RFT backend -------------------------------------------
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_VERSION = env_str("OPENAI_API_VERSION")  # set for Azure OpenAI
OPENAI_AZURE_ENDPOINT = env_str("OPENAI_AZURE_ENDPOINT")  # set for Azure OpenAI
OPENAI_BASE_MODEL = env_str("OPENAI_BASE_MODEL", "o4-mini-2025-04-16")
OPENAI_GRADER_MODEL = env_str("OPENAI_GRADER_MODEL", "gpt-4o-mini-2024-07-18")
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 3)
OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 60.0)

# --- Logs, metrics, errors (zeke_rft/observability.py, zeke_rft/metrics.py) ---
# json: one JSON object per line with the request id (production default); text: readable lines (DEBUG default).
LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "zeke_rft.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Our middleware logs every request once, with its id; Django's own request lines would repeat them.
        "django.server": {"level": "WARNING"},
        # Presidio logs every recognizer it loads at INFO.
        "presidio-analyzer": {"level": "WARNING"},
    },
}
# Workers and beat log through LOGGING too (JSON in production), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# /metrics (Prometheus): a scraper sends `Authorization: Bearer METRICS_TOKEN`, or comes from an allowed network.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"] if DEBUG else [])
SENTRY_DSN = env_str("SENTRY_DSN")  # errors of web, worker and beat go to Sentry when set
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production")
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)

# --- training ---
TRAINING_BACKEND = env_str("TRAINING_BACKEND", "openai")  # a name in training.backends.BACKENDS
TRAINING_HIGH_REWARD = env_float("TRAINING_HIGH_REWARD", 0.7)  # reward at or above this is "high"
TRAINING_HARD_UNCERTAINTY = env_float("TRAINING_HARD_UNCERTAINTY", 0.25)  # model uncertainty at or above: hard case
TRAINING_VALIDATION_PERCENT = env_int("TRAINING_VALIDATION_PERCENT", 10)  # conversations sent to validation
TRAINING_SUBMIT_STALE_SECONDS = env_int("TRAINING_SUBMIT_STALE_SECONDS", 900)  # an upload older than this is retried
GRADER_PYTHON_TIMEOUT_SECONDS = env_float("GRADER_PYTHON_TIMEOUT_SECONDS", 10.0)  # local python grader time limit

# --- open-weights training (TRL; needs requirements-train.txt) ---
TRL_BASE_MODEL = env_str("TRL_BASE_MODEL", "Qwen/Qwen2.5-0.5B-Instruct")  # local path or hub id
TRL_OUTPUT_DIR = env_str("TRL_OUTPUT_DIR", str(VAR_DIR / "trl"))  # scratch space of the training worker
TRL_SERVE_BASE_URL = env_str("TRL_SERVE_BASE_URL", "http://127.0.0.1:8001/v1")  # serves trained models (vLLM...)
TRL_SERVE_API_KEY = env_str("TRL_SERVE_API_KEY", "")  # key of that server, if it wants one
TRL_JUDGE_BASE_URL = env_str("TRL_JUDGE_BASE_URL", "")  # OpenAI-compatible judge for score_model graders
TRL_JUDGE_MODEL = env_str("TRL_JUDGE_MODEL", "")  # judge model id (else the grader's own model)
TRL_JUDGE_API_KEY = env_str("TRL_JUDGE_API_KEY", "")
TRL_CONTROL_POLL_SECONDS = env_float("TRL_CONTROL_POLL_SECONDS", 2.0)  # how often a paused job checks for resume
TRL_TORCH_THREADS = env_int("TRL_TORCH_THREADS", 0)  # 0: torch's default
TRL_TIME_LIMIT_SECONDS = env_int("TRL_TIME_LIMIT_SECONDS", 24 * 3600)  # one training task's hard time limit

# --- rewards ---
REWARD_AGREEMENT_THRESHOLD = env_float("REWARD_AGREEMENT_THRESHOLD", 0.5)  # alert when model–human Spearman is below
REWARD_AGREEMENT_MIN_N = env_int("REWARD_AGREEMENT_MIN_N", 5)  # traces with both rewards needed before alerting
REWARD_SPOT_CHECK_SIZE = env_int("REWARD_SPOT_CHECK_SIZE", 5)  # model-scored traces sent to the queue each week
REWARD_MIN_SCORE_CARDS = env_int("REWARD_MIN_SCORE_CARDS", 20)  # labeled traces (train split) needed to train
REWARD_MIN_PREFERENCES = env_int("REWARD_MIN_PREFERENCES", 20)  # or decisive preferences (train split)

# --- rollout ---
EVAL_CONCURRENCY = env_int("EVAL_CONCURRENCY", 4)  # chat completions in flight during run_eval
EVAL_MAX_SECONDS = env_float("EVAL_MAX_SECONDS", 1800.0)  # no new case starts after this
EVAL_MAX_TOKENS = env_int("EVAL_MAX_TOKENS", 2_000_000)  # nor after this many tokens (candidate + baseline)
ROLLOUT_GATE_MIN_WIN_RATE = env_float("ROLLOUT_GATE_MIN_WIN_RATE", 0.5)
ROLLOUT_CANARY_PERCENT = env_float("ROLLOUT_CANARY_PERCENT", 5.0)
ROLLOUT_CANARY_MAX_PERCENT = env_float("ROLLOUT_CANARY_MAX_PERCENT", 50.0)
ROLLOUT_MONITOR_ALPHA = env_float("ROLLOUT_MONITOR_ALPHA", 0.01)  # false-rollback bound over a rollout's whole life
ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS = env_int("ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS", 240)
ROLLOUT_MONITOR_MAX_SCORED = env_int("ROLLOUT_MONITOR_MAX_SCORED", 500)  # traces per arm scored by the reward model
ROLLOUT_GUARD_LATENCY_P95_RATIO = env_float("ROLLOUT_GUARD_LATENCY_P95_RATIO", 1.5)
ROLLOUT_GUARD_MIN_WIN_RATE = env_float("ROLLOUT_GUARD_MIN_WIN_RATE", 0.4)
ROLLOUT_DISAGREEMENT_SAMPLES = env_int("ROLLOUT_DISAGREEMENT_SAMPLES", 5)
ROLLOUT_DISAGREEMENT_MIN_GAP = env_float("ROLLOUT_DISAGREEMENT_MIN_GAP", 0.05)

# --- pipeline (the weekly loop) ---
# Steps that wait for a person's approval ("none": no step waits).
PIPELINE_APPROVALS = [step for step in env_list("PIPELINE_APPROVALS", ["promote"]) if step != "none"]
_PIPELINE_STEPS = ("score", "recalibrate", "dataset", "train", "evaluate", "shadow", "canary", "monitor", "promote")
if set(PIPELINE_APPROVALS) - set(_PIPELINE_STEPS):
    raise ImproperlyConfigured(f"PIPELINE_APPROVALS names unknown steps; known: {', '.join(_PIPELINE_STEPS)}")
PIPELINE_MIN_EXAMPLES = env_int("PIPELINE_MIN_EXAMPLES", 20)  # training examples a new dataset needs to train
PIPELINE_LEASE_SECONDS = env_int("PIPELINE_LEASE_SECONDS", 1800)  # a run's silent worker: another resumes after
PIPELINE_POLL_SECONDS = env_float("PIPELINE_POLL_SECONDS", 30.0)  # pipeline_run: pause between training polls
PIPELINE_COMMAND_WAIT_SECONDS = env_float("PIPELINE_COMMAND_WAIT_SECONDS", 6 * 3600.0)  # ... for at most this

# --- nightly filter ---
# Presidio score a detection needs to be scrubbed; entity types scrubbed (empty = privacy.scrubbing defaults).
PII_SCORE_THRESHOLD = env_float("PII_SCORE_THRESHOLD", 0.35)
PII_ENTITIES = env_list("PII_ENTITIES", [])
# Terms never scrubbed as PII (comma-separated): the owner's own name, product names (docs/filter.md).
SCRUB_ALLOW = env_list("SCRUB_ALLOW", ["Nate", "ZEKE"])
# Traces claimed per transaction by a filter run; responses shorter than this (words, no tool call) are low signal.
FILTER_BATCH_SIZE = env_int("FILTER_BATCH_SIZE", 200)
FILTER_MIN_RESPONSE_WORDS = env_int("FILTER_MIN_RESPONSE_WORDS", 2)

# --- alerts: notifications and scheduled-job heartbeats ---
NOTIFY_WEBHOOK_URL = env_str("NOTIFY_WEBHOOK_URL")  # Slack-compatible incoming webhook; empty = no webhook
NOTIFY_EMAIL_TO = env_list("NOTIFY_EMAIL_TO", [])  # addresses mailed through Django's EMAIL_BACKEND
NOTIFY_EMAIL_FROM = env_str("NOTIFY_EMAIL_FROM")  # [DEFAULT_FROM_EMAIL]
NOTIFY_TIMEOUT_SECONDS = env_float("NOTIFY_TIMEOUT_SECONDS", 5.0)
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 8)  # then the notification is marked failed
NOTIFY_RETRY_BASE_SECONDS = env_int("NOTIFY_RETRY_BASE_SECONDS", 60)  # backoff: base × 2^(attempt−1)
NOTIFY_DEDUPE_MINUTES = env_int("NOTIFY_DEDUPE_MINUTES", 60)  # same kind + key within this: sent once
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "zeke-rft@localhost")
# Per-job staleness thresholds, "job-name=minutes,..." (default: 3 intervals, 26 h daily, 7 d + 2 h weekly).
JOB_STALE_MINUTES = {
    name.strip(): int(minutes)
    for name, _, minutes in (item.partition("=") for item in env_list("JOB_STALE_MINUTES", []))
    if minutes.strip().isdigit()
}

# --- online guard: promotion rule and active-policy watch (docs/rollout.md) ---
ROLLOUT_PROMOTION_MIN_HOURS = env_float("ROLLOUT_PROMOTION_MIN_HOURS", 48.0)  # canary exposure before promotion
ROLLOUT_PROMOTION_MIN_CONVERSATIONS = env_int("ROLLOUT_PROMOTION_MIN_CONVERSATIONS", 50)  # candidate conversations
ROLLOUT_PROMOTION_ALPHA = env_float("ROLLOUT_PROMOTION_ALPHA", 0.05)  # confidence sequences of the promotion rule
ROLLOUT_PROMOTION_SAFETY_MARGIN_PER_1000 = env_float("ROLLOUT_PROMOTION_SAFETY_MARGIN_PER_1000", 20.0)
ROLLOUT_PROMOTION_MAX_CHECK_AGE_MINUTES = env_int("ROLLOUT_PROMOTION_MAX_CHECK_AGE_MINUTES", 30)
ROLLOUT_PROMOTION_WATCH_HOURS = env_float("ROLLOUT_PROMOTION_WATCH_HOURS", 72.0)  # auto-rollback window after promotion
