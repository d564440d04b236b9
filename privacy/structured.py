"""Structured data, by key: what a JSON key says about the value under it, and what is never a person.

A key is evidence. Values under personal keys (first/last name, email, phone, dob/birth…, address/street/zip,
ssn, passport, card…) are always scrubbed whole, dates and numbers included. Values under identifier and
domain keys (`…_id`, code, origin/destination, status, cabin, sku, amount, city…) are kept unless they hold
a structured PII pattern (an e-mail, a card number…). Every other value is read as text by the analyzer.

A bare `name` depends on where it sits: under a user, customer or passenger it is a person, under items or
products it is a thing; elsewhere only a name-shaped value counts as a person.

Not people: short all-caps codes (JFK), strings with digits (ids, Q3, 1st), ordinals, place names
(PLACES, so "New York" keeps its York), and the terms of SCRUB_ALLOW (the owner's name, product names).
"""

from __future__ import annotations

import functools
import re

from django.conf import settings

KEY_SPLIT_RE = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")

# Types a value under an identifier or domain key, a dict key or a tool name may still be scrubbed for.
STRUCTURED_TYPES = frozenset({"EMAIL_ADDRESS", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "CRYPTO", "IP_ADDRESS"})

PERSON_NAME_KEYS = frozenset(
    "first_name last_name given_name family_name surname full_name middle_name maiden_name firstname lastname "
    "fullname givenname familyname legal_name display_name nickname username user_name cardholder "
    "cardholder_name holder_name account_holder".split()
)
PERSON_WORDS = frozenset(
    "user users customer customers passenger passengers contact contacts guest guests person people profile owner "
    "author sender recipient recipients employee employees patient patients member members traveler travelers "
    "traveller travellers driver attendee attendees participant participants invitee invitees friend friends "
    "spouse partner manager assignee reporter client clients buyer seller holder cardholder emergency "
    "beneficiary child children parent parents student teacher doctor caller".split()
)
THING_WORDS = frozenset(
    "item items product products tool tools function functions file files option options service services plan "
    "plans project projects repo repos repository pod pods event events calendar calendars channel channels tag "
    "tags label labels category categories order orders variant variants sku skus airport airports airline "
    "airlines city cities hotel hotels restaurant restaurants place places venue venues location locations "
    "org orgs organization organizations company companies team teams app apps model models dataset datasets "
    "metric metrics field fields column columns table tables queue queues job jobs task tasks step steps "
    "playlist song songs album track tracks book books course courses room rooms flight flights".split()
)
# Name-holding roles: a name-shaped value under them is a person, other text is read as text.
NAME_ROLE_KEYS = frozenset(
    "name attendee attendees guest guests participant participants invitee invitees contact recipient sender "
    "patient passenger organizer organiser host assignee reporter owner author customer".split()
)

