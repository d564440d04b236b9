"""Secret redaction at ingestion: API keys, tokens, passwords, private keys and
connection strings with credentials become typed placeholders such as
`<SECRET:AWS_KEY>` before a trace is written. Secrets are never stored.

Detection is detect-secrets' regex plugins plus its KeywordDetector (run in
memory through `scan_line`), with a few patterns of ours for what those plugins
miss in free text and JSON: multi-line PEM/PuTTY private keys, `scheme://user:
pass@host` URLs, `Bearer`/`Basic` credentials, crypt(3) password hashes,
`password is …` in prose, and values under secret-sounding keys
(`"password": "…"`, `DB_PASSWORD=…`, `<Pass>…</Pass>`), and the result of a tool
call that read a key file (`config/master.key`).

Every ingested string passes through here, so a cheap pre-check decides first
whether a string could hold a secret at all; most never reach the scanners.
"""

import json
import re
import threading

PLACEHOLDER_RE = re.compile(r"<SECRET:[A-Z_]+>")

# detect-secrets plugins: the regex detectors and KeywordDetector. The two
# high-entropy plugins flag any quoted commit SHA, ETag or md5 in a tool result
# (the same entropy as a key) and still miss an unquoted bare key; a public IP is
# not a secret.
DETECT_SECRETS_PLUGINS = [
    "ArtifactoryDetector",
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "JwtTokenDetector",
    "KeywordDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
]
# The library's default filters minus `is_line_allowlisted`: a `pragma: allowlist
# secret` comment in a user's message must not let a secret through.
DETECT_SECRETS_FILTERS = [
    "detect_secrets.filters.heuristic.is_sequential_string",
    "detect_secrets.filters.heuristic.is_potential_uuid",
    "detect_secrets.filters.heuristic.is_likely_id_string",
    "detect_secrets.filters.heuristic.is_templated_secret",
    "detect_secrets.filters.heuristic.is_prefixed_with_dollar_sign",
    "detect_secrets.filters.heuristic.is_indirect_reference",
    "detect_secrets.filters.heuristic.is_not_alphanumeric_string",
]

PLUGIN_PLACEHOLDERS = {
    "AWS Access Key": "AWS_KEY",
    "Artifactory Credentials": "API_KEY",
    "Azure Storage Account access key": "API_KEY",
    "Basic Auth Credentials": "CONNECTION_STRING",
    "Cloudant Credentials": "API_KEY",
    "Discord Bot Token": "TOKEN",
    "GitHub Token": "GITHUB_TOKEN",
    "GitLab Token": "TOKEN",
    "IBM Cloud IAM Key": "API_KEY",
    "IBM COS HMAC Credentials": "API_KEY",
    "JSON Web Token": "JWT",
    "Mailchimp Access Key": "API_KEY",
    "NPM tokens": "TOKEN",
    "OpenAI Token": "API_KEY",
    "Private Key": "PRIVATE_KEY",
    "PyPI Token": "TOKEN",
    "SendGrid API Key": "API_KEY",
    "Slack Token": "SLACK_TOKEN",
    "SoftLayer Credentials": "API_KEY",
    "Square OAuth Secret": "API_KEY",
    "Stripe Access Key": "STRIPE_KEY",
    "Telegram Bot Token": "TOKEN",
    "Twilio API Key": "API_KEY",
}

