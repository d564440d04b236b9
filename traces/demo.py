"""Demo data for the traces stage: a demo admin, a demo agent and a few dozen realistic traces.

Run by `manage.py load_demo` (first of the stages). Idempotent: the admin and
agent are reused, the traces have fixed external_ids (a rerun stores none
again). The agent's token is rotated on every run, since only its hash is kept:
the token printed is always one that works.
"""

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from traces.models import Agent
from traces.serializers import trace_input_check
from traces.services import agent_create, agent_rotate_token, agent_update, traces_ingest

DEMO_ADMIN = ("admin", "admin")
DEMO_AGENT = "conductor-demo"

PEOPLE = [
    ("Priya Raman", "priya.raman@example.com", "+1 312-555-0148"),
    ("Marcus Oyelaran", "marcus.o@example.org", "(415) 555-0192"),
    ("Sofia Lindqvist", "sofia.lindqvist@example.net", "+1 646-555-0117"),
    ("Daniel Kim", "dkim@example.com", "206-555-0135"),
    ("Amara Nwosu", "amara.nwosu@example.com", "+1 512-555-0163"),
    ("Tomás Herrera", "tomas.herrera@example.com", "(305) 555-0178"),
]
ADDRESSES = ["1428 Elm Street, Springfield, IL 62704", "77 Harbor View Rd, Apt 5B, Portland, ME 04101"]
CARD = "4111 1111 1111 1111"


def _call(name, args, result=None, error=None, latency_ms=200):
    return {"name": name, "args": args, "result": result, "error": error, "latency_ms": latency_ms}


MEETINGS = ["1:1", "design review", "quarterly planning", "coffee chat", "budget sync", "interview debrief",
            "onboarding session", "vendor call", "roadmap review", "retro", "board prep",
            "offsite planning"]  # fmt: skip
DAYS = ["Thursday", "Friday", "Monday", "Tuesday", "Wednesday"]
NOTES = ["I'm running 10 minutes late", "the slides are in the shared drive", "dinner moved to 7:30",
         "I can't make standup tomorrow", "the contract is signed", "please bring the projector adapter",
         "my flight lands at 6:40pm", "we're meeting in the lobby instead", "happy birthday from all of us",
         "the invoice went out this morning", "the parking garage is closed today",
         "I'll call after the keynote"]  # fmt: skip
INCIDENTS = [
    ("billing-api", "restarting in prod", "OOMKilled: container exceeded memory limit 512Mi",
     "it is OOMKilled at its 512Mi limit; raise the limit to 1Gi or fix the cache growth"),
    ("search-indexer", "lagging behind", "consumer lag 48213 messages on partition 7",
     "partition 7 is 48k messages behind after a rebalance; add a consumer or restart the stuck one"),
    ("notifications", "returning 502s", "upstream connect error: connection refused (smtp-relay:587)",
     "the SMTP relay refuses connections; its certificate expired at midnight"),
    ("auth-gateway", "slow since the deploy", "p99 latency 2.8s on /session (was 180ms)",
     "the new release calls the user service twice per request; roll back or enable the cache flag"),
    ("media-transcoder", "failing health checks", "healthz timeout after 5s: GPU queue depth 311",
     "the GPU queue is saturated; scale the node pool from 2 to 4"),
]  # fmt: skip
TOPICS = ["heat pumps vs gas furnaces", "the best time to visit Kyoto", "RFT vs DPO for tool use",
          "index funds vs target-date funds", "sourdough hydration ratios", "e-bike commuting in winter",
          "how jet lag recovery works", "solar panel payback periods", "learning piano as an adult",
          "the new EU AI Act obligations", "composting in an apartment", "how credit scores are computed"]  # fmt: skip
FACTS = ["is allergic to peanuts", "prefers calls after 10am", "switched to the platform team",
         "is vegetarian", "has a standing Friday lunch with the founders", "is out on leave until March",
         "likes the window seat", "goes by Sam, not Samantha", "is in the Lisbon office now"]  # fmt: skip