_PERSONAL_WORDS = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "mobile": "PHONE_NUMBER",
    "cell": "PHONE_NUMBER",
    "telephone": "PHONE_NUMBER",
    "tel": "PHONE_NUMBER",
    "fax": "PHONE_NUMBER",
    "whatsapp": "PHONE_NUMBER",
    "msisdn": "PHONE_NUMBER",
    "dob": "DATE_OF_BIRTH",
    "birth": "DATE_OF_BIRTH",
    "birthday": "DATE_OF_BIRTH",
    "birthdate": "DATE_OF_BIRTH",
    "born": "DATE_OF_BIRTH",
    "address": "STREET_ADDRESS",
    "addr": "STREET_ADDRESS",
    "street": "STREET_ADDRESS",
    "zip": "STREET_ADDRESS",
    "zipcode": "STREET_ADDRESS",
    "postal": "STREET_ADDRESS",
    "postcode": "STREET_ADDRESS",
    "apartment": "STREET_ADDRESS",
    "apt": "STREET_ADDRESS",
    "ssn": "US_SSN",
    "passport": "US_PASSPORT",
    "iban": "IBAN_CODE",
    "card": "CREDIT_CARD",
    "cvv": "CREDIT_CARD",
    "cvc": "CREDIT_CARD",
}
_PERSONAL_PAIRS = {
    ("last", "four"): "CREDIT_CARD",
    ("last", "4"): "CREDIT_CARD",
    ("social", "security"): "US_SSN",
    ("national", "id"): "US_SSN",
    ("tax", "id"): "US_SSN",
    ("driver", "license"): "US_DRIVER_LICENSE",
    ("drivers", "license"): "US_DRIVER_LICENSE",
    ("license", "number"): "US_DRIVER_LICENSE",
    ("account", "number"): "US_BANK_NUMBER",
    ("routing", "number"): "US_BANK_NUMBER",
    ("ip", "address"): "IP_ADDRESS",
    ("date", "of"): "DATE_OF_BIRTH",  # date_of_birth (birth also matches)
    ("line", "1"): "STREET_ADDRESS",
    ("line", "2"): "STREET_ADDRESS",
}
# A last word that makes a key describe a value's kind, count or id rather than hold personal data:
# email_id, phone_type, card_brand, address_verified, card_balance.
_DOMAIN_LAST_WORDS = frozenset(
    "id ids uuid guid type types kind status state count total verified enabled valid validated "
    "confirmed sent at brand source provider network issuer currency balance limit amount method template "
    "format length count template label provider country city region province domain domains".split()
)
_ID_LAST_WORDS = frozenset("id ids uuid guid code codes sku skus number no num ref reference slug hash sha".split())
DOMAIN_KEYS = frozenset(
    "origin destination from_airport to_airport status state city country country_code province region cabin "
    "class fare_class seat gate terminal sku amount price cost total subtotal tax fee fees currency quantity qty "
    "count balance brand source type kind category method mode color colour size material tier level priority "
    "plan date time timestamp day month year quarter duration timezone tz locale language lang airport airline "
    "carrier flight flight_number product item model version unit units symbol ticker action role tag tags "
    "label labels format extension path file filename host domain url method verb weekday season season_year "
    "transaction_type payment_method source_type options capacity weight height length width departure arrival "
    "insurance baggages bags nights rooms stars rating score reservation".split()
)


def key_words(key: str) -> list[str]:
    """ "shippingAddress_line1" → ["shipping", "address", "line", "1"]."""
    return [word.lower() for word in KEY_SPLIT_RE.split(key) if word]


@functools.lru_cache(maxsize=20_000)
def personal_type(key: str) -> str | None:
    """The entity type of every value under `key` when the key names personal data, else None."""
    words = key_words(key)
    if not words:
        return None
    joined = "_".join(words)
    if joined in PERSON_NAME_KEYS or (len(words) >= 2 and words[-1] == "name" and words[-2] in PERSON_WORDS):
        return "PERSON"
    if "birth" in words or "dob" in words or "birthday" in words or "birthdate" in words:
        return "DATE_OF_BIRTH"
    for pair in zip(words, words[1:], strict=False):
        if pair in _PERSONAL_PAIRS:
            return _PERSONAL_PAIRS[pair]
    if words[-1] in _DOMAIN_LAST_WORDS or any(word.isdigit() and len(word) > 2 for word in words):
        return None  # email_id, card_brand, credit_card_7815826 (a key that is itself an id)
    kinds = {_PERSONAL_WORDS.get(word) or _PERSONAL_WORDS.get(word.rstrip("s")) for word in words}
    for kind in _PERSONAL_PRIORITY:  # email_address is an e-mail, not a street address
        if kind in kinds:
            if kind == "STREET_ADDRESS" and {"mac", "wallet", "web", "ip"} & set(words):
                return None
            return kind
    return None


_PERSONAL_PRIORITY = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "US_PASSPORT",
                      "DATE_OF_BIRTH", "STREET_ADDRESS")  # fmt: skip


@functools.lru_cache(maxsize=20_000)
def is_domain_key(key: str) -> bool:
    """A key whose values are identifiers or domain values: kept unless a structured PII pattern is in them."""
    words = key_words(key)
    if not words or personal_type(key):
        return False
    joined = "_".join(words)
    if len(words) > 1 and words[-1] == "name" and words[-2] in THING_WORDS:
        return True  # product_name, item_name
    return joined in DOMAIN_KEYS or words[-1] in _ID_LAST_WORDS or (len(words) > 1 and words[-1] in DOMAIN_KEYS)


