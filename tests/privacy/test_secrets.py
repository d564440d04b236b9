"""Secret redaction, on the fixtures in tests/data/secrets (see SOURCE there) and on trace-shaped input."""

import csv
import json
from pathlib import Path

import pytest

from privacy.secrets import (
    PLACEHOLDER_RE,
    secret_key_kind,
    secrets_may_contain,
    secrets_redact_fields,
    secrets_redact_json,
    secrets_redact_text,
)
from tests.traces.factories import trace_payload
from traces.models import Trace

DATA = Path(__file__).resolve().parent.parent / "data" / "secrets"
LEAKY = DATA / "leaky_repo"

# Recall on leaky_repo: 82 of 84 risky lines (97.6%) when measured. The gold counts the user name
# beside a password as risky too, and in text that held a credential user names are redacted; the
# two misses are a bare 32-hex master.key with no context and deployment-config.json's host line.
MIN_LEAKY_RECALL = 0.97


def leaky_gold() -> dict[str, int]:
    lines = (line for line in (LEAKY / "_meta" / "secrets.csv").read_text().splitlines() if line.strip())
    rows = csv.reader(line for line in lines if not line.startswith("#"))
    return {name: int(risk) for name, risk, _informative in rows if (LEAKY / "files" / name).exists()}


def test_leaky_repo_recall_meets_the_measured_floor():
    found = total = 0
    for name, risk in leaky_gold().items():
        redacted, _count = secrets_redact_text((LEAKY / "files" / name).read_text(errors="replace"))
        redacted_lines = sum(1 for line in redacted.splitlines() if PLACEHOLDER_RE.search(line))
        found += min(redacted_lines, risk)
        total += risk

    assert total > 70
    assert found / total >= MIN_LEAKY_RECALL


def read_by_a_tool(path: str, content: str) -> dict:
    """Trace fields where an ops agent read a file with a tool: the shape secrets reach us in."""
    call = {"name": "fs.read_file", "args": {"path": path}, "result": content, "error": None, "latency_ms": 3}
    return {"user_message": "show me that file", "final_response": "", "context": {}, "tool_calls": [call]}


# Recall with each leaky_repo file as the result of a tool call that read it: 83 of 84 (98.8%) when
# measured; the tool call's path gives a bare key file (master.key) the context its content lacks.
# The line short is deployment-config.json's host, which the gold counts beside its password.
MIN_LEAKY_TOOL_READ_RECALL = 0.97


def test_leaky_repo_files_read_by_a_tool_meet_the_measured_recall():
    found = total = 0
    for name, risk in leaky_gold().items():
        content = (LEAKY / "files" / name).read_text(errors="replace")
        redacted, _count = secrets_redact_fields(read_by_a_tool(f"/srv/app/{name}", content))
        result = redacted["tool_calls"][0]["result"]
        found += min(sum(1 for line in result.splitlines() if PLACEHOLDER_RE.search(line)), risk)
        total += risk

    assert found / total >= MIN_LEAKY_TOOL_READ_RECALL


def test_a_key_file_read_by_a_tool_is_redacted_though_its_content_is_a_bare_hex_string():
    content = (LEAKY / "files" / "web" / "ruby" / "config" / "master.key").read_text()

    redacted, count = secrets_redact_fields(read_by_a_tool("web/ruby/config/master.key", content))

    assert redacted["tool_calls"][0]["result"] == "<SECRET:SECRET>"
    assert count == 1
    assert secrets_redact_text(content) == (content, 0)  # alone, it is any md5 or id


@pytest.mark.parametrize(
    ("path", "result"),
    [
        ("/etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----"),
        ("config/master.key", {"exists": True, "size": 32}),
        ("deploy/notes.md", "3ebf21f8e5d1ab86b27a720842c3bb56"),
    ],
)
def test_other_results_of_file_reads_are_left_alone(path, result):
    fields = read_by_a_tool(path, result)

    assert secrets_redact_fields(fields) == (fields, 0)


def test_a_key_file_read_returning_an_object_has_its_token_redacted_and_counted_once():
    fields = read_by_a_tool("/srv/app/config/master.key", {"content": "3ebf21f8e5d1ab86b27a720842c3bb56", "size": 32})

    redacted, count = secrets_redact_fields(fields)

    assert redacted["tool_calls"][0]["result"] == {"content": "<SECRET:SECRET>", "size": 32}
    assert count == 1