def _scheduling(person, rng, n):
    name, email, _phone = person
    k = n // 5
    meeting, day = MEETINGS[k % len(MEETINGS)], DAYS[k % len(DAYS)]
    failed = (n // 5) % 3 == 2  # every third scheduling trace hits a calendar outage
    calls = [
        _call(
            "calendar.search_events",
            {"query": name.split()[0], "range": "this_week"},
            {"events": [{"id": f"evt_{n:04x}", "title": f"{meeting} with {name}", "start": "15:00"}]},
            latency_ms=180,
        ),
        _call(
            "calendar.find_free_slots",
            {"attendees": [email], "day": day, "duration_minutes": 30},
            None if failed else {"slots": ["09:30", "10:00", "14:30"]},
            error="CalendarAPIError: 503 upstream timeout" if failed else None,
            latency_ms=4100 if failed else 390,
        ),
    ]
    if failed:
        reply = f"I couldn't reach the calendar to find a slot for the {meeting} with {name} on {day}. Retry?"
    else:
        calls.append(
            _call(
                "calendar.update_event",
                {"event_id": f"evt_{n:04x}", "day": day, "start": "09:30"},
                {"status": "updated"},
                latency_ms=260,
            )
        )
        reply = f"Done — your {meeting} with {name} moved to {day} at 9:30 AM and they've been notified at {email}."
    return {
        "task_category": "scheduling",
        "user_message": f"Can you move my 3pm {meeting} with {name} to {day} morning?",
        "selected_tools": [c["name"] for c in calls],
        "tool_calls": calls,
        "final_response": reply,
        "flags": ["tool_error"] if failed else [],
    }


def _messaging(person, rng, n):
    name, email, phone = person
    channel = rng.choice(["sms", "email", "slack"])
    note = NOTES[(n // 5) % len(NOTES)]
    failed = (n // 5) % 3 == 1
    target = phone if channel == "sms" else email
    calls = [
        _call("contacts.lookup", {"name": name}, {"name": name, "email": email, "phone": phone}, latency_ms=90),
        _call(
            f"{channel}.send",
            {"to": target, "body": note[0].upper() + note[1:] + "."},
            None if failed else {"delivered": True},
            error="RateLimited: 429 too many messages" if failed else None,
            latency_ms=300,
        ),
    ]
    return {
        "task_category": "communication",
        "user_message": f"Text {name} that {note}" if channel == "sms" else f"Let {name} know that {note}",
        "selected_tools": [c["name"] for c in calls],
        "tool_calls": calls,
        "final_response": f"The message to {name} ({note}) didn't go through: rate limited. I'll retry in a minute."
        if failed
        else f"Sent to {name} at {target}: “{note[0].upper() + note[1:]}.”",
        "flags": ["tool_error"] if failed else [],
    }


def _ops(_person, rng, n):
    service, symptom, log_line, diagnosis = INCIDENTS[(n // 5) % len(INCIDENTS)]
    env = ("prod", "staging", "canary")[(n // 5) // len(INCIDENTS) % 3]
    slow = (n // 5) % 4 == 3
    calls = [
        _call(
            "k8s.get_pods",
            {"namespace": env, "selector": f"app={service}"},
            {"pods": [{"name": f"{service}-7d9f", "status": "CrashLoopBackOff", "restarts": 12}]},
            latency_ms=650,
        ),
        _call(
            "logs.tail",
            {"pod": f"{service}-7d9f", "lines": 50},
            {"lines": [log_line]},
            latency_ms=31000 if slow else 820,
        ),
    ]
    return {
        "task_category": "ops",
        "user_message": f"Why is {service} {symptom} in {env}?",
        "selected_tools": [c["name"] for c in calls],
        "tool_calls": calls,
        "final_response": f"In {env}, {service}: {diagnosis}. Want me to open a change for it?",
        "latency_ms": 33000 if slow else 2400,
        "flags": ["timeout"] if slow else [],
    }


def _research(_person, rng, n):
    topic = TOPICS[(n // 5) % len(TOPICS)]
    return {
        "task_category": "research",
        "user_message": f"Give me a quick summary on {topic}, with sources.",
        "selected_tools": ["web.search", "web.fetch"],
        "tool_calls": [
            _call(
                "web.search",
                {"q": topic, "n": 5},
                {"results": [{"title": f"A guide to {topic}", "url": "https://example.org/guide"}]},
                latency_ms=900,
            ),
            _call(
                "web.fetch", {"url": "https://example.org/guide"}, {"text": f"… overview of {topic} …"}, latency_ms=1300
            ),
        ],
        "final_response": f"Here's the short version on {topic}: three key points, each with its source "
        "(example.org/guide). Want the longer comparison?",
    }


def _memory(person, rng, n):
    name, _email, _phone = person
    k = n // 5
    if k % 3 == 0:  # some carry an address (PII for the filter)
        fact = f"'s new address is {ADDRESSES[k % len(ADDRESSES)]}"
    else:
        fact = " " + FACTS[k % len(FACTS)]
    return {
        "task_category": "memory",
        "user_message": f"Remember that {name.split()[0]}{fact}.",
        "selected_tools": ["memory.write"],
        "tool_calls": [
            _call(
                "memory.write",
                {"key": f"contact:{name.lower().replace(' ', '_')}:notes", "value": f"{name}{fact}"},
                {"ok": True},
                latency_ms=45,
            )
        ],
        "final_response": f"Got it — I'll remember that {name}{fact}.",
    }


def _with_secret(kind):
    if kind == "db":
        return {
            "task_category": "ops",
            "user_message": "The reporting job can't connect. Here's the config: "
            "DATABASE_URL=postgres://report_user:Xk9#mPq2vLr@db.internal:5432/reports",
            "selected_tools": ["db.ping"],
            "tool_calls": [
                _call(
                    "db.ping",
                    {"dsn": "postgres://report_user:Xk9#mPq2vLr@db.internal:5432/reports"},
                    None,
                    error="password authentication failed for user report_user",
                    latency_ms=120,
                )
            ],
            "final_response": "The database rejected the password for report_user. Rotate it in the vault, "
            "and please don't paste credentials in chat — I've redacted them.",
            "flags": ["tool_error"],
        }
    return {
        "task_category": "ops",
        "user_message": "Use my AWS key AKIAIOSFODNN7EXAMPLE with secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "
        "to list the backup bucket.",
        "selected_tools": ["aws.s3.list"],
        "tool_calls": [
            _call(
                "aws.s3.list",
                {"bucket": "zeke-backups", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
                {"objects": 214},
                latency_ms=700,
            )
        ],
        "final_response": "The backup bucket has 214 objects. Note: keys pasted in chat should be rotated.",
    }


def _with_card(person):
    name, email, _phone = person
    return {
        "task_category": "communication",
        "user_message": f"Book the team dinner for Friday and pay with my card {CARD}, exp 09/28, "
        f"send the receipt to {email}.",
        "selected_tools": ["restaurants.book"],
        "tool_calls": [
            _call(
                "restaurants.book",
                {"party": 8, "day": "Friday", "name": name},
                {"confirmation": "R-55810"},
                latency_ms=1500,
            )
        ],
        "final_response": f"Booked for 8 on Friday (confirmation R-55810); the receipt goes to {email}. "
        "I won't store the card number.",
    }


SCENARIOS = (_scheduling, _messaging, _ops, _research, _memory)


def demo_traces(now=None) -> list[dict]:
    """About sixty traces across the five specialist areas, spread over the last four days."""
    rng = random.Random(20261201)
    now = now or timezone.now()
    traces = []
    for n in range(60):
        person = PEOPLE[n % len(PEOPLE)]
        trace = SCENARIOS[n % len(SCENARIOS)](person, rng, n)
        traces.append(trace)
    traces += [_with_secret("db"), _with_secret("aws"), _with_card(PEOPLE[0])]
    for n, trace in enumerate(traces):
        trace.setdefault("latency_ms", sum(c["latency_ms"] or 0 for c in trace["tool_calls"]) + rng.randint(300, 900))
        trace.setdefault("flags", [])
        trace.update(
            external_id=f"demo-{n:03d}",
            conversation_id=f"demo-conv-{n // 3:03d}",
            context={"timezone": "America/Chicago", "channel": rng.choice(["ios", "web", "sms"]), "user": "nate"},
            policy_id="gpt-4.1-mini-2025-04-14",
            occurred_at=(now - timedelta(hours=1 + n * 1.5)).isoformat(),
            rollout_id=None,
            arm="",
        )
    return traces


def _demo_admin(stdout) -> None:
    username, password = DEMO_ADMIN
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
    )
    # A demo login that always works: the password is reset to the demo one on every run.
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    stdout.write(f"Demo admin: http://127.0.0.1:8000/admin/  user {username!r}  password {password!r}")


def demo_load(*, stdout) -> None:
    _demo_admin(stdout)
    agent = Agent.objects.filter(name=DEMO_AGENT).first()
    if agent is None:
        agent, token = agent_create(name=DEMO_AGENT, modality="chat")
    else:
        if not agent.active:
            agent = agent_update(
                agent=agent, name=agent.name, modality=agent.modality, active=True, reason="demo: reactivated"
            )
        token = agent_rotate_token(agent=agent, reason="demo: token rotated (make run prints it)")
    checked = []
    for trace in demo_traces():
        clean, errors, _ignored = trace_input_check(trace)
        assert not errors, errors  # the demo must be valid input
        checked.append(clean)
    results = traces_ingest(agent=agent, traces=checked)
    accepted = sum(1 for result in results if result["status"] == "accepted")
    secrets = sum(result.get("secrets_redacted", 0) for result in results)
    already = len(results) - accepted
    stdout.write(f"Demo traces: {accepted} new, {already} already there ({secrets} secrets redacted on the way in)")
    stdout.write(f"Demo agent {DEMO_AGENT!r} token (rotated on each run; only this one works now): {token}")
