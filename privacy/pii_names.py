"""PII: person names found from name lists and cue phrases (find_names), for NameRecognizer.

The name lists (Faker's person providers), the common words that are never names alone (COMMON_WORDS,
NEVER_NAMES) and the NAME_* regexes. The engine is in privacy/scrubbing.py."""

from __future__ import annotations

import re
import threading

_name_lock = threading.Lock()
_name_lists: tuple[frozenset, frozenset, frozenset] | None = None


def name_lists() -> tuple[frozenset, frozenset, frozenset]:
    """(first names, last names, common English words), lower-cased.

    Names come from Faker's person providers (about 31,000 first and 28,000 last names from
    80 locales, compiled from public name-frequency lists); common words (Faker's English
    lorem list, scikit-learn's and spaCy's stop words, and COMMON_WORDS) are never names alone.
    """
    global _name_lists
    with _name_lock:
        if _name_lists is None:
            import importlib
            import pkgutil

            import faker.providers.person as person_providers
            from faker.providers.lorem.en_US import Provider as Lorem
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
            from spacy.lang.en.stop_words import STOP_WORDS

            def values(v):
                if isinstance(v, dict):
                    return v.keys()
                return v if isinstance(v, list | tuple | set | frozenset) else ()

            first, last = set(), set()
            for module in pkgutil.iter_modules(person_providers.__path__):
                provider = importlib.import_module(f"{person_providers.__name__}.{module.name}").Provider
                for attr, value in vars(provider).items():
                    if attr.startswith(("first_names", "first_romanized_names")):
                        first.update(str(x).casefold() for x in values(value))
                    elif attr.startswith(("last_names", "last_romanized_names")):
                        last.update(str(x).casefold() for x in values(value))
            common = {w.casefold() for w in Lorem.__dict__["word_list"]}
            common |= set(ENGLISH_STOP_WORDS) | set(STOP_WORDS) | COMMON_WORDS
            from faker.providers.address.en_US import Provider as Address

            for country in Address.__dict__.get("countries", ()):
                if " " not in country:
                    common.add(country.casefold())
            _name_lists = (frozenset(first - common), frozenset(last - common), frozenset(common))
        return _name_lists


COMMON_WORDS = set(
    """
    will may mark grant hope joy faith rose lily jack bill frank sunny summer april june july august dawn chase hunter
    page key long young white black green brown gray grey street city hill park lane king bell price cook baker
    the and but for not you your our their his her its this that with from into onto upon about after before
    monday tuesday wednesday thursday friday saturday sunday january february march october november december
    mr mrs ms miss dr prof sir madam dear hi hello hey thanks regards best sincerely yes no ok okay please
    new old north south east west central street road avenue apt suite unit box office mobile phone fax desk
    email e-mail website address name date card number account bank code user bot assistant agent customer
    google apple amazon microsoft data public explorer inc ltd llc corp company group and sons university
    is are was were be been being have has had do does did can could should would shall must might
    i we he she they me us him them my mine yours ours theirs what which who whom whose where when why how
    star love story gold silver stone wood ford royal major general law judge bishop pope
    """.split()
)
ACTION_WORDS = set(
    """
    email e-mail mail text txt sms call phone ping message dm ask tell remind invite meet visit send forward reply
    slack whatsapp telegram signal teams zoom skype notify page ring
    book schedule reschedule cancel add create delete remove update move find search show open check pay order
    thanks thank hi hello hey dear ok okay yes no please sure done great cool
    """.split()
)
COMMON_WORDS |= ACTION_WORDS


def _never_names() -> frozenset:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    from spacy.lang.en.stop_words import STOP_WORDS

    titles = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "madam", "dame", "lady", "lord"}
    titles |= {"rev", "fr", "capt", "sgt", "col", "gen"}
    return frozenset(set(ENGLISH_STOP_WORDS) | set(STOP_WORDS) | ACTION_WORDS | titles)