# The pre-check: a string with none of these cannot match any detector below
# (each detector's pattern needs one of them), so it skips scanning. Keep in step
# with the plugins: tests/privacy/test_secrets.py checks every fixture secret
# passes this gate. Substring tests on the lowercased text are ~10x cheaper than
# one case-insensitive regex.
# Two levels: a first substring that is cheap to test, then the specific words it stands for
# (None: the first substring is enough). Fewer scans of the text than one flat list.
TRIGGER_WORDS = {
    "pass": ("password", "passwd", "passphrase", "passcode", 'pass"', "pass'", "pass=", "pass:", "pass>", "_pass",
             "pass_"),
    "pwd": None, "secret": None, "token": None, "credential": None, "bearer": None, "basic ": None,
    "auth": ('auth"', "auth'", "auth=", "auth:", "_auth", "auth_", "authkey", "authorization"),
    "key": ("_key", "-key", ".key", "apikey", "api key", "accesskey", "access key", "privatekey", "private key",
            "masterkey", "appkey", "clientkey", "accountkey"),
    "$": ("$2a$", "$2b$", "$2x$", "$2y$", "$1$", "$5$", "$6$", "$apr1$", "$y$", "$argon2"),
    "-----begin": None, "putty": None, "contrase": None, "k_live_": None, "xox": None, "hooks.slack": None,
    "pypi-": None, "sq0csp-": None, "gr1348941": None, "github_pat_": None, "npm_": None,
}  # fmt: skip
# Grouped by a literal first character, so `re` can skip ahead to it; one alternation of them
# all is ~8x slower. Looser than the detectors on purpose.
CASE_SENSITIVE_TRIGGER_RES = tuple(
    re.compile(pattern)
    for pattern in (
        r"A(?:3T[A-Z0-9]|BIA|CCA|KIA|SIA|KC[a-zA-Z0-9]{10}|P[0-9A-F][a-zA-Z0-9]{8}|C[a-z0-9]{32}|ccountKey)",
        r"S(?:K[a-z0-9]{32}|G\.)", "eyJ", r"g(?:h[pousr]_|l[a-z]{2,6}-)", r"-us[0-9]", r"sk-[\w-]{20}",
        r":(?:[\w-]{35}|[0-9]{1,5}:[^:\s\"',]+:[^:\s\"',]+:|//[^\s/@\"']*@)", r"\.[\w-]{6}\.[\w-]{27}",
        r"AIza[\w-]{30}", r"(?i:\b(?:pw|pin|log ?in as|sign ?in as|ssh (?:in)?to)\b)",
    )
)  # fmt: skip


def secrets_may_contain(text: str) -> bool:
    """False when `text` cannot hold anything the detectors find (the cheap pre-check)."""
    # JSON text inside a JSON string (a tool returning a config file) reaches here escaped: auth\\" for auth".
    lower = text.lower().replace('\\"', '"')
    for first, words in TRIGGER_WORDS.items():
        if first in lower and (words is None or any(word in lower for word in words)):
            return True
    return any(pattern.search(text) for pattern in CASE_SENSITIVE_TRIGGER_RES)


PRIVATE_KEY_BLOCK_RE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.*?-----END \1PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=:\-,\s]*)",
    re.DOTALL,
)
PUTTY_KEY_RE = re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC: *[0-9a-fA-F]+|\Z)", re.DOTALL)
# scheme://user:password@host[...] up to whitespace or a quote; the user part may itself hold an @.
CONNECTION_STRING_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/'\"<>]*:[^\s/'\"<>]*@[^\s'\"<>]+")
AUTH_HEADER_RE = re.compile(r"\b(Bearer|Basic|Token)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)")
PASSWORD_HASH_RE = re.compile(r"\$(?:2[abxy]?|[156]|apr1|y|argon2i?d?)\$[^\s:'\"<>,;]{8,}")
OPENAI_STYLE_KEY_RE = re.compile(r"\bsk-(?:proj-|ant-|live-)?[A-Za-z0-9_\-]{20,}")
# detect-secrets' GitHub and GitLab detectors report only the prefix ("ghp") as the secret: match whole tokens here.
GITHUB_TOKEN_RE = re.compile(r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{20,}")
GITLAB_TOKEN_RE = re.compile(r"\b(?:gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941)[A-Za-z0-9_\-]{20,}")
# A whole JWT (header.payload.signature): detect-secrets reports only part of it.
JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{8,}")
NPM_TOKEN_RE = re.compile(r"\bnpm_[A-Za-z0-9]{30,}")
GOOGLE_API_KEY_RE = re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")
SLACK_WEBHOOK_RE = re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]+")
PROSE_PASSWORD_RE = re.compile(
    r"\b(password|passwd|passcode|passphrase|pwd|pw|pass code|pin(?: code| number)?)"
    r"(\s*(?:is|was|=|:|->|of)\s*[\"'`]?)([^\s\"'`,;]{3,})",
    re.IGNORECASE,
)
# "pw hunter2", "passcode 4821", "PIN 1234": no "is" or ":", so the value must look like one (a digit or symbol).
PROSE_BARE_PASSWORD_RE = re.compile(
    r"\b(password|passwd|passcode|pw|pwd|pin(?: code)?)(\s+[\"'`]?)"
    r"(?=[^\s\"'`,;]*[0-9!@#$%^&*+=?~])([^\s\"'`,;]{4,})",
    re.IGNORECASE,
)
# "log in as admin with hunter2", "sign in as root using p@ss": the credential after with/using.
LOGIN_WITH_RE = re.compile(
    r"\b((?:log ?in|sign ?in|ssh(?: in)?(?:to)?|authenticate|connect)\s+(?:as|to)\s+[\"'`]?[^\s\"'`]+[\"'`]?\s+"
    r"(?:with|using)\s+(?:(?:the\s+)?(?:password|passcode|pw|pin|key)\s+)?[\"'`]?)([^\s\"'`,;]{3,})",
    re.IGNORECASE,
)
# "secret wJalrX…", "api key: 9f8e…", "token abc123…": a credential-looking word (16+ characters, letters
# and digits) right after a secret-sounding word, in prose.
PROSE_CREDENTIAL_RE = re.compile(
    r"\b(secret(?:[ _-]?key)?|api[ _-]?key|access[ _-]?key|private[ _-]?key|token|password|passphrase)"
    r"(\s+(?:is\s+|=\s*|:\s*)?[\"'`]?|\s*[:=]\s*[\"'`]?)"
    r"(?=[A-Za-z/+_.=\-]*[0-9])(?=[0-9/+_.=\-]*[A-Za-z])([A-Za-z0-9/+_\-.=]{16,})",
    re.IGNORECASE,
)
# Words that follow "password is" in ordinary prose ("your password is incorrect").
PROSE_STOPWORDS = frozenset(
    "incorrect wrong invalid required expired missing empty too not the a an your my his her their our being "
    "still correct reset changed set updated weak strong short long case sensitive stored saved hidden "
    "protected needed optional same different now already also only just very what that this there here "
    "managed shared encrypted hashed".split()
)