def test_json_text_inside_a_json_string_passes_the_pre_check():
    content = (LEAKY / "files" / ".docker" / ".dockercfg").read_text()

    redacted, count = secrets_redact_fields(read_by_a_tool("/home/me/.docker/.dockercfg", content))

    assert "X3Rva2VuOjEyMzQuMThqZjg0MWZr" not in json.dumps(redacted)
    assert count == 2


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        (".bash_profile", "nAH2VzKrMrRjySLlt8HCdFU3tM2TUuUZgh39NX"),
        (".bash_profile", "xoxp-858723095049-581481478633-908968721956-f16b85d1f73ef37c02323bf3fd537ea5"),
        (".bash_profile", "51e61afee2c2667123fc9ed160a0a20b330c8f74"),
        (".docker/config.json", "X3Rva2VuOjEyMzQuMThqZjg0MWZrbDQwYU90dTNrLXdCbDVuaThDM2Q0QVh0QjM2V2VqZzM4MDA2WlR5"),
        (".ssh/id_rsa", "MIIEogIBAAKCAQEAjosMtDUqbE1/8zxZac1t8fkh2SxGuMXHk9yxniyM2m76donW"),
        ("misc-keys/cert-key.pem", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDAbhr5Ivji3OE5"),
        ("misc-keys/putty-example.ppk", "AAABAQCO+eW40w29wGn9lPaqHpkrTQW6qiHuTNOYlGiZqhhCmIwYVJsX4QX3NwgC"),
        ("db/mongoid.yml", "testpass"),
        (".git-credentials", "password!#@498"),
        ("web/var/www/.env", "Mailpass1234!"),
        ("db/.pgpass", "localhost:5432:database:root:password"),
        (".netrc", "pass123"),
        ("etc/shadow", "$6$LnUhhUi45srUKt9i$4Hp6VRTOB2mxvsYH8mwsCfBryg6hCbm4JJjV26KplN8ewZ7EUVqQDkLKDW"),
        ("filezilla/filezilla.xml", "ExamplePas123"),
        (".npmrc", "26dfe8d8-889b-4380-92ff-9c3c6ea5d930"),
    ],
)  # fmt: skip
def test_planted_secrets_are_gone_from_the_redacted_text(name, secret):
    redacted, count = secrets_redact_text((LEAKY / "files" / name).read_text())

    assert secret not in redacted
    assert count >= 1


def test_a_multi_line_pem_private_key_becomes_one_placeholder():
    text = "here is my key:\n" + (LEAKY / "files" / ".ssh" / "id_rsa").read_text().strip() + "\nthanks"

    redacted, count = secrets_redact_text(text)

    assert redacted == "here is my key:\n<SECRET:PRIVATE_KEY>\nthanks"
    assert count == 1


def test_detect_secrets_fixtures_are_redacted():
    ini, _ = secrets_redact_text((DATA / "detect_secrets" / "config.ini").read_text())
    yaml, _ = secrets_redact_text((DATA / "detect_secrets" / "config.yaml").read_text())
    key, _ = secrets_redact_text((DATA / "detect_secrets" / "private_key").read_text())

    assert "123456789a1234" not in ini and "23456789a1" not in ini
    assert "AKIATESTTESTTESTTEST" not in yaml
    assert key.strip() == "<SECRET:PRIVATE_KEY>"