NEVER_NAMES = _never_names()
NAME_TITLE = r"(?:mr|mrs|ms|miss|mx|dr|prof|professor|sir|madam|dame|lady|lord|rev|fr|capt|sgt|col|gen)\.?"
NAME_CUE_RE = re.compile(
    r"\b(?:(?:my |his |her |their |your |the )?(?:first |last |full |maiden |family |middle |sur)?name(?: is|:|\?)|named|called|"  # noqa: E501
    r"i am|i'm|this is|dear|hi|hello|hey|thanks|thank you|regards|sincerely|cheers|ask for|speak (?:to|with)|"
    r"talk(?:ed)? to|spoke (?:to|with)|meet(?:ing)? with|contact|signed|attn:?|attention:?|cc:?|from:|to:|"
    r"said|told|calls? me|known as|aka|by|under|ex-\w+|ask(?:ed)?|invite|remind|email|text|message|call)[ \t]*[,:]?[ \t]+",  # noqa: E501
    re.IGNORECASE,
)
_NAME_TOKEN = r"(?:[^\W\d_]\.|[^\W\d_a-z][\w'’\-]*)"  # Capitalised word or an initial
_NAME_SEQ_RE = re.compile(  # not inside paths, URLs, identifiers: "America/Chicago", "app=Billing"
    rf"(?<![\w@./=#])(?:(?i:{NAME_TITLE})[ \t]+)?{_NAME_TOKEN}(?:[ \t]+{_NAME_TOKEN}){{0,3}}(?![\w@/=#])"
)
_ANY_TOKEN_SEQ = re.compile(r"[^\W\d_][\w'’\-]*(?:[ \t]+[^\W\d_][\w'’\-]*){0,2}")
_NAME_LIST_RE = re.compile(
    r"(?<![\w\-])[^\W\d_a-z][\w'’\-]*(?:,[ \t]+[^\W\d_a-z][\w'’\-]*)*,?[ \t]+(?i:and)[ \t]+[^\W\d_a-z][\w'’\-]*(?![\w\-])"  # noqa: E501
)
_NAME_LINE_RE = re.compile(
    r"(?m)^[ \t>?*\-]*(?P<name>[^\W\d_a-z][\w'’\-]*(?:[ \t]+(?:[^\W\d_]\.?|[^\W\d_a-z][\w'’\-]*)){1,2})[ \t]*$"
)
_INITIAL = re.compile(r"^[^\W\d_]\.?$")


def _is_name_word(token: str, first, last, common) -> bool:
    t = token.casefold().strip(".")
    return t not in common and (t in first or t in last)


_WORD_RE = re.compile(r"[^\W\d_][\w'’\-]*\.?")
_JOINED_NAME_RE = re.compile(r"(?<![^\W_])([^\W\d_]{2,})[_.\-]([^\W\d_]{2,})(?![^\W_])")


def _lowercase_names(text: str, first, last, common) -> list[tuple[int, int, float]]:
    """Names in lower-cased text: a known first name, an optional initial, a known last name
    ("aksel kristensen", "benjamin a seiler"); or a bare value that is one first name ("nate").
    "solar panel payback periods" is no name, though "solar" may be a surname somewhere."""
    words = [(m.start(), m.end(), m.group().casefold().strip(".")) for m in _WORD_RE.finditer(text)]
    if len(words) == 1 and words[0][2] in first and text.strip().casefold().strip(".") == words[0][2]:
        return [(words[0][0], words[0][1], 0.45)]
    found = []
    for i, (start, _end, word) in enumerate(words):
        if word not in first or word in common:
            continue
        j = i + 1
        if j < len(words) and len(words[j][2]) == 1:
            j += 1  # a middle initial
        if j < len(words) and words[j][2] in last and words[j][2] not in common:
            found.append((start, words[j][1], 0.5))
    return found