def name_context(ancestors: tuple[str, ...]) -> str | None:
    """ "person" when the nearest telling ancestor key is about people, "thing" when about things, else None."""
    for key in reversed(ancestors):
        words = key_words(key)
        if any(word in PERSON_WORDS for word in words):
            return "person"
        if any(word in THING_WORDS for word in words):
            return "thing"
    return None


# --- not people -------------------------------------------------------------------------

ORDINAL_WORDS = frozenset(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth last next previous".split()
)
_CODE_RE = re.compile(r"^[A-Z]{2,5}$")
_ID_TOKEN_RE = re.compile(r"^(?=[^\s]*\d)(?=[^\s]*[^\W\d_])[\w.\-#/:]+$")

# Places that are also names somewhere in the name lists (Paris, York, Jackson, Florence …): a PERSON hit
# inside one of them is a place. US states, countries and large cities; the list is long on purpose.
PLACES = """
Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho Illinois
Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri
Montana Nebraska Nevada New_Hampshire New_Jersey New_Mexico New_York North_Carolina North_Dakota Ohio Oklahoma
Oregon Pennsylvania Rhode_Island South_Carolina South_Dakota Tennessee Texas Utah Vermont Virginia Washington
West_Virginia Wisconsin Wyoming
New_York_City Los_Angeles Chicago Houston Phoenix Philadelphia San_Antonio San_Diego Dallas San_Jose Austin
Jacksonville Fort_Worth Columbus Charlotte San_Francisco Indianapolis Seattle Denver Boston El_Paso Nashville
Detroit Oklahoma_City Portland Las_Vegas Memphis Louisville Baltimore Milwaukee Albuquerque Tucson Fresno
Sacramento Kansas_City Mesa Atlanta Omaha Colorado_Springs Raleigh Miami Long_Beach Virginia_Beach Oakland
Minneapolis Tulsa Tampa Arlington New_Orleans Wichita Cleveland Bakersfield Aurora Anaheim Honolulu Santa_Ana
Riverside Corpus_Christi Lexington Stockton Henderson Saint_Paul St._Louis Cincinnati Pittsburgh Greensboro
Anchorage Plano Lincoln Orlando Irvine Newark Toledo Durham Chula_Vista Fort_Wayne Jersey_City St._Petersburg
Laredo Madison Chandler Buffalo Lubbock Scottsdale Reno Glendale Gilbert Winston-Salem North_Las_Vegas Norfolk
Chesapeake Garland Irving Hialeah Fremont Boise Richmond Baton_Rouge Spokane Des_Moines Tacoma San_Bernardino
Modesto Fontana Santa_Clarita Birmingham Oxnard Fayetteville Moreno_Valley Rochester Glendale Huntington_Beach
Salt_Lake_City Grand_Rapids Amarillo Yonkers Montgomery Akron Little_Rock Huntsville Augusta Columbus Savannah
Charleston Springfield Knoxville Salem Eugene Berkeley Palo_Alto Cambridge Princeton Hartford Providence Albany
Burlington Trenton Annapolis Dover Harrisburg Tallahassee Jackson Frankfort Topeka Lansing Olympia Santa_Fe
Cheyenne Bismarck Pierre Helena Juneau Carson_City Concord Montpelier Columbia Brooklyn Queens Bronx Manhattan
Staten_Island Silicon_Valley Bay_Area Long_Island Hollywood Malibu Aspen Vail Key_West Napa Sonoma Tahoe
London Paris Berlin Madrid Rome Lisbon Dublin Amsterdam Brussels Vienna Prague Warsaw Budapest Athens Stockholm
Oslo Copenhagen Helsinki Zurich Geneva Munich Hamburg Frankfurt Milan Venice Florence Naples Barcelona Valencia
Seville Porto Lyon Marseille Nice Bordeaux Edinburgh Glasgow Manchester Liverpool Leeds Bristol Oxford
Belfast Cardiff Reykjavik Moscow Kyiv Kiev Istanbul Ankara Cairo Tel_Aviv Jerusalem Dubai Abu_Dhabi Doha Riyadh
Tehran Baghdad Karachi Lahore Delhi New_Delhi Mumbai Bangalore Bengaluru Chennai Kolkata Hyderabad Pune
Dhaka Kathmandu Colombo Bangkok Hanoi Ho_Chi_Minh_City Singapore Kuala_Lumpur Jakarta Bali Manila Taipei
Hong_Kong Macau Beijing Shanghai Shenzhen Guangzhou Chengdu Seoul Busan Tokyo Osaka Kyoto Nagoya Sapporo
Sydney Melbourne Brisbane Perth Adelaide Auckland Wellington Toronto Montreal Vancouver Ottawa Calgary Edmonton
Quebec Winnipeg Halifax Victoria Mexico_City Guadalajara Monterrey Cancun Havana San_Juan Bogota Lima Quito
Santiago Buenos_Aires Montevideo Sao_Paulo Rio_de_Janeiro Brasilia Caracas Panama Nairobi Lagos Accra Addis_Ababa
Porto_Alegre Salvador Recife Fortaleza Curitiba Medellin Cali Den_Haag The_Hague Rotterdam Utrecht Antwerp
Ghent København Aarhus Göteborg Gothenburg Malmö Bergen Köln Cologne München Düsseldorf Stuttgart Wien Praha
Lisboa Roma Milano Napoli Torino Turin Genoa Bologna Krakow Kraków Gdansk Wrocław Tallinn Riga Vilnius
Bucharest Sofia Belgrade Zagreb Ljubljana Sarajevo Skopje Tirana Minsk Tbilisi Yerevan Baku Almaty Tashkent
Johannesburg Cape_Town Durban Casablanca Marrakech Tunis Algiers Dakar Kampala Kigali
United_States United_Kingdom England Scotland Wales Ireland France Germany Spain Portugal Italy Netherlands
Holland Belgium Austria Switzerland Poland Czechia Hungary Greece Sweden Norway Denmark Finland Iceland Russia
Ukraine Turkey Egypt Israel India Pakistan China Japan Korea South_Korea Taiwan Vietnam Thailand Indonesia
Malaysia Philippines Australia New_Zealand Canada Mexico Brazil Argentina Chile Peru Colombia Venezuela Cuba
Nigeria Kenya Ghana Ethiopia South_Africa Morocco Europe Asia Africa America North_America South_America
Latin_America Antarctica Oceania Middle_East Scandinavia Caribbean Pacific Atlantic Mediterranean
Midwest New_England Pacific_Northwest Southwest Southeast Northeast West_Coast East_Coast
"""