# key = value / key: value pairs in text: quoted values anywhere ("pass": "x", password "x"),
# key=value anywhere (env files, query strings), key: value at a line's start (YAML, INI).
QUOTED_PAIR_RE = re.compile(
    r"(?P<key>[A-Za-z_][\w.\-]{0,60})[\"']?(?:[ \t]*(?:=|:|=>|:=)[ \t]*|[ \t]+)(?P<q>[\"'])(?P<value>[^\"'\n]*)(?P=q)"
)
UNQUOTED_PAIR_RE = re.compile(
    r"(?<![\w.\-])(?P<key>[A-Za-z_][\w.\-]{0,60})[ \t]*=[ \t]*(?P<value>[^\s&,;'\"<>()\[\]{}]+)"
)
CONFIG_LINE_RE = re.compile(
    r"^[ \t]*(?:export[ \t]+|set[ \t]+|- )?[\"']?(?P<key>[A-Za-z_][\w.\-]{0,80})[\"']?[ \t]*:[ \t]*"
    r"(?P<value>[^\s#;\"'](?:[^\n\"']*?[^\s\"'])?)(?=[ \t]+[#;]|[ \t]*$)",
    re.MULTILINE,
)
# .netrc ("machine h login u password p") and .pgpass ("host:port:db:user:password") lines.
NETRC_RE = re.compile(r"(?P<lead>\b(?:login|user)\s+\S+\s+password\s+)(?P<value>\S+)")
PGPASS_RE = re.compile(r"^(?P<lead>[^:\s#]+:\d{1,5}:[^:\s\"',]+:[^:\s\"',]+:)(?P<value>\S+)$", re.MULTILINE)
XML_ELEMENT_RE = re.compile(r"<(?P<key>[A-Za-z_][\w.\-]*)(?:\s[^<>]*)?>(?P<value>[^<>\n]+)</(?P=key)>")

SECRET_KEY_WORDS = {
    "password": "PASSWORD",
    "passwd": "PASSWORD",
    "pass": "PASSWORD",
    "passphrase": "PASSWORD",
    "passcode": "PASSWORD",
    "pwd": "PASSWORD",
    "secret": "SECRET",
    "token": "TOKEN",
    "auth": "TOKEN",
    "authorization": "TOKEN",
    "bearer": "TOKEN",
    "credential": "PASSWORD",
    "credentials": "PASSWORD",
    "apikey": "API_KEY",
    "privatekey": "PRIVATE_KEY",
}
SECRET_KEY_PAIRS = {
    ("api", "key"): "API_KEY",
    ("access", "key"): "API_KEY",
    ("secret", "key"): "API_KEY",
    ("private", "key"): "PRIVATE_KEY",
    ("master", "key"): "API_KEY",
    ("account", "key"): "API_KEY",
    ("app", "key"): "API_KEY",
    ("client", "key"): "API_KEY",
}
# A key with one of these names a property of a secret, not the secret itself.
NOT_SECRET_KEY_WORDS = frozenset(
    "count max min limit length field fields type types url uri path file name changed created used expires "
    "expiry expired expiration at id ids policy required reset hint prompt strength usage tokens enabled"
    " encoding".split()
)
NON_SECRET_VALUES = frozenset("true false null none yes no on off required optional bearer basic token digest".split())
KEY_SPLIT_RE = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")