def test_an_allowlist_pragma_does_not_let_a_secret_through():
    yaml = (DATA / "detect_secrets" / "config.yaml").read_text()

    redacted, _ = secrets_redact_text(yaml)

    assert "test_agent::allowlisted_api_key: '<SECRET:API_KEY>'  # pragma: allowlist secret" in redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "Authorization: Bearer <SECRET:TOKEN>"),
        ("curl -H 'Authorization: Bearer abcdef0123456789XYZ' x", "curl -H 'Authorization: Bearer <SECRET:TOKEN>' x"),
        ("use postgres://app:S3cr3t!@db.internal:5432/zeke now", "use <SECRET:CONNECTION_STRING> now"),
        ("redis://:hunter22@cache:6379/0", "<SECRET:CONNECTION_STRING>"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key <SECRET:AWS_KEY> here"),
        ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx12", "OPENAI_API_KEY=<SECRET:API_KEY>"),
        ("the wifi password is Tr0ub4dor&3", "the wifi password is <SECRET:PASSWORD>"),
        ("Password: hunter22", "Password: <SECRET:PASSWORD>"),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc ok", "stripe <SECRET:STRIPE_KEY> ok"),
        ("gh token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "gh token <SECRET:GITHUB_TOKEN>"),
        ("gitlab glpat-abcdefghijklmnopqrstu ok", "gitlab <SECRET:TOKEN> ok"),
        ("GET /v1/items?api_key=abcd1234efgh&page=2", "GET /v1/items?api_key=<SECRET:API_KEY>&page=2"),
        ("with secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY to list", "with secret <SECRET:SECRET> to list"),
        ("the api key is 9f8e7d6c5b4a39281706abcdef", "the api key is <SECRET:API_KEY>"),
    ],
)
def test_secrets_in_prose_become_typed_placeholders(text, expected):
    assert secrets_redact_text(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Your password is incorrect, try again.",
        "The key point is to pass the test by Thursday.",
        "Token count was 512 and the auth flow finished.",
        "The secret to good pasta is salting the water.",
        "Meet at https://example.com/events/42 at 9:30.",
        "Email priya.raman@example.com about the 3pm sync.",
        "Reset your password from the settings page.",
        "event_id evt_9f8a7b6c5d moved to 2026-12-03T09:30:00-06:00",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert secrets_redact_text(text) == (text, 0)


def test_values_under_secret_sounding_keys_are_redacted_in_json():
    value = {"username": "nate", "password": "p4ss!", "db": {"apiKey": "k-123456"}, "max_tokens": 500}

    redacted, count = secrets_redact_json(value)

    assert redacted == {
        "username": "nate",
        "password": "<SECRET:PASSWORD>",
        "db": {"apiKey": "<SECRET:API_KEY>"},
        "max_tokens": 500,
    }
    assert count == 2


def test_every_string_leaf_and_key_of_json_is_scanned():
    value = {"steps": [{"cmd": "psql postgres://u:pw12345@h/db"}], "AKIAIOSFODNN7EXAMPLE": 1}

    redacted, count = secrets_redact_json(value)

    assert redacted == {"steps": [{"cmd": "psql <SECRET:CONNECTION_STRING>"}], "<SECRET:AWS_KEY>": 1}
    assert count == 2


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("DB_PASSWORD", "PASSWORD"),
        ("sshPassphrase", "PASSWORD"),
        ("aws_secret_access_key", "API_KEY"),
        ("HEROKU_API_KEY", "API_KEY"),
        ("_authToken", "TOKEN"),
        ("timePasswordChanged", None),
        ("max_tokens", None),
        ("author", None),
        ("key", None),
        ("passwordField", None),
    ],
)
def test_secret_key_kind(key, kind):
    assert secret_key_kind(key) == kind


def test_a_clean_trace_skips_the_scanners():
    fields = {"user_message": "Move my 3pm to Thursday", "context": {}, "tool_calls": [], "final_response": "Done"}

    assert secrets_redact_fields(fields) == (fields, 0)
    assert not secrets_may_contain(json.dumps(fields))


def test_every_fixture_line_with_a_secret_passes_the_pre_check():
    # The pre-check must never hide a line that the full scan would change.
    for path in sorted((LEAKY / "files").rglob("*")) + sorted((DATA / "detect_secrets").glob("config*")):
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if secrets_redact_text(line)[1]:
                assert secrets_may_contain(line), (path.name, line)


@pytest.mark.django_db
def test_a_posted_secret_is_never_written_to_the_database(agent_client):
    planted = {
        "user_message": "deploy with postgres://admin:Xk9mPq2zz@db.prod:5432/app please",
        "context": {"env": {"AWS_SECRET_ACCESS_KEY": "nAH2VzKrMrRjySLlt8HCdFU3tM2TUuUZgh39NX"}},
        "tool_calls": [
            {"name": "vault.read", "args": {"path": "prod/db"}, "result": {"password": "Xk9mPq2zz"}, "error": None},
            {"name": "http.get", "args": {"headers": {"Authorization": "Bearer zk_live_abcdef0123456789"}}},
        ],
        "final_response": "Key: AKIAIOSFODNN7EXAMPLE",
    }

    body = json.dumps(trace_payload(**planted))
    response = agent_client.post("/api/traces/", data=body, content_type="application/json")

    assert response.status_code == 201
    trace = Trace.objects.get()
    stored = json.dumps([trace.user_message, trace.context, trace.tool_calls, trace.final_response])
    planted_secrets = ("Xk9mPq2zz", "nAH2VzKrMrRjySLlt8HCdFU3tM2TUuUZgh39NX", "zk_live_abcdef", "AKIAIOSFODNN7EXAMPLE")
    for secret in planted_secrets:
        assert secret not in stored
    assert trace.secrets_redacted == 5
    assert trace.tool_calls[0]["result"] == {"password": "<SECRET:PASSWORD>"}