@functools.lru_cache(maxsize=1)
def places_re() -> re.Pattern:
    names = {p.replace("_", " ") for p in PLACES.split()}
    try:  # Faker's country names (one word or more)
        from faker.providers.address.en_US import Provider as Address

        names.update(c for c in Address.__dict__.get("countries", ()) if c[:1].isupper())
    except ImportError:  # pragma: no cover
        pass
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w\-])(?:{alternatives})(?![\w\-])")


def place_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in places_re().finditer(text)]


@functools.lru_cache(maxsize=8)
def _allow_set(terms: tuple[str, ...]) -> frozenset[str]:
    return frozenset(" ".join(t.casefold().split()) for t in terms if t.strip())


def allowed_terms() -> frozenset[str]:
    """SCRUB_ALLOW, case-folded: terms never scrubbed (the owner's name, product names)."""
    return _allow_set(tuple(getattr(settings, "SCRUB_ALLOW", ()) or ()))


def is_allowed(value: str) -> bool:
    """The value is an allowed term, or made only of allowed words ("Nate", "ZEKE Nate")."""
    allow = allowed_terms()
    if not allow:
        return False
    folded = " ".join(value.casefold().strip(".,;:!?'\"()").split())
    if folded in allow:
        return True
    words = re.findall(r"[^\W_]+", folded)
    return bool(words) and all(word in allow for word in words)