def find_names(text: str) -> list[tuple[int, int, float]]:
    """Person names from name lists and cue phrases; complements spaCy's small-model NER.

    - A run of capitalised words (or initials) containing a known first or last name, with no
      common English word in it: the run is a PERSON (0.6 for two or more words, 0.45 alone).
      An honorific (Mr, Dr, …) before a capitalised word makes a PERSON too.
    - After a cue ("my name is", "called", "Dear", "Name:", "ask for", …) up to three words are
      a PERSON when one of them is a known name or they are capitalised.
    - Text with no capital letters at all (lower-cased chat) is matched title-cased.
    """
    first, last, common = name_lists()
    results: list[tuple[int, int, float]] = []
    probe = text
    if not any(ch.isupper() for ch in text):
        titled = text.title()
        if len(titled) == len(text):
            probe = titled
    for m in _NAME_SEQ_RE.finditer(probe):
        spans = [(t.start() + m.start(), t.end() + m.start(), t.group()) for t in re.finditer(r"\S+", m.group())]
        has_title = bool(re.fullmatch(NAME_TITLE, spans[0][2], re.IGNORECASE))
        words = spans[1:] if has_title else spans
        i, j = 0, len(words)
        while i < j and words[i][2].casefold().strip(".") in common:
            i += 1
        while j > i and words[j - 1][2].casefold().strip(".") in common:
            j -= 1
        core = words[i:j]
        if not core or any(w.casefold().strip(".") in NEVER_NAMES for _, _, w in core):
            continue
        if len(core) == 1 and core[0][2].casefold().strip(".") in common:
            continue
        if all(_INITIAL.match(w) for _, _, w in core):
            continue
        titled = has_title and i == 0
        if probe is not text:
            continue  # lower-cased text: see _lowercase_names
        if titled or any(_is_name_word(w, first, last, common) for _, _, w in core):
            begin = spans[0][0] if titled else core[0][0]
            score = 0.6 if len(core) >= 2 or titled else 0.45
            results.append((begin, core[-1][1], score))
    if probe is not text:
        results.extend(_lowercase_names(text, first, last, common))
    # names inside identifiers: "contact:priya_raman:notes", "kenji.watanabe"
    for m in _JOINED_NAME_RE.finditer(text):
        a, b = m.group(1).casefold(), m.group(2).casefold()
        if a in first and b in last and a not in common and b not in common:
            results.append((m.start(), m.end(), 0.5))
    # "Monjeau, Graves and Reed": a list of capitalised words with a known name in it is a list of names
    for m in _NAME_LIST_RE.finditer(probe):
        items = [(t.start(), t.end(), t.group()) for t in re.finditer(r"[^\W\d_][\w'’\-]*", m.group())]
        items = [(a + m.start(), b + m.start(), w) for a, b, w in items if w.casefold() != "and"]
        if any(w.casefold() in common for _, _, w in items):
            continue
        if any(_is_name_word(w, first, last, common) for _, _, w in items):
            results.extend((a, b, 0.5) for a, b, _ in items)
    # a line that is only two or three capitalised words, in a multi-line block (signatures, letters)
    if "\n" in probe:
        for m in _NAME_LINE_RE.finditer(probe):
            words = m.group("name").split()
            if not any(w.casefold().strip(".") in common for w in words) and not _INITIAL.match(words[0]):
                results.append((m.start("name"), m.end("name"), 0.45))
    for cue in NAME_CUE_RE.finditer(probe):
        m = _ANY_TOKEN_SEQ.match(probe, cue.end())
        if not m:
            continue
        words = m.group().split()
        kept = []
        for w in words:
            if w.casefold() in NEVER_NAMES or (not kept and w.casefold() in common and not w[0].isupper()):
                break
            kept.append(w)
        if not kept:
            continue
        capitalised = all(w[0].isupper() for w in kept)
        if capitalised or any(_is_name_word(w, first, last, common) for w in kept):
            tokens = list(re.finditer(r"\S+", m.group()))[: len(kept)]
            results.append((m.start(), m.start() + tokens[-1].end(), 0.6 if capitalised else 0.5))
    return results
