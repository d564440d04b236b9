import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser (no `playwright install` on these machines)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session", autouse=True)
def _scrubber_loaded():
    """Load the privacy engine before the browser clicks: the first submission scrubs what the reviewer typed,
    and loading spaCy and the name lists takes seconds on a loaded machine (longer than a step's wait)."""
    from privacy.scrub import reviewer_texts_scrub

    reviewer_texts_scrub(texts={"correction": "Booked with Maria Lopez in New York", "rationale": "ok <PERSON>"})