def is_not_a_person(value: str, text: str = "", start: int = 0, end: int = 0) -> bool:
    """A PERSON hit that is a code, an id, a quarter or ordinal, a place, or an allowed term."""
    stripped = value.strip(".,;:!?'\"()[]{}")
    if not stripped or any(ch.isdigit() for ch in stripped):
        return True  # ids, Q3, 1st, 2nd
    words = stripped.split()
    if all(_CODE_RE.match(word) for word in words):
        return True  # JFK, LAX, NYC
    if all(word.casefold() in ORDINAL_WORDS for word in words):
        return True
    if is_allowed(stripped):
        return True
    return _is_place(stripped, text, start, end)


def _is_place(value: str, text: str, start: int, end: int) -> bool:
    """Part of a longer place name ("York" in "New York"), or a place that is no first name, or after "to"/"in"."""
    if not text:
        return places_re().fullmatch(value) is not None and not _is_first_name(value)
    for s, e in place_spans(text):
        if s <= start and end <= e:
            if (s, e) != (start, end) or not _is_first_name(value) or value in _countries():
                return True
            before = re.findall(r"[^\W\d_]+", text[max(0, start - 20) : start])
            return bool(before) and before[-1].casefold() in LOCATIVE_WORDS
    return False


@functools.lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    from faker.providers.address.en_US import Provider as Address

    return frozenset(Address.__dict__.get("countries", ())) | {"America", "England", "Holland", "Scotland", "Wales"}


def _is_first_name(value: str) -> bool:
    from privacy.pii_names import name_lists

    return value.split()[0].casefold() in name_lists()[0]


def is_identifier(text: str) -> bool:
    """One token mixing letters and digits ("isabella_lopez_6490", "#W2611340", "Q3"): an id, never a person."""
    return _ID_TOKEN_RE.match(text.strip()) is not None


# --- person spans: trimmed, and dropped when they name an organisation, a street or a common thing ------------

NATIONALITIES = frozenset(
    "english british scottish welsh irish american canadian mexican brazilian argentinian french german "
    "spanish portuguese italian dutch belgian swiss austrian polish czech hungarian greek swedish norwegian "
    "danish finnish icelandic russian ukrainian turkish egyptian israeli arab arabic indian pakistani chinese "
    "japanese korean vietnamese thai indonesian filipino australian african european asian latin hispanic "
    "greenlander nordic scandinavian persian hebrew hindi urdu bengali mandarin cantonese swahili catalan "
    "basque latino jewish muslim christian catholic protestant buddhist hindu".split()
)
ORG_WORDS = frozenset(
    "inc inc. llc ltd ltd. plc corp corp. corporation incorporated company co co. group holdings capital bank "
    "technologies technology partners investments investment markets consulting associates solutions systems "
    "labs laboratories foundation university institute college school club hotel orchestra band lines transit "
    "ratings insurance financial services industries enterprises ventures media studios records airlines "
    "motors pharmaceuticals gmbh ag sa s.a. bv nv pty limited trust fund agency".split()
)
STREET_WORDS = frozenset(
    "st st. street rd rd. road ave ave. avenue blvd blvd. boulevard ln lane drive court ct way place pl terrace "
    "trail loop bypass turnpike gateway pass hills flats mall dam dale square crescent close circle parkway "
    "highway hwy route row walk grove gardens heights bridge alley plaza pike expressway freeway causeway "
    "crossing junction landing ridge estates station wharf quay esplanade promenade".split()
)
BRAND_WORDS = frozenset(
    "amazon google apple microsoft samsung sony meta facebook nintendo philips bose logitech lenovo dell hp "
    "xiaomi huawei tesla ford toyota honda nike adidas ikea netflix spotify".split()
)
_POSSESSIVE_RE = re.compile(r"['’]s\b")


@functools.lru_cache(maxsize=1)
def dictionary_words() -> frozenset[str]:
    """English words written in lower case in Webster's 2nd (english-words' web2 list): common nouns, not names."""
    from english_words import get_english_words_set

    return frozenset(w for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower())


def _is_common_word(word: str) -> bool:
    folded = word.casefold()
    words = dictionary_words()
    return folded in words or (folded.endswith("s") and folded[:-1] in words) or folded in NATIONALITIES


