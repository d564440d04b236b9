"""Environment for the test run, loaded before Django (`-p tests.environment` in pytest.ini).

Tests run with DEBUG off, as production does, over plain http on `testserver`/`localhost`, so
they need a SECRET_KEY and ALLOWED_HOSTS. They are set here, for the test process and the
workers it starts, and only when the environment has none: settings.py keeps refusing to
start without them (tests/test_settings.py checks that in a subprocess).
"""

import os

TEST_ENVIRONMENT = {
    "SECRET_KEY": "tests-only-secret-key-never-used-in-production-0123456789abcdef",
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    # Plain http: the test client and the live server have no TLS in front of them.
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
}

for _name, _value in TEST_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)