@pytest.mark.django_db
def test_a_config_file_a_tool_returned_as_text_is_stored_without_its_secrets(agent_client):
    content = (LEAKY / "files" / ".docker" / ".dockercfg").read_text()
    call = {"name": "fs.read_file", "args": {"path": "~/.docker/.dockercfg"}, "result": content, "error": None}

    body = json.dumps(trace_payload(tool_calls=[call]))
    response = agent_client.post("/api/traces/", data=body, content_type="application/json")

    assert response.status_code == 201
    assert "X3Rva2VuOjEyMzQuMThqZjg0MWZr" not in json.dumps(Trace.objects.get().tool_calls)
    assert response.json()["results"][0]["secrets_redacted"] == 2


def test_every_fixture_line_detect_secrets_flags_passes_its_gate():
    from detect_secrets.core.scan import scan_line

    from privacy.secrets import _detect_secrets_configure, _detect_secrets_may_find

    _detect_secrets_configure()
    checked = 0
    for path in sorted((LEAKY / "files").rglob("*")) + sorted((DATA / "detect_secrets").glob("*")):
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if any(secret.secret_value for secret in scan_line(line)):
                checked += 1
                assert _detect_secrets_may_find(line), (path.name, line)
    assert checked >= 25


def test_no_sentence_of_the_presidio_pii_corpus_is_taken_for_a_secret():
    sentences = [row["full_text"] for row in json.loads((DATA.parent / "pii" / "synth_dataset_v2.json").read_text())]

    changed = [text for text in sentences if secrets_redact_text(text)[1]]

    assert len(sentences) == 1500
    assert changed == []  # phone numbers, IBANs, card numbers and SSNs are PII for the scrubber, not secrets


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("auth: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",  # noqa: E501
         "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
        ("use github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV for CI",
         "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"),
        ("publish with npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
        ("maps key AIzaSyD-1234567890abcdefghijklmnopqrstu in the page", "SyD-1234567890abcdefghijklmnopqrstu"),
        ("alerts go to https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/abcdefghijklmnopqrstuvwx",
         "abcdefghijklmnopqrstuvwx"),
        ("my pw is hunter2", "hunter2"),
        ("pw: Tr0ub4dor&3", "Tr0ub4dor&3"),
        ("the door passcode 4821#", "4821#"),
        ("card PIN 7305", "7305"),
        ("your PIN is 0042", "0042"),
        ("log in as admin with s3cretSauce", "s3cretSauce"),
        ("Sign in as root using the password Qw3rty99", "Qw3rty99"),
    ],
)  # fmt: skip
def test_tokens_and_credentials_in_prose_are_redacted_whole(text, secret):
    redacted, count = secrets_redact_text(text)

    assert secret not in redacted
    assert count >= 1


def test_the_user_name_beside_a_password_is_redacted_with_it():
    redacted, _count = secrets_redact_text("DB_USERNAME=nate_admin\nDB_PASSWORD=Sup3rS3cret!")

    assert "nate_admin" not in redacted and "<SECRET:USERNAME>" in redacted


def test_a_user_name_without_a_credential_is_left_alone():
    assert secrets_redact_text("DB_USERNAME=nate_admin\nDB_HOST=localhost") == (
        "DB_USERNAME=nate_admin\nDB_HOST=localhost",
        0,
    )


@pytest.mark.parametrize(
    "text",
    ["The PIN code feature is great", "pin the message to the channel", "reset your password please",
     "Log in to the portal with your badge", "I will pw later", "passcode rotation is monthly"],
)  # fmt: skip
def test_prose_about_credentials_without_one_is_left_alone(text):
    assert secrets_redact_text(text) == (text, 0)


def test_no_xstest_prompt_is_taken_for_a_secret():
    path = Path(__file__).resolve().parents[2] / "rollout" / "data" / "refusal" / "xstest" / "xstest_prompts.csv"
    prompts = [row["prompt"] for row in csv.DictReader(path.open(encoding="utf-8"))]

    assert len(prompts) == 450
    assert [p for p in prompts if secrets_redact_text(p)[1]] == []


def test_no_pandalm_instruction_or_response_is_taken_for_a_secret():
    rows = json.loads((DATA.parent / "preference" / "pandalm" / "testset-v1.json").read_text(encoding="utf-8"))
    texts = [str(r[k]) for r in rows for k in ("instruction", "input", "response1", "response2")]

    assert len(texts) > 3000
    assert [t for t in texts if secrets_redact_text(t)[1]] == []
