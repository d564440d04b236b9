import os

import pytest
from django.db import connection

# A real worker on Redis, shared by every test that runs as production does.
from tests.celery_worker import producer, redis_broker, worker  # noqa: F401

# An S3 server (moto) for the storage tests.
from tests.s3 import s3_endpoint, s3_storage_url  # noqa: F401

# Live-server browser tests call the ORM from Playwright's event loop thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config):
    # WhiteNoise warns on every request when STATIC_ROOT does not exist yet (a fresh clone).
    from django.conf import settings

    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _storage_in_tmp(settings, tmp_path):
    """Every test writes Parquet partitions, artifacts and datasets under its own folder."""
    settings.TRACE_STORAGE_URL = str(tmp_path / "storage")


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def agent_and_token(db):
    from traces.services import agent_create

    return agent_create(name="conductor", modality="chat")


@pytest.fixture
def agent(agent_and_token):
    return agent_and_token[0]


@pytest.fixture
def agent_client(agent_and_token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {agent_and_token[1]}")
    return client


def user_in_groups(username: str, *groups: str, **fields):
    """A user in the seeded groups (reviewers, operators, approvers, admins), permissions loaded fresh."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from zeke_rft.access import groups_seed

    groups_seed(names=list(groups))
    user = get_user_model().objects.create_user(username=username, password=None, **fields)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return get_user_model().objects.get(pk=user.pk)
