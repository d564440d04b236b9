"""PII: street addresses, international (find_addresses), for StreetAddressRecognizer.

The ADDRESS_* regexes and their parts. The engine is in privacy/scrubbing.py."""

from __future__ import annotations

import re

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
            # 854 Broadway · 12 The Strand: a street whose name is the whole of it
            rf"\b{_NUM}{_SP}(?:Broadway|The{_SP}(?:Strand|Mall|Embarcadero|Bowery|Esplanade|Boardwalk))\b",
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