_configure_lock = threading.Lock()
_configured = False


def _detect_secrets_configure() -> None:
    """Enable our plugins and filters in detect-secrets' process-global settings, once per process."""
    global _configured
    if _configured:
        return
    with _configure_lock:
        if _configured:
            return
        from detect_secrets.settings import cache_bust, configure_settings_from_baseline, get_settings

        cache_bust()
        configure_settings_from_baseline(
            {
                "plugins_used": [{"name": name} for name in DETECT_SECRETS_PLUGINS],
                "filters_used": [{"path": path} for path in DETECT_SECRETS_FILTERS],
            }
        )
        # scan_line() drops this filter on every call; drop it now so those calls never change the
        # shared settings while another thread reads them.
        get_settings().disable_filters("detect_secrets.filters.common.is_invalid_file")
        _configured = True


def secret_key_kind(key: str) -> str | None:
    """The placeholder kind for a value stored under `key` ("DB_PASSWORD" → "PASSWORD"), or None."""
    words = [word.lower() for word in KEY_SPLIT_RE.split(key) if word]
    if not words or NOT_SECRET_KEY_WORDS.intersection(words):
        return None
    for pair in zip(words, words[1:], strict=False):
        if pair in SECRET_KEY_PAIRS:
            return SECRET_KEY_PAIRS[pair]
    for word in reversed(words):
        if word in SECRET_KEY_WORDS:
            return SECRET_KEY_WORDS[word]
    return None


def _is_secret_value(value: str) -> bool:
    value = value.strip()
    if len(value) < 3 or value.lower() in NON_SECRET_VALUES or PLACEHOLDER_RE.search(value):
        return False
    if set(value) <= set("*•x.-_ "):
        return False
    # References to a secret, not the secret: $VAR, ${VAR}, {{ var }}, %(var)s, <your-password>
    return not re.fullmatch(r"\$\{?[\w.]+\}?|\{\{.*\}\}|%\(\w+\)s|<[^<>]+>|\[[^\[\]]+\]", value)


def secrets_redact_text(text: str) -> tuple[str, int]:
    """Replace every secret in `text` with a typed placeholder; return the new text and how many."""
    if not text or not secrets_may_contain(text):
        return text, 0
    count = 0

    def sub(pattern, replacement, value):
        nonlocal count
        value, n = pattern.subn(replacement, value)
        count += n
        return value

    text = sub(PRIVATE_KEY_BLOCK_RE, "<SECRET:PRIVATE_KEY>", text)
    text = sub(PUTTY_KEY_RE, "<SECRET:PRIVATE_KEY>", text)
    text = sub(CONNECTION_STRING_RE, "<SECRET:CONNECTION_STRING>", text)
    text = sub(AUTH_HEADER_RE, lambda m: f"{m[1]}{m[2]}<SECRET:{'BASIC_AUTH' if m[1] == 'Basic' else 'TOKEN'}>", text)
    text = sub(PASSWORD_HASH_RE, "<SECRET:PASSWORD_HASH>", text)
    text = sub(OPENAI_STYLE_KEY_RE, "<SECRET:API_KEY>", text)
    text = sub(GITHUB_TOKEN_RE, "<SECRET:GITHUB_TOKEN>", text)
    text = sub(GITLAB_TOKEN_RE, "<SECRET:TOKEN>", text)
    text = sub(JWT_RE, "<SECRET:JWT>", text)
    text = sub(NPM_TOKEN_RE, "<SECRET:TOKEN>", text)
    text = sub(GOOGLE_API_KEY_RE, "<SECRET:API_KEY>", text)
    text = sub(SLACK_WEBHOOK_RE, "<SECRET:SLACK_WEBHOOK>", text)
    text, n = _redact_pairs(text)
    count += n
    text, n = _redact_with_detect_secrets(text)
    return text, count + n


