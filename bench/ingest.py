"""Ingestion benchmark: the API under gunicorn on PostgreSQL vs raw COPY of the same rows.

    .venv/bin/python bench/ingest.py [--n 20000] [--batch 500] [--threads 4] [--workers 2]

1. creates a fresh database `zeke_rft_bench`, migrates it, creates an agent;
2. serves the app with gunicorn (DEBUG off) on a free port;
3. posts N realistic ~2 KB traces with tool calls, in batches, from a few client
   threads (zeke_rft.client) and reports traces/s;
4. reads the stored rows back, truncates the table and COPYs the same rows in
   with psycopg, reports rows/s and the ratio API/COPY (goal: >= 25%).

Prints figures; not a test. Needs PostgreSQL on 127.0.0.1:5432 (override with --database-url).
"""

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zeke_rft.client import ZekeClient  # noqa: E402 - the agent client has no Django import

FIRST = ["Priya", "Marcus", "Sofia", "Daniel", "Amara", "Tomás", "Wen", "Olga", "Kwame", "Lucía", "Hiro", "Nadia"]
LAST = ["Raman", "Oyelaran", "Lindqvist", "Kim", "Nwosu", "Herrera", "Zhang", "Petrova", "Mensah", "García"]
ROOMS = ["4F-Aurora", "3F-Birch", "2F-Cedar", "Lobby-Pod"]
SERVICES = ["billing-api", "search-indexer", "notifications", "auth-gateway", "media-transcoder"]
TOPICS = ["heat pumps vs gas furnaces", "visiting Kyoto in spring", "index funds vs ETFs", "sourdough hydration"]


def _call(name, args, result, error=None, latency_ms=200):
    return {"name": name, "args": args, "result": result, "error": error, "latency_ms": latency_ms}


