"""GET /metrics: protected, Prometheus text, and covering every part of the loop."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from rewards.models import AgreementCheck, RewardModel, RewardModelStatus
from rollout.models import MonitorCheck, Policy, PolicyStatus, Rollout, RolloutState
from traces.models import FilterRun, FilterRunStatus, FilterRunTrigger

TRACE = {
    "conversation_id": "c1",
    "user_message": "hi",
    "final_response": "Hello there.",
    "occurred_at": "2026-12-01T10:00:00Z",
}
TOKEN = "metrics-token-for-tests-" + "x" * 20


@pytest.fixture
def metrics_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return settings


def scrape(client) -> dict:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_refuse_a_scraper_without_the_token(client, db, metrics_settings):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert b"METRICS_TOKEN" in response.content


def test_metrics_refuse_a_wrong_token(client, db, metrics_settings):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_are_off_when_neither_a_token_nor_a_network_is_set(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403
    assert b"METRICS_ALLOWED_NETWORKS" in response.content


def test_metrics_answer_a_scraper_on_an_allowed_network_without_a_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.9").status_code == 403


def test_metrics_count_ingested_traces_by_status_and_agent(client, agent_client, metrics_settings):
    body = {"traces": [TRACE | {"external_id": f"t{i}"} for i in range(3)]}
    assert agent_client.post("/api/traces/", body, format="json").status_code == 201
    samples = scrape(client)
    assert value(samples, "zeke_traces", status="received") == 3
    assert value(samples, "zeke_traces", status="eligible") == 0
    assert value(samples, "zeke_traces_received_24h", agent="conductor") == 3


def test_metrics_count_requests_by_route_and_status(client, agent_client, metrics_settings):
    agent_client.post("/api/traces/", {"traces": "not a list"}, format="json")
    samples = scrape(client)
    assert value(samples, "zeke_http_requests_total", method="POST", route="api/traces/", status="400") >= 1


def test_every_response_carries_a_request_id_and_keeps_a_sane_one_from_the_proxy(client, db, metrics_settings):
    assert len(client.get("/metrics")["X-Request-ID"]) == 32
    assert client.get("/metrics", HTTP_X_REQUEST_ID="proxy-id-1")["X-Request-ID"] == "proxy-id-1"
    assert client.get("/metrics", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"] != "bad id\nwith newline"


def test_metrics_show_the_last_filter_run_by_rule(client, db, metrics_settings):
    now = timezone.now()
    FilterRun.objects.create(
        trigger=FilterRunTrigger.BEAT,
        status=FilterRunStatus.SUCCEEDED,
        processed=10,
        eligible=7,
        dropped=3,
        counts={"tool_failure": 2, "low_signal": 1},
        finished_at=now,
        duration_ms=1500,
    )
    samples = scrape(client)
    assert value(samples, "zeke_filter_last_run_traces", outcome="dropped") == 3
    assert value(samples, "zeke_filter_last_run_dropped", rule="tool_failure") == 2
    assert value(samples, "zeke_filter_last_run_duration_seconds") == 1.5


def _running_rollout():
    baseline = Policy.objects.create(model_id="gpt-base", modality="chat", status=PolicyStatus.ACTIVE)
    candidate = Policy.objects.create(model_id="ft:cand", modality="chat", status=PolicyStatus.CANARY)
    return Rollout.objects.create(
        modality="chat", candidate=candidate, baseline=baseline, state=RolloutState.CANARY, traffic_percent=10, salt="s"
    )


def test_metrics_show_the_rollout_guard_values_of_the_last_monitor_check(client, db, metrics_settings):
    rollout = _running_rollout()
    now = timezone.now()
    metrics = {
        "baseline": {"n": 300, "tool_error_rate": 0.02, "latency_p95": 900, "_latencies": [1, 2]},
        "candidate": {"n": 310, "tool_error_rate": 0.09, "latency_p95": "n/a"},
        "guards": [{"metric": "tool_error_rate", "failed": True}, {"metric": "latency_p95", "failed": False}],
    }
    MonitorCheck.objects.create(
        rollout=rollout, window_start=now - timedelta(hours=1), window_end=now, metrics=metrics, decision="rollback"
    )
    samples = scrape(client)
    arm = {"rollout": str(rollout.pk), "modality": "chat"}
    assert value(samples, "zeke_rollout_arm_value", arm="candidate", metric="tool_error_rate", **arm) == 0.09
    assert value(samples, "zeke_rollout_arm_value", arm="baseline", metric="latency_p95", **arm) == 900
    assert value(samples, "zeke_rollout_guard_failed", rollout=str(rollout.pk), guard="tool_error_rate") == 1
    assert not any(key[0] == "zeke_rollout_arm_value" and ("metric", "_latencies") in key[1] for key in samples)


def test_metrics_show_the_reward_model_agreement(client, db, metrics_settings):
    model = RewardModel.objects.create(
        version="rm-1", algorithm="x", training_data_hash="h", artifact_key="k", artifact_sha256="s",
        status=RewardModelStatus.ACTIVE,
    )  # fmt: skip
    today = timezone.now().date()
    AgreementCheck.objects.create(
        reward_model=model, window_start=today, window_end=today, n=12, spearman=0.41, threshold=0.5, alert=True
    )
    samples = scrape(client)
    assert value(samples, "zeke_reward_agreement", measure="spearman") == 0.41
    assert value(samples, "zeke_reward_agreement_alert") == 1


def test_a_failing_section_is_reported_and_the_others_still_answer(client, db, metrics_settings, monkeypatch):
    from zeke_rft import metric_sources, metrics

    def broken(*, now):
        raise RuntimeError("boom")

    monkeypatch.setattr(metrics, "SECTIONS", (("rewards", broken), ("traces", metric_sources.trace_metrics)))
    samples = scrape(client)
    assert value(samples, "zeke_metrics_section_up", section="rewards") == 0
    assert value(samples, "zeke_metrics_section_up", section="traces") == 1


def test_metrics_report_the_broker_down_with_a_configured_broker_that_does_not_answer(client, db, metrics_settings):
    metrics_settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    samples = scrape(client)
    assert value(samples, "zeke_broker_up") == 0


def test_metrics_show_messages_waiting_in_the_redis_queue(client, db, metrics_settings, producer, redis_broker):
    from training.tasks import poll_training_runs

    metrics_settings.CELERY_BROKER_URL = redis_broker
    for _ in range(3):
        poll_training_runs.apply_async(connection=producer)  # no worker: they wait in the queue
    samples = scrape(client)
    assert value(samples, "zeke_broker_up") == 1
    assert value(samples, "zeke_celery_queue_length", queue="celery") == 3