# Names that are also common words (kept out of the name lists, so a PERSON hit made of them is still a name).
NAME_LIKE_WORDS = frozenset(
    "will may mark grant hope joy faith rose lily jack bill frank sunny summer april june july august dawn chase "
    "hunter page key long young white black green brown gray grey hill park lane king bell price cook baker dale "
    "wood ford stone gold silver star love story royal major law judge bishop pope penny ruby pearl amber crystal "
    "heather holly ivy iris daisy violet hazel autumn river sky rain storm angel grace patience honor".split()
)
# Words that stand before a name without being part of it ("Aunt Bertha", "Producer James Sparks").
ROLE_WORDS = frozenset(
    "aunt auntie uncle cousin grandma grandpa granny grandmother grandfather mom mum dad mother father sister "
    "brother son daughter wife husband niece nephew producer director manager doctor nurse officer captain coach "
    "professor president senator mayor governor judge princess prince king queen lord lady sir madam saint "
    "agent detective sergeant chef pastor father reverend dear hi hello hey thanks ceo cto cfo founder "
    "salesperson engineer designer artist singer writer author actor actress player".split()
)
LOCATIVE_WORDS = frozenset("to from in at via near into toward towards around visit visiting through".split())


def _is_name_word(word: str) -> bool:
    from privacy.pii_names import name_lists

    first, last, _common = name_lists()
    folded = word.casefold().strip(".")
    return folded in first or folded in last or folded in NAME_LIKE_WORDS


def _leading_non_name(word: str) -> bool:
    folded = word.casefold().strip(".,")
    return folded in ROLE_WORDS or "'" in word or "’" in word or folded in NATIONALITIES or (folded.startswith("ex-"))


def _cut(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Cut a hit at a quote, colon or line break; at a possessive keep the side that holds a name."""
    value = text[start:end]
    stop = re.search(r"[\"“”:()\n]", value)
    if stop:
        if stop.start() == 0:
            return None
        end = start + stop.start()
        value = text[start:end]
    possessive = _POSSESSIVE_RE.search(value)
    if possessive:
        after = value[possessive.end() :]
        if any(_is_name_word(w) for w in re.findall(r"[^\W\d_]+", after)):
            return start + possessive.end() + (len(after) - len(after.lstrip())), end
        if possessive.start() == 0:
            return None
        end = start + possessive.start()
    return start, end


def person_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The part of a PERSON hit that is a person's name, or None when it names something else.

    Cut at a quote, colon or possessive ("Emmie Ström's Cautionary Tales" → "Emmie Ström", "Pave's Irena
    Bílá" → "Irena Bílá"), trim role words before the name ("Producer James Sparks", "I'm Naomi Ryan"), and
    drop the hit when a word in or right after it names an organisation or a street, when it is one
    double-barrelled word (company names), or when no word is a known name and every word is a common
    English word or a nationality ("Guilty Pleasures", "English").
    """
    cut = _cut(text, start, end)
    if cut is None:
        return None
    start, end = cut
    words = list(re.finditer(r"[^\s,]+", text[start:end]))
    while words and _leading_non_name(words[0].group()):
        words.pop(0)
    while words and len(words[-1].group()) == 1 and not ("A" <= words[-1].group() <= "Z"):
        words.pop()  # a stray symbol after the name
    if not words:
        return None
    start, end = start + words[0].start(), start + words[-1].end()
    names = [w.group() for w in words]
    following = re.match(r"[ \t]+([^\s,.;:]+)", text[end:])
    after = following.group(1).casefold() if following else ""
    if any(w.casefold().strip(".") in ORG_WORDS for w in names[1:]) or after in ORG_WORDS:
        return None
    before = re.findall(r"[^\W\d_]+", text[max(0, start - 30) : start])
    if before and before[-1].casefold() in BRAND_WORDS:
        return None  # "Amazon Alexa", "Google Assistant": a product
    last = names[-1].casefold().strip(".")
    if (last in STREET_WORDS and not _is_name_word(last)) or (after in STREET_WORDS and not _is_name_word(after)):
        return None
    if len(names) == 1 and "-" in names[0].strip("-"):
        return None  # "Fritz-Armstrong": a firm, as a name needs a first name before it
    if not any(_is_name_word(part) for w in names for part in w.split("-")) and all(
        _is_common_word(w.strip(".")) for w in names
    ):
        return None
    return start, end