def realistic_trace(rng: random.Random, n: int, start: datetime) -> dict:
    """A ~2 KB trace from one of the five specialist areas, with 3-5 tool calls."""
    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    email = person.lower().replace(" ", ".") + "@example.com"
    kind = n % 5
    if kind == 0:
        event = f"evt_{rng.getrandbits(40):010x}"
        day = rng.choice(["Monday", "Tuesday", "Thursday", "Friday"])
        room = rng.choice(ROOMS)
        message = f"Can you move my 3pm sync with {person} to {day} morning and book a room? Let the team know too."
        calls = [
            _call(
                "calendar.search_events",
                {"query": f"sync {person.split()[0]}", "range": "this_week"},
                {
                    "events": [
                        {
                            "id": event,
                            "title": f"Weekly sync - {person} / Nate",
                            "start": "15:00",
                            "attendees": [email, "nate@example.com"],
                        }
                    ]
                },
                latency_ms=rng.randint(120, 400),
            ),
            _call(
                "calendar.find_free_slots",
                {"attendees": [email, "nate@example.com"], "day": day, "duration_minutes": 30, "window": "09:00-12:00"},
                {"slots": ["09:30", "10:00", "11:00"]},
                latency_ms=rng.randint(200, 600),
            ),
            _call(
                "rooms.check_availability",
                {"room": room, "day": day, "start": "09:30", "duration_minutes": 30},
                {"available": True, "capacity": rng.randint(4, 12)},
                latency_ms=rng.randint(80, 200),
            ),
            _call(
                "calendar.update_event",
                {"event_id": event, "day": day, "start": "09:30", "room": room, "notify": True},
                {"status": "updated", "event_id": event},
                latency_ms=rng.randint(150, 400),
            ),
            _call(
                "slack.post_message",
                {"channel": "#design-team", "text": f"Heads up: the sync with {person} moved to {day} 9:30 in {room}."},
                {"ok": True, "ts": f"{rng.random() * 1e9:.6f}"},
                latency_ms=rng.randint(100, 300),
            ),
        ]
        reply = (
            f"Done. Your sync with {person} is now {day} at 9:30 AM in {room}, which is free and seats "
            f"everyone, and I posted a heads-up in #design-team. Want me to draft an agenda?"
        )
        category = "scheduling"
    elif kind == 1:
        phone = f"+1 {rng.randint(200, 999)}-555-{rng.randint(100, 199):04d}"
        failed = rng.random() < 0.1
        message = f"Tell {person} I'm running about fifteen minutes late and ask if we can start with the budget."
        calls = [
            _call(
                "contacts.lookup",
                {"name": person},
                {"name": person, "email": email, "phone": phone, "last_contacted": "2026-11-28"},
                latency_ms=rng.randint(50, 150),
            ),
            _call(
                "messages.compose",
                {"tone": "casual", "points": ["running 15 minutes late", "start with budget"]},
                {"draft": f"Hi {person.split()[0]}, running ~15 min late. Mind starting with the budget?"},
                latency_ms=rng.randint(300, 900),
            ),
            _call(
                "sms.send",
                {"to": phone, "body": f"Hi {person.split()[0]}, running ~15 min late. Mind starting with the budget?"},
                None if failed else {"delivered": True, "message_id": f"sm_{rng.getrandbits(32):08x}"},
                error="RateLimited: 429 too many messages" if failed else None,
                latency_ms=rng.randint(200, 500),
            ),
        ]
        reply = (
            f"I couldn't send the text to {person} (the SMS provider rate-limited us); I'll retry in a minute."
            if failed
            else f"Texted {person}: running about 15 minutes late, and asked to start with the budget."
        )
        category = "communication"
    elif kind == 2:
        service = rng.choice(SERVICES)
        pod = f"{service}-{rng.getrandbits(20):05x}"
        message = f"Why is {service} restarting in prod since this morning? Is it related to yesterday's deploy?"
        calls = [
            _call(
                "k8s.get_pods",
                {"namespace": "prod", "selector": f"app={service}"},
                {"pods": [{"name": pod, "status": "CrashLoopBackOff", "restarts": rng.randint(3, 30)}]},
                latency_ms=rng.randint(300, 900),
            ),
            _call(
                "logs.tail",
                {"pod": pod, "lines": 50},
                {"lines": ["OOMKilled: container exceeded memory limit 512Mi", "GC pause 1.8s"]},
                latency_ms=rng.randint(400, 1500),
            ),
            _call(
                "deploys.list",
                {"service": service, "since": "2026-11-30"},
                {"deploys": [{"sha": f"{rng.getrandbits(28):07x}", "author": person, "at": "2026-11-30T17:20Z"}]},
                latency_ms=rng.randint(100, 300),
            ),
        ]
        reply = (
            f"{service} is in CrashLoopBackOff: it is OOMKilled at its 512Mi limit. Yesterday's deploy by "
            f"{person} added an in-memory cache; raising the limit to 1Gi or capping the cache should fix it."
        )
        category = "ops"
    elif kind == 3:
        topic = rng.choice(TOPICS)
        message = f"Give me a short, sourced summary on {topic}. Three bullet points max, plain language."
        calls = [
            _call(
                "web.search",
                {"q": topic, "n": 5},
                {
                    "results": [
                        {"title": f"A practical guide to {topic}", "url": "https://example.org/guide"},
                        {"title": f"{topic}: what the data says", "url": "https://example.com/data"},
                    ]
                },
                latency_ms=rng.randint(600, 1400),
            ),
            _call(
                "web.fetch",
                {"url": "https://example.org/guide"},
                {"text": f"An overview of {topic}. " * 6},
                latency_ms=rng.randint(500, 2000),
            ),
            _call(
                "web.fetch",
                {"url": "https://example.com/data"},
                {"text": f"Figures and trends on {topic}. " * 5},
                latency_ms=rng.randint(500, 2000),
            ),
        ]
        reply = f"On {topic}: three points, each with its source (example.org/guide, example.com/data). " * 2
        category = "research"
    else:
        fact = rng.choice(["prefers morning meetings", "is vegetarian", "moved to the Austin office", "has a dog"])
        message = f"Remember that {person} {fact}, and remind me of it next time I schedule something with them."
        calls = [
            _call(
                "memory.search",
                {"query": person},
                {"items": [{"key": f"contact:{person}", "value": "colleague"}]},
                latency_ms=rng.randint(30, 90),
            ),
            _call(
                "memory.write",
                {"key": f"contact:{person}:notes", "value": f"{person} {fact}", "tags": ["people", "preferences"]},
                {"ok": True},
                latency_ms=rng.randint(30, 90),
            ),
            _call(
                "reminders.create",
                {"trigger": f"scheduling with {person}", "text": f"{person} {fact}"},
                {"id": f"rem_{rng.getrandbits(32):08x}"},
                latency_ms=rng.randint(50, 150),
            ),
        ]
        reply = f"Noted: {person} {fact}. I'll bring it up the next time you schedule something with them."
        category = "memory"
    if kind in (1, 2, 4):
        reply += " Anything else you want me to take care of while I'm at it?"
    # Some traces talk about credentials (the redaction scanners run), a few hold one (it is replaced).
    if n % 25 == 7:
        message += " Also the API key rotation ran last night and the old auth token was revoked."
    if n % 200 == 13:
        message += " The job uses postgres://etl:Q7v!xk2Lr9@db.internal:5432/warehouse if that helps."
    return {
        "external_id": f"bench-{n:07d}",
        "conversation_id": f"conv-{n // 4:06d}",
        "user_message": message,
        "context": {"timezone": "America/Chicago", "locale": "en-US", "channel": rng.choice(["ios", "web", "sms"]),
                    "user": "nate", "device": "iPhone 15 Pro, ZEKE iOS 5.12.1",
                    "profile": {"name": "Nate Ellis", "home_city": "Chicago", "work_hours": "09:00-18:00"},
                    "history": [f"Earlier today: asked about {rng.choice(TOPICS)}",
                                f"Yesterday: scheduled lunch with {rng.choice(FIRST)} {rng.choice(LAST)}",
                                "Preference: short answers, no emoji, confirm before sending messages"]},
        "selected_tools": [call["name"] for call in calls],
        "tool_calls": calls,
        "final_response": reply,
        "latency_ms": sum(call["latency_ms"] for call in calls) + rng.randint(300, 1200),
        "flags": ["tool_error"] if any(call["error"] for call in calls) else [],
        "policy_id": "gpt-4.1-mini-2025-04-14",
        "task_category": category,
        "occurred_at": (start + timedelta(seconds=n * 3)).isoformat(),
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recreate_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "zeke_rft.wsgi:application", "-b", f"127.0.0.1:{port}"]
        + ["-w", str(workers), "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema/", timeout=2)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit("gunicorn did not start")