def _redact_pairs(text: str) -> tuple[str, int]:
    """Values under secret-sounding keys, in config lines, quoted pairs, XML elements and prose."""
    count = 0

    def keyed(match):
        nonlocal count
        kind = secret_key_kind(match["key"])
        if kind is None or not _is_secret_value(match["value"]):
            return match[0]
        count += 1
        start, end = match.span("value")
        offset = match.start()
        return match[0][: start - offset] + f"<SECRET:{kind}>" + match[0][end - offset :]

    def prose(match):
        nonlocal count
        value = match[3].rstrip(".!?)")
        if value.lower() in PROSE_STOPWORDS or not _is_secret_value(value):
            return match[0]
        count += 1
        return f"{match[1]}{match[2]}<SECRET:PASSWORD>{match[3][len(value) :]}"

    def credential(match):
        nonlocal count
        if PLACEHOLDER_RE.search(match[0]):
            return match[0]
        count += 1
        return f"{match[1]}{match[2]}<SECRET:{secret_key_kind(match[1]) or 'SECRET'}>"

    def login(match):
        nonlocal count
        value = match[2].rstrip(".!?)")
        if value.lower() in PROSE_STOPWORDS or not _is_secret_value(value):
            return match[0]
        count += 1
        return f"{match[1]}<SECRET:PASSWORD>{match[2][len(value) :]}"

    def positional(match):
        nonlocal count
        count += 1
        return f"{match['lead']}<SECRET:PASSWORD>"

    for pattern in (QUOTED_PAIR_RE, UNQUOTED_PAIR_RE, CONFIG_LINE_RE, XML_ELEMENT_RE):
        text = pattern.sub(keyed, text)
    text = NETRC_RE.sub(positional, text)
    text = PGPASS_RE.sub(positional, text)
    text = PROSE_PASSWORD_RE.sub(prose, text)
    text = PROSE_BARE_PASSWORD_RE.sub(prose, text)
    text = LOGIN_WITH_RE.sub(login, text)
    text = PROSE_CREDENTIAL_RE.sub(credential, text)
    if count:
        text, n = _redact_usernames(text)
        count += n
    return text, count


USERNAME_KEY_WORDS = frozenset({"user", "username", "login", "identity", "uid", "userid"})


def username_key(key: str) -> bool:
    """A key naming the user half of a credential (DB_USERNAME, <User>, "username", identity)."""
    words = [word.lower() for word in KEY_SPLIT_RE.split(key) if word]
    return bool(words) and (words[-1] in USERNAME_KEY_WORDS or "".join(words[-2:]) in USERNAME_KEY_WORDS)


def _redact_usernames(text: str) -> tuple[str, int]:
    """In text that held a credential, the user names beside it are its other half: redacted too."""
    count = 0

    def keyed(match):
        nonlocal count
        if not username_key(match["key"]) or not _is_secret_value(match["value"]):
            return match[0]
        count += 1
        start, end = match.span("value")
        offset = match.start()
        return match[0][: start - offset] + "<SECRET:USERNAME>" + match[0][end - offset :]

    for pattern in (QUOTED_PAIR_RE, UNQUOTED_PAIR_RE, CONFIG_LINE_RE, XML_ELEMENT_RE):
        text = pattern.sub(keyed, text)
    return text, count


# scan_line costs ~0.2-0.4 ms a line (24 plugins, each through the library's filters), so it runs only on
# lines where one of its plugins could match: a KeywordDetector word, a token prefix, or a long token-like
# run (the IBM, Cloudant, SoftLayer, AWS and npm patterns all need 20+ such characters).
DETECT_SECRETS_WORDS = (
    "api_key", "apikey", "auth_key", "authkey", "service_key", "servicekey", "account_key", "accountkey", "db_key",
    "dbkey", "database_key", "priv_key", "privkey", "private_key", "privatekey", "client_key", "clientkey", "db_pass",
    "dbpass", "database_pass", "key_pass", "keypass", "password", "passwd", "pwd", "secret", "contrase",
    "xox", "k_live_", "hooks.slack", "sq0csp-", "pypi-", "gr1348941", "-----begin", "putty",
)  # fmt: skip
LONG_TOKEN_RE = re.compile(r"[\w\-+/=.]{20,}")


def _detect_secrets_may_find(line: str) -> bool:
    lower = line.lower()
    return (
        any(word in lower for word in DETECT_SECRETS_WORDS)
        or LONG_TOKEN_RE.search(line) is not None
        or any(pattern.search(line) for pattern in CASE_SENSITIVE_TRIGGER_RES)
    )


