"""PII: our Presidio recognizer classes (_recognizer_classes) and the checks they need.

Date-of-birth patterns, card-number prefixes, Luhn and IBAN checksums, and the offline public-suffix
list for e-mail domains. build_analyzer in privacy/scrubbing.py registers the recognizers."""

from __future__ import annotations

import re
import threading

from privacy.pii_addresses import find_addresses
from privacy.pii_names import find_names

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


CARD_PREFIX_RE = re.compile(r"^(?:4|5[0-8]|2[2-7]|3[0-9]|6|1800|2131|0604)")


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
        """Street addresses, international: see ADDRESS_* regexes in privacy/pii_addresses.py."""

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