def post_all(base_url: str, token: str, traces: list[dict], batch: int, threads: int) -> float:
    batches = [traces[i : i + batch] for i in range(0, len(traces), batch)]

    def send(chunk):
        results = ZekeClient(base_url, token=token, batch_size=batch, timeout=120).post(chunk)
        return sum(1 for result in results if result["status"] == "accepted")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        accepted = sum(pool.map(send, batches))
    elapsed = time.perf_counter() - started
    if accepted != len(traces):
        sys.exit(f"only {accepted} of {len(traces)} traces were accepted")
    return elapsed


def redaction_check(url: str) -> int:
    """How many stored traces had a secret redacted; exits if the planted password was stored."""
    import psycopg

    with psycopg.connect(url) as conn:
        leaked = conn.execute("SELECT count(*) FROM traces_trace WHERE user_message LIKE %s", ["%Q7v!xk2Lr9%"])
        if leaked.fetchone()[0]:
            sys.exit("a planted secret was stored")
        return conn.execute("SELECT count(*) FROM traces_trace WHERE secrets_redacted > 0").fetchone()[0]


def copy_same_rows(url: str) -> tuple[int, float]:
    """Read the rows the API stored, truncate, COPY them back; return (rows, seconds for the COPY)."""
    import psycopg

    with psycopg.connect(url) as conn:
        query = "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position"
        columns = [row[0] for row in conn.execute(query, ["traces_trace"])]
        select = ", ".join(f'"{column}"::text' for column in columns)
        rows = conn.execute(f"SELECT {select} FROM traces_trace ORDER BY id").fetchall()
        conn.execute("TRUNCATE traces_trace CASCADE")
        conn.commit()
        quoted = ", ".join(f'"{column}"' for column in columns)
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(f"COPY traces_trace ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="traces to post (default 20,000)")
    parser.add_argument("--batch", type=int, default=500, help="traces per POST (default 500)")
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads (default 4)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: CPUs)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432", help="server, no db name")
    parser.add_argument("--database", default="zeke_rft_bench")
    args = parser.parse_args()

    url = f"{args.database_url.rstrip('/')}/{args.database}"
    recreate_database(f"{args.database_url.rstrip('/')}/postgres", args.database)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-not-secret",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",  # plain http on loopback, no proxy in front
        "CELERY_BROKER_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "LOG_LEVEL": "WARNING",
    }
    manage(env, "migrate", "--noinput", "-v", "0")
    token = manage(env, "create_agent", "bench-agent").strip().splitlines()[-1]

    rng = random.Random(42)
    start = datetime(2026, 11, 30, tzinfo=UTC)
    traces = [realistic_trace(rng, n, start) for n in range(args.n)]
    average = sum(len(json.dumps(trace)) for trace in traces) / len(traces)

    port = free_port()
    server = start_gunicorn(env, port, args.workers)
    try:
        api_seconds = post_all(f"http://127.0.0.1:{port}", token, traces, args.batch, args.threads)
    finally:
        server.terminate()
        server.wait(timeout=30)
    redacted = redaction_check(url)
    rows, copy_seconds = copy_same_rows(url)

    api_rate, copy_rate = args.n / api_seconds, rows / copy_seconds
    print(f"traces: {args.n:,} x ~{average / 1024:.1f} KB, batches of {args.batch}, {args.threads} client threads, "
          f"gunicorn {args.workers} workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(other work on the machine slows the API phase more than the short COPY)")  # fmt: skip
    print(f"API  (POST /api/traces/): {api_rate:9,.0f} traces/s  ({api_seconds:.2f} s)")
    print(f"COPY (psycopg, same rows): {copy_rate:9,.0f} rows/s    ({copy_seconds:.2f} s)")
    print(f"API / COPY: {api_rate / copy_rate:.1%}  (goal >= 25%)")
    print(f"secrets redacted on the way in: {redacted} traces (planted in {len(range(13, args.n, 200))})")


if __name__ == "__main__":
    main()