def _redact_with_detect_secrets(text: str) -> tuple[str, int]:
    from detect_secrets.core.scan import scan_line

    _detect_secrets_configure()
    count = 0
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not _detect_secrets_may_find(line):
            continue
        found = sorted(
            {(secret.secret_value, secret.type) for secret in scan_line(line) if secret.secret_value},
            key=lambda item: -len(item[0]),
        )
        for value, kind in found:
            if len(value) < 4 or PLACEHOLDER_RE.search(value) or value not in line:
                continue
            placeholder = f"<SECRET:{PLUGIN_PLACEHOLDERS.get(kind) or _keyword_kind(line, value)}>"
            count += line.count(value)
            line = line.replace(value, placeholder)
        lines[index] = line
    return "\n".join(lines), count


def _keyword_kind(line: str, value: str) -> str:
    before = line[: line.find(value)].lower()
    return "PASSWORD" if re.search(r"pass|pwd|contrase", before) else "SECRET"


def secrets_redact_json(value, *, key: str | None = None) -> tuple[object, int]:
    """Redact every string in a JSON value (dict keys too); strings under secret-sounding keys entirely."""
    if isinstance(value, str):
        kind = secret_key_kind(key) if key else None
        if kind is not None and _is_secret_value(value):
            return f"<SECRET:{kind}>", 1
        return secrets_redact_text(value)
    if isinstance(value, dict):
        count = 0
        redacted = {}
        for item_key, item in value.items():
            new_key, n_key = secrets_redact_text(item_key) if isinstance(item_key, str) else (item_key, 0)
            new_item, n_item = secrets_redact_json(item, key=item_key if isinstance(item_key, str) else None)
            redacted[new_key] = new_item
            count += n_key + n_item
        return redacted, count
    if isinstance(value, list):
        count = 0
        items = []
        for item in value:
            new_item, n = secrets_redact_json(item, key=key)
            items.append(new_item)
            count += n
        return items, count
    return value, 0


# A path to a file that holds nothing but a credential (Rails' config/master.key, a .key or .pem file,
# an ssh key, .pgpass, .netrc, ...). Its content alone has no context: a bare 32-hex master key looks
# like any md5 or id, so the tool call that read it supplies the context.
SECRET_FILE_RE = re.compile(
    r"(?:^|[/\\])(?:[\w.\-]*\.(?:key|pem|p12|pfx|ppk|jks|keystore)|id_(?:rsa|dsa|ecdsa|ed25519)"
    r"|\.pgpass|\.netrc|\.git-credentials|\.htpasswd|credentials(?:\.json)?|secrets?\.ya?ml)$",
    re.IGNORECASE,
)
LONE_TOKEN_RE = re.compile(r"\s*[A-Za-z0-9+/=_\-.:]{16,}\s*")


def _redact_secret_file_reads(calls) -> tuple[object, int]:
    """A tool call whose args name a secret file: each lone token in its result (the file's content) is the secret."""
    if not isinstance(calls, list):
        return calls, 0
    redacted, count = [], 0
    for call in calls:
        if isinstance(call, dict) and any(
            isinstance(arg, str) and SECRET_FILE_RE.search(arg.strip()) for arg in _json_strings(call.get("args"))
        ):
            result, n = _redact_lone_tokens(call.get("result"))
            call = {**call, "result": result}
            count += n
        redacted.append(call)
    return redacted, count


def _json_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def _redact_lone_tokens(value) -> tuple[object, int]:
    if isinstance(value, str):
        found = LONE_TOKEN_RE.fullmatch(value) is not None and not PLACEHOLDER_RE.search(value)
        return ("<SECRET:SECRET>", 1) if found else (value, 0)
    if isinstance(value, dict | list):
        keys = list(value) if isinstance(value, dict) else range(len(value))
        redacted = {key: _redact_lone_tokens(value[key]) for key in keys}
        items = {key: item for key, (item, _n) in redacted.items()}
        count = sum(n for _item, n in redacted.values())
        return (items if isinstance(value, dict) else list(items.values())), count
    return value, 0


def secrets_redact_fields(fields: dict) -> tuple[dict, int]:
    """Redact a trace's text and JSON fields at once; a trace with no trigger anywhere costs one pre-check."""
    blob = json.dumps(fields, ensure_ascii=False, default=str)
    if not secrets_may_contain(blob):
        return fields, 0
    redacted, count = {}, 0
    for name, value in fields.items():
        if name == "tool_calls":
            value, n = _redact_secret_file_reads(value)
            count += n
        redacted[name], n = secrets_redact_json(value)
        count += n
    return redacted, count
