"""Personal-information detectors and typed redaction.

Eight types are detected, each by a pattern followed by validation (checksums from python-stdnum,
phone-number metadata from phonenumbers, number ranges, context), so that version numbers, dates,
ISBNs, barcodes, prices, timestamps and formulas are not reported:

============== ================ ===========================================================================
type           placeholder      what is matched
============== ================ ===========================================================================
email          ``[EMAIL]``      ``local@domain.tld``; a "TLD" that is a file extension (``logo@2x.png``) is not
phone          ``[PHONE]``      numbers found by phonenumbers' ``PhoneNumberMatcher`` for the US, GB, DE and
                                FR regions, with extensions (``x818``, ``ext. 42``). Kept when valid for a
                                region (``Leniency.VALID``: assigned ranges, national prefix where required)
                                and written with separators, a trunk ``0`` or a phone word nearby; or when
                                only possible (right length) but unmistakably formatted as a phone number:
                                ``+CC``/``00CC`` international, NANP ``(212) 555-0143`` / ``312.737.9655``
                                (area code and exchange start with 2-9), or a grouped national number with
                                its trunk ``0`` (``+33 (0)1 23 45 67 89``, ``(0161) 496 0000``). Not dates, and
                                not after ``ISBN``/``order``/``invoice``/``serial``/``no.``/...
ip_address     ``[IP_ADDRESS]`` IPv4 (no leading zeros, not part of a longer dotted number, not after
                                "version", "v", "firmware", "section", "figure", ...; not ``0.x.x.x`` nor
                                ending in ``.0``/``.255``) and IPv6 (validated, at least three
                                groups). Loopback, unspecified, multicast, reserved (incl. ``255.x`` masks)
                                and link-local addresses are not personal and not reported; private ranges
                                (``192.168.x.x``) are
bank_account   ``[IBAN]``       IBANs (compact or in groups of four) valid for their country's format and
                                the ISO 13616 mod-97 checksum
payment_card   ``[CARD_NUMBER]`` 12-19 digits in card groupings (4-4-4[-4[-3]], Amex/JCB 4-6-5, Diners
                                4-6-4, or contiguous) with a valid Luhn checksum and a known issuer prefix
                                and length (Visa, Mastercard, Amex, Discover, JCB incl. the 15-digit 1800 and
                                2131 ranges, Diners, UnionPay, Maestro incl. 12-digit numbers). A 12- or
                                13-digit number that is also a valid EAN/UPC barcode needs a card word nearby
national_id    ``[NATIONAL_ID]`` ``us_ssn``: ``AAA-GG-SSSS`` (hyphen or space) without the never-issued ranges
                                (area 000, 666, 900-999; group 00; serial 0000) and the advertised numbers
                                078-05-1120, 219-09-9999, 123-45-6789; ``uk_nino``: National Insurance
                                numbers (valid prefix letters, suffix A-D); ``ca_sin``: Canadian SIN
                                ``NNN-NNN-NNN``; ``in_aadhaar``: ``NNNN NNNN NNNN``; ``es_dni``: Spanish
                                DNI/NIE; ``fr_nir``: French social security number (NIR, 15 characters, compact
                                or ``1 75 09 17 300 379 64``); ``de_rvnr``: German pension insurance number
                                (``65 170839 J 003``, date of birth and check digit validated). SIN, Aadhaar,
                                DNI/NIE and NIR are checked with python-stdnum
street_address ``[ADDRESS]``    US/UK: house number + street name + a USPS or British street suffix (+
                                direction, + unit), optionally preceded by ``Flat 5,``/``Studio 2``, followed by
                                city + state + ZIP, city + UK postcode, or a city; US military ``PSC 1234, Box
                                5678, APO AE 12345``. A suffix that is also an ordinary word ("Park",
                                "View", "Island") needs a unit or a city/postcode after it. German
                                ``Goethestraße 17``, ``Karl-Marx-Allee 3/5`` (+ ``, 10115 Berlin``); French ``12
                                rue de Rivoli`` (+ ``, 75001 Paris``; without a house number only with the
                                postcode and city). A street and its city on separate lines are one
                                address. ``P.O. Box 123``
personal_url   ``[PERSONAL_URL]`` URLs whose path names a person: ``/~user``, ``/users/NAME``, ``/user/``,
                                ``/u/``, ``/people/``, ``/profile/``, ``/members/``, ``/author/``, and profile
                                URLs on social sites (facebook, twitter/x, instagram, linkedin ``/in/``,
                                github, gitlab, tiktok ``/@``, youtube ``/@``, ``/user/``, ``/c/``, reddit
                                ``/u/``, medium ``/@``, mastodon-style ``/@name``, t.me, vk, pinterest),
                                excluding the sites' own non-profile pages (``/help``, ``/search``,
                                ``/features``, ...)
============== ================ ===========================================================================

When spans of different types overlap, one span is kept, by the priority email > personal_url >
bank_account > payment_card > national_id > ip_address > phone > street_address, then by length. Counts
and redaction use the kept spans only, so a number is never counted twice.

The precision and recall of every type are measured on a labelled set that ships with the tests
(``tests/audit/pii_cases.py``), which :func:`evaluate` scores, and on a larger corpus generated with
Faker in four locales (``tests/audit/pii_corpus.py``, ``benchmarks/bench_pii_recall.py``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from stdnum import ean as _ean
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum import verhoeff as _verhoeff
from stdnum.ca import sin as _ca_sin
from stdnum.es import dni as _es_dni
from stdnum.es import nie as _es_nie
from stdnum.fr import nir as _fr_nir
from stdnum.in_ import aadhaar as _in_aadhaar

PII_TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "ip_address",
    "payment_card",
    "bank_account",
    "national_id",
    "street_address",
    "personal_url",
)
"""The detected types, in report order."""

PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "ip_address": "[IP_ADDRESS]",
    "payment_card": "[CARD_NUMBER]",
    "bank_account": "[IBAN]",
    "national_id": "[NATIONAL_ID]",
    "street_address": "[ADDRESS]",
    "personal_url": "[PERSONAL_URL]",
}
"""The typed placeholder that replaces each type in a redacted copy."""

NATIONAL_ID_KINDS: tuple[str, ...] = ("us_ssn", "uk_nino", "ca_sin", "in_aadhaar", "es_dni", "fr_nir", "de_rvnr")
"""The national identifier formats recognised (see the module docstring)."""

PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR")
"""The regions whose national phone formats are recognised (international ``+CC`` numbers: all)."""

# An IBAN is checked against its country's format and mod-97, so a card-shaped run of digits inside
# one is the IBAN, not a card.
_PRIORITY = {
    t: i
    for i, t in enumerate(
        ("email", "personal_url", "bank_account", "payment_card", "national_id", "ip_address", "phone")
    )
}
_PRIORITY["street_address"] = len(_PRIORITY)


@dataclass(frozen=True, slots=True)
class Span:
    """One detected piece of personal information.

    Attributes:
        start: Offset of the first character.
        end: Offset after the last character.
        type: One of :data:`PII_TYPES`.
        kind: Sub-type (``us_ssn``, ``ipv6``, ``visa``, ...), for reporting.
    """

    start: int
    end: int
    type: str
    kind: str = ""


# ----------------------------------------------------------------------------------------- checksums


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) checksum."""
    return bool(digits) and bool(_luhn.is_valid(digits))


def verhoeff_valid(digits: str) -> bool:
    """Whether a digit string passes the Verhoeff checksum (used by Aadhaar numbers)."""
    return bool(digits) and bool(_verhoeff.is_valid(digits))


def iban_valid(iban: str) -> bool:
    """Whether a compact IBAN (no spaces) fits its country's IBAN format and has a valid ISO 13616 checksum."""
    return bool(_iban.is_valid(iban))


def _card_issuer(d: str) -> str | None:
    n = len(d)
    two, three, four, six = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if d[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 222100 <= six <= 272099) and n == 16:
        return "mastercard"
    if two in (34, 37) and n == 15:
        return "amex"
    if (four == 6011 or two == 65 or 644 <= three <= 649) and n in (16, 19):
        return "discover"
    # JCB: 35xx (its assigned block is 3528-3589; a Luhn-valid 16-digit 35 number is a card either
    # way) and the original 15-digit 1800 and 2131 ranges.
    if (two == 35 and 16 <= n <= 19) or (n == 15 and d[:4] in ("1800", "2131")):
        return "jcb"
    if (300 <= three <= 305 or two in (36, 38, 39) or d[:4] == "3095") and 14 <= n <= 19:
        return "diners"
    if two == 62 and 16 <= n <= 19:
        return "unionpay"
    if (two == 50 or 56 <= two <= 69) and 12 <= n <= 19:
        return "maestro"
    return None


def _rvnr_valid(number: str) -> bool:
    """Whether a compact German pension insurance number (``65170839J003``) is well formed and checks."""
    if len(number) != 12 or not (number[:8].isdigit() and number[8].isalpha() and number[9:].isdigit()):
        return False
    day, month = int(number[2:4]), int(number[4:6])
    # A day + 50 marks a second number issued for the same birth date and area.
    if not (1 <= day <= 31 or 51 <= day <= 81) or not 1 <= month <= 12:
        return False
    digits = number[:8] + f"{ord(number[8].upper()) - 64:02d}" + number[9:11]
    total = 0
    for d, w in zip(digits, (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1), strict=True):
        p = int(d) * w
        total += p // 10 + p % 10
    return total % 10 == int(number[11])


# ----------------------------------------------------------------------------------------- patterns

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,24}))(?![\w-])"
)
# "TLDs" that are really file extensions (retina images such as logo@2x.png, module@1.2.js).
_FILE_EXTS = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "bmp",
        "ico",
        "tif",
        "tiff",
        "css",
        "js",
        "mjs",
        "ts",
        "tsx",
        "jsx",
        "json",
        "xml",
        "html",
        "htm",
        "pdf",
        "txt",
        "md",
        "yaml",
        "yml",
        "toml",
        "lock",
        "zip",
        "gz",
        "tar",
        "py",
        "rb",
        "go",
        "rs",
        "java",
        "kt",
        "swift",
        "php",
        "mp3",
        "mp4",
        "wav",
        "mov",
        "avi",
        "webm",
        "woff",
        "woff2",
        "ttf",
        "otf",
    ]
)


# A run of digits with the separators phone numbers use, optionally after ``+`` and with an
# extension; phonenumbers then finds and validates the number inside it.
_PHONE_CAND = re.compile(
    r"(?<![\w+/=@#.,-])(?<!\d[ .])"
    r"(?:\+|\(\+?)?\d[\d()./ -]{5,24}\d"
    r"(?:[ ]?(?:x|ext\.?|extn\.?|extension|#)[ ]?\d{1,6})?"
    r"(?!\w|[.,/:-]\d)"
)
_PHONE_BLOCK = re.compile(
    r"\b(?:isbn(?:-1[03])?|issn|doi|arxiv|patent|no\.|nr\.|n°|order|invoice|serial|tracking|ref\.?|reference|sku|"
    r"ean|gtin|upc|barcode|bar code|code-barres|strichcode|imei|bestellung|rechnung|sendung|commande|facture|colis|"
    r"version|build|release|v|vat|ein|tax id|ust-idnr\.?|tva|siret|siren)[:\s#]*$",
    re.I,
)
# Words that make a bare run of digits (no separators, no ``+``) a phone number.
_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|tel|telephone|call|called|calling|ring|mobile|cell|fax|text|sms|whatsapp|hotline|contact|number|"
    r"reach|dial|line|"
    r"telefon|handy|rufnummer|nummer|anrufen|rückruf|erreichen|"
    r"téléphone|tél|portable|appel(?:ez|er)?|numéro|joindre|joignable)\b",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?;]\s|\n")
_PHONE_EXT = re.compile(r"[ ]?(?:x|ext\.?|extn\.?|extension|#)[ ]?\d{1,6}$", re.I)
_NANP_SHAPE = re.compile(r"(?:\+?1[ .-]?)?(?:\([2-9]\d\d\)[ .-]?|[2-9]\d\d([ .-]))[2-9]\d\d(?(1)\1|[ .-])\d{4}")
_NANP_DIGITS = re.compile(r"1?[2-9]\d\d[2-9]\d{6}")
_DATE_SHAPE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{2,4}(?!\d|[./-]\d)")

_IPV4 = re.compile(
    r"(?<![\w.-])((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})(?![\w-]|\.\d)"
)
_IP_BLOCK = re.compile(
    r"(?:\bv|\bversion|\bver\.?|\bsoftware|\bfirmware|\bkernel|\blinux|\bdriver|\bpackage|\brelease|\brel\.?|\bbuild|\bfirmware|\bfw|\bupdate|\bpatch|\bsection|\bsec\.|"
    r"\bchapter|\bch\.|\bclause|\bfigure|\bfig\.|\btable|\bstep|\brule|\bparagraph|\bpara\.?|§|\barticle|\bart\.|"
    r"\bitem|\bappendix|\bexercise|\btheorem|\blemma|\bequation|\beq\.)\s*$",
    re.I,
)
_IPV6 = re.compile(
    r"(?<![\w:.])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?)(?![\w:]|\.\d)"
)


_CARD = re.compile(
    r"(?<![\w.,+-])(?:\d{4}([ -]?)\d{4}\1\d{4}(?:\1\d{4}(?:\1\d{1,3})?)?|\d{4}([ -]?)\d{6}\2\d{4,5}|\d{12,19})"
    r"(?![\w-]|[.,]\d)"
)
_CARD_BLOCK = re.compile(
    r"(?:isbn(?:-1[03])?|issn|ean|gtin|upc|barcode|bar code|code-barres|strichcode|imei|tracking|sendungsnummer)"
    r"[\s:#-]*$",
    re.I,
)
_CARD_CONTEXT = re.compile(
    r"\b(?:card\w*|visa|maestro|mastercard|amex|jcb|diners|discover|credit|debit|(?:kredit)?karte\w*|carte\w*|cb|cc|"
    r"pay\w*|paid|zahl\w*|bezahl\w*|paiement|payé)\b",
    re.I,
)

_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w-])")
# SSN (3-2-4), SIN (3-3-3) and Aadhaar (4-4-4) in one pass, told apart by their group lengths.
_GROUPED_ID = re.compile(r"(?<![\w-])(\d{3,4})([- ])(\d{2,4})\2(\d{3,4})(?![\w-]|[.,]\d)")
# French company numbers (SIREN, 3-3-3) use the Luhn checksum too, exactly like Canadian SINs.
_ID_BLOCK = re.compile(
    r"(?:siren|siret|rcs|tva|vat|ust-idnr\.?|steuernummer|company|société|entreprise)[\s:#n°.]*$", re.I
)
_DIGIT_GROUP_NEXT = re.compile(r" \d")
_SSN_ADVERTISED = frozenset({"078051120", "219099999", "123456789"})
_NINO = re.compile(
    r"(?<![\w])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)"
)
_DNI = re.compile(r"(?<![\w-])([XYZ]?)(\d{7,8})-?([A-HJ-NP-TV-Z])(?!\w)")
# French NIR: sex, year, month, department (2A/2B for Corsica), commune, order, key.
_NIR = re.compile(r"(?<![\w-])[1-478]( ?)\d{2}\1\d{2}\1(?:\d{2}|2[AB])\1\d{3}\1\d{3}\1\d{2}(?![\w-]|[.,]\d)")
# German pension insurance number: area, birth date DDMMYY, initial, serial, check digit.
_RVNR = re.compile(r"(?<![\w-])\d{2}( ?)\d{6}\1[A-Z]\1\d{2} ?\d(?![\w-])")


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


# Street suffixes: the USPS Publication 28 (appendix C1) primary names and standard abbreviations,
# and British street words. The strong ones name a street even alone ("55 Oak Lane"); the others are
# also ordinary words ("24 Hour Fitness Center", "Top 10 Summer Island Getaways"), so a street ending
# in one must come with a unit or a city/postcode to count as an address.
_STRONG_SUFFIXES = _words(
    """Street Avenue Road Boulevard Lane Drive Court Place Terrace Way Highway Parkway Circle Square Crescent
    Close Grove Gardens Mews Trail Alley Plaza Loop Row Walk Hill Expressway Freeway Turnpike Causeway Pike
    Stravenue Throughway Trafficway Motorway Boulevard Parade Embankment Wharf
    St Ave Av Rd Blvd Ln Dr Ct Pl Ter Terr Hwy Pkwy Cir Sq Trl Expy Fwy Tpke Cswy Aly Plz Cres Gdns Gr Pde"""
)
_WEAK_SUFFIXES = _words(
    """Branch Bridge Brook Brooks Burg Burgs Bypass Camp Canyon Cape Center Centers Centre Cliff Cliffs Club
    Common Commons Corner Corners Course Courts Cove Coves Creek Crest Crossing Crossroad Curve Dale Dam
    Divide Drives Estate Estates Extension Extensions Fall Falls Ferry Field Fields Flat Flats Ford Fords
    Forest Forge Forges Fork Forks Fort Garden Gateway Glen Glens Green Greens Groves Harbor Harbors Harbour
    Haven Heights Hills Hollow Inlet Island Islands Isle Junction Junctions Key Keys Knoll Knolls Lake Lakes
    Land Landing Light Lights Loaf Lock Locks Lodge Mall Manor Manors Meadow Meadows Mill Mills Mission
    Mount Mountain Mountains Neck Orchard Oval Overpass Park Parks Parkways Pass Passage Path Pine Pines
    Plain Plains Point Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids Rest Ridge Ridges River
    Roads Route Rue Run Shoal Shoals Shore Shores Skyway Spring Springs Spur Spurs Squares Station Stream
    Streets Summit Trace Track Tunnel Underpass Union Unions Valley Valleys Via Viaduct View Views Village
    Villages Ville Vista Walks Wall Ways Well Wells Rise Vale Croft Chase Gate Yard Approach Circus End
    Ctr Cv Crk Hts Holw Jct Lk Ldg Mdw Mnr Mtn Pt Prt Rdg Riv Shr Spg Sta Vly Vis Vw Vlg Xing"""
)
_ALL_SUFFIXES = _STRONG_SUFFIXES | _WEAK_SUFFIXES
_WORD_SPLIT = re.compile(r"[^\w'’-]+")
_DIRECTIONS = _words("N S E W NE NW SE SW North South East West")
_ABBREVIATIONS = _words(
    """St Ave Av Rd Blvd Ln Dr Ct Pl Ter Terr Hwy Pkwy Cir Sq Trl Expy Fwy Tpke Cswy Aly Plz Cres Gdns Gr Pde
    Ctr Cv Crk Hts Holw Jct Lk Ldg Mdw Mnr Mtn Pt Prt Rdg Riv Shr Spg Sta Vly Vis Vw Vlg Xing
    N S E W NE NW SE SW"""
)
_UNIT_WORDS = _words("Apt Apartment Suite Ste Unit Flat Floor Fl Room Rm Bldg Building Studio Lot")

_EN_NUM = re.compile(r"(?<![\w.,$/#:+-])\d{1,5}[A-Za-z]?(?:-\d{1,5})?[ \t]+(?=[A-Z0-9])")
_EN_UNIT_FIRST = re.compile(
    r"(?<![\w-])(?:Flat|Studio|Apartment|Apt\.?|Unit|Suite|Room)[ \t]+#?\d{1,4}[A-Za-z]?"
    r"(?:[ \t]*,[ \t]*(?:\n[ \t]*)?|[ \t]*\n[ \t]*|[ \t]+)(?=[A-Z0-9])"
)
_EN_TOKEN = re.compile(r"(?:[A-Z][a-zA-Z'’-]*|\d{1,3}(?:st|nd|rd|th))(?![\w])")
_EN_NUMBER_AT = re.compile(r"\d{1,5}[A-Za-z]?(?:-\d{1,5})?[ \t]+(?=[A-Z0-9])")
_GAP = re.compile(r"[ \t]+")
_UNIT_NUMBER = re.compile(r"\.?[ \t]*#?[A-Za-z0-9-]{1,6}(?![\w])")
_UNIT_AFTER = re.compile(
    r"(?:[ \t]*,[ \t]*|[ \t]+)(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|#)\.?[ \t]*"
    r"#?[A-Za-z0-9-]{1,6}(?![\w])"
)
_SEP = r"(?:[ \t]*,[ \t]*(?:\n[ \t]*)?|[ \t]*\n[ \t]*)"
_CITY_EN = r"[A-Z][a-zA-Z'’.-]*(?:[ \t][A-Z][a-zA-Z'’.-]*){0,3}"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}"
_COUNTRY = (
    r"(?:,[ \t]*(?:USA|U\.S\.A\.|United[ \t]States(?:[ \t]of[ \t]America)?|UK|U\.K\.|United[ \t]Kingdom|England|"
    r"Scotland|Wales|Northern[ \t]Ireland)(?![\w]))?"
)
_US_TAIL = re.compile(
    _SEP + _CITY_EN + r",?[ \t]+(?:[A-Z]{2}|[A-Z]\.[A-Z]\.)[ \t]+\d{5}(?:-\d{4})?(?![\w-])" + _COUNTRY
)
_GB_TAIL = re.compile(
    "(?:" + _SEP + _CITY_EN + ")?" + r"(?:" + _SEP + r"|[ \t]+)" + _UK_POSTCODE + r"(?!\w)" + _COUNTRY
)
# A city alone after the street, when what follows it cannot be more of the sentence.
_CITY_TAIL = re.compile(
    r"[ \t]*,[ \t]*"
    + _CITY_EN
    + r"(?:,[ \t]*(?:[A-Z]{2}|[A-Z]\.[A-Z]\.)(?![\w]))?"
    + _COUNTRY
    + r"(?=[ \t]*(?:[.;:!?),]|[ \t]-[ \t]|\n|$))"
)
_EN_ADDRESS_CUE = re.compile(r"\b(?:at|to|address|addr\.)[ \t]*:?[ \t]*$", re.I)
_MILITARY = re.compile(
    r"(?<![\w])(?:(?:USS|USNS|USNV|USCGC)[ \t]+[A-Z][a-zA-Z'’-]+|(?:PSC|CMR|Unit)[ \t]+\d{1,5},?[ \t]+Box[ \t]+\d{1,5})"
    r"(?:" + _SEP + r"|[ \t]+)(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}(?:-\d{4})?(?![\w-])"
)

_DE_WORD = r"(?:Straße|Strasse|Str\.|Gasse|Platz|Ring|Weg|Allee|Damm|Ufer|Chaussee|Steig|Pfad|Markt|Graben|Kai)"
_DE_CITY = (
    r"(?:(?:Bad|Sankt|St\.|Schwäbisch|Königs|Hannoversch|Bergisch|Lutherstadt|Hansestadt)[ \t])?"
    r"[A-ZÄÖÜ][\wäöüß.-]*(?:[ \t](?:am|an[ \t]der|ob[ \t]der|vorm|im|in|bei|a\.[ \t]?d\.)[ \t][A-ZÄÖÜ][\wäöüß.-]*"
    r"|[ \t][A-ZÄÖÜ(][\wäöüß.()-]*(?=[ \t]*(?:[.,;:!?)]|\n|$)))?"
)
_ADDR_DE = re.compile(
    r"(?<![\w-])(?:(?:von|van|de|van[ \t]der|von[ \t]der)[ \t])?(?:(?:[A-ZÄÖÜ][a-zäöüß]+-)+"
    + _DE_WORD
    + r"|[A-ZÄÖÜ][a-zäöüß]{2,}"
    r"(?:straße|strasse|str\.|gasse|platz|weg|allee|damm|ufer|chaussee|steig|pfad|graben|(?P<ring>ring))"
    r"|[A-ZÄÖÜ][a-zäöüß]{2,}(?:er|e|en|es)[ \t]" + _DE_WORD + r")"
    r"[ \t]*\d{1,4}[a-z]?(?:[ \t]?[-/][ \t]?\d{1,4}[a-z]?)?(?![\w/-])"
    r"(?P<tail>(?:[ \t]*,[ \t]*|[ \t]*\n[ \t]*|[ \t]+)(?:D-)?\d{5}[ \t]+" + _DE_CITY + r")?"
)
_DE_ROAD_CLASS = re.compile(r"(?:Bundes|Landes|Land|Kreis|Staats|Gemeinde)stra(?:ße|sse)\b")
# After a bare "Spielplatz 3", a capitalised word is the noun being counted, not the rest of an address.
_DE_NOUN_NEXT = re.compile(r"[ \t]+[A-ZÄÖÜ][a-zäöüß]")

# Words that are also English ("3 Square Meals", "Passage 5") count only in lower case.
_FR_TYPE = (
    r"(?:(?i:rue|avenue|av\.|boulevard|bd|chemin|allée|impasse|quai|sentier|rond-point|faubourg|esplanade|parvis|"
    r"cité|résidence|hameau|lieu-dit)|place|route|cours|square|passage|voie|promenade)"
)
_FR_NAME = r"[A-ZÉÈÊÀÂÎÔÛÇ][\w'’-]*"
_FR_CITY = (
    r"(?:(?:Saint|Sainte|St|Ste|Le|La|Les|L['’])[ \t-]?)?"
    + _FR_NAME
    + r"(?:[ \t]+Cedex(?:[ \t]+\d{1,2})?|[ \t]"
    + _FR_NAME
    + r")?"
)
_ADDR_FR = re.compile(
    r"(?:(?<![\w.,-])(?P<num>\d{1,4}(?:[ \t]?(?:bis|ter|quater|[A-D]))?),?[ \t]+|(?<![\w'’-]))"
    + _FR_TYPE
    + r"[ \t]+(?:(?:de[ \t]la|de[ \t]l['’]|du|des|de|d['’]|la|le|les|l['’])[ \t]*)?"
    + _FR_NAME
    + r"(?:[ \t]+(?:(?:de|du|des|la|le|les|et|sur|d['’]|l['’])[ \t]*)?"
    + _FR_NAME
    + r"){0,3}"
    r"(?P<tail>(?:[ \t]*,[ \t]*|[ \t]*\n[ \t]*|[ \t]+)(?:F-)?\d{5}[ \t]+" + _FR_CITY + r")?"
)
_PO_BOX = re.compile(r"(?<![\w])P\.?\s?O\.?\s+Box\s+\d{1,6}(?!\w)", re.I)

_URL = re.compile(
    r"(?:(?:https?://|www\.)[^\s<>\"'`\\\[\]{}|^]+|"
    r"(?<![\w.@/-])(?:(?:[a-z0-9-]+\.)?(?:facebook|twitter|instagram|linkedin|github|gitlab|tiktok|youtube|reddit|"
    r"medium|pinterest|vk)\.com|x\.com|t\.me)/[^\s<>\"'`\\\[\]{}|^]+)",
    re.I,
)
_PAGE_EXT = re.compile(r"\.(?:php|html?|aspx?|jsp|cgi)$", re.I)
_PERSON_SEGMENTS = frozenset({"users", "user", "u", "people", "person", "profile", "profiles", "members", "member"})
_NAME = re.compile(r"[A-Za-z0-9][\w.-]{0,63}$")
# Path segments after /users/ etc. that are pages, not people.
_NON_NAMES = frozenset(
    [
        "login",
        "logout",
        "signin",
        "sign_in",
        "signup",
        "sign_up",
        "register",
        "settings",
        "edit",
        "new",
        "search",
        "list",
        "password",
        "account",
        "me",
        "self",
        "help",
        "index",
        "profile",
        "sessions",
        "auth",
        "oauth",
    ]
)
# Social sites: first path segments that are the site's own pages, not a person.
_SOCIAL_RESERVED: dict[str, frozenset[str]] = {
    "facebook.com": frozenset(
        [
            "pages",
            "groups",
            "events",
            "help",
            "policies",
            "privacy",
            "login",
            "watch",
            "marketplace",
            "gaming",
            "business",
            "ads",
            "sharer",
            "sharer.php",
            "share.php",
            "dialog",
            "plugins",
            "legal",
            "terms",
            "settings",
            "home.php",
            "photo.php",
            "story.php",
            "permalink.php",
            "hashtag",
            "search",
            "notes",
            "l.php",
            "tr",
            "about",
            "careers",
        ]
    ),
    "twitter.com": frozenset(
        [
            "home",
            "search",
            "explore",
            "intent",
            "share",
            "i",
            "hashtag",
            "settings",
            "login",
            "signup",
            "notifications",
            "messages",
            "tos",
            "privacy",
            "about",
            "download",
            "compose",
        ]
    ),
    "x.com": frozenset(
        [
            "home",
            "search",
            "explore",
            "intent",
            "share",
            "i",
            "hashtag",
            "settings",
            "login",
            "signup",
            "notifications",
            "messages",
            "tos",
            "privacy",
            "about",
            "download",
            "compose",
        ]
    ),
    "instagram.com": frozenset(
        ["p", "reel", "reels", "explore", "accounts", "stories", "tv", "about", "legal", "developer", "direct"]
    ),
    "github.com": frozenset(
        [
            "about",
            "features",
            "pricing",
            "enterprise",
            "orgs",
            "organizations",
            "topics",
            "trending",
            "collections",
            "marketplace",
            "sponsors",
            "settings",
            "login",
            "join",
            "search",
            "explore",
            "issues",
            "pulls",
            "notifications",
            "security",
            "site",
            "customer-stories",
            "readme",
            "apps",
            "codespaces",
            "team",
            "contact",
            "new",
        ]
    ),
    "gitlab.com": frozenset(["explore", "help", "users-sign-in", "search", "dashboard", "projects", "groups", "-"]),
    "pinterest.com": frozenset(["pin", "search", "ideas", "today", "categories", "business", "settings", "about"]),
    "vk.com": frozenset(["feed", "im", "search", "video", "audio", "groups", "wall", "photo"]),
    "t.me": frozenset(["joinchat", "addstickers", "share", "s", "iv", "proxy", "socks"]),
    "medium.com": frozenset(),
}


def _strip_url_tail(url: str) -> str:
    # Sentence punctuation and unmatched closing brackets are not part of a URL.
    while url and url[-1] in ".,;:!?)'\"’”>":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def personal_url_kind(url: str) -> str | None:
    """The reason a URL names a person (``tilde``, ``users-path``, ``twitter``, ...), or None.

    Args:
        url: An absolute URL, or one starting with ``www.`` or a social domain.
    """
    full = url if re.match(r"(?i)https?://", url) else "http://" + url
    try:
        parts = urlsplit(full)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    if host.startswith("m.") or host.startswith("mobile."):
        host = host.split(".", 1)[1]
    segs = [s for s in parts.path.split("/") if s]
    if not segs:
        return None
    first = segs[0]
    if first.startswith("~") and len(first) > 1:
        return "tilde"
    if first.startswith("@") and len(first) > 1 and _NAME.match(first[1:]):
        return "at-handle"
    base = host.rsplit(".", 2)
    domain = ".".join(base[-2:]) if len(base) >= 2 else host
    if domain in ("linkedin.com",):
        return "linkedin" if len(segs) >= 2 and first in ("in", "pub") else None
    if domain == "youtube.com":
        return "youtube" if len(segs) >= 2 and first in ("user", "c") else None
    if domain == "reddit.com":
        return "reddit" if len(segs) >= 2 and first in ("u", "user") else None
    if domain == "tiktok.com":
        return None  # profiles are /@name, handled above
    if domain in _SOCIAL_RESERVED:
        reserved = _SOCIAL_RESERVED[domain]
        if domain == "medium.com":
            return None  # medium profiles are /@name
        if first.lower() in reserved or not _NAME.match(first) or _PAGE_EXT.search(first):
            return None
        if domain in ("github.com", "gitlab.com") and len(segs) > 1:
            return None  # owner/repo: the owner is as often an organisation as a person
        return domain.split(".")[0]
    for i, seg in enumerate(segs[:-1]):
        nxt = segs[i + 1]
        if not _NAME.match(nxt) or nxt.lower() in _NON_NAMES:
            continue
        if seg.lower() in _PERSON_SEGMENTS:
            return "users-path"
        if seg.lower() in ("author", "authors"):
            return "author-path"
    return None


# ----------------------------------------------------------------------------------------- detectors


def _find_emails(text: str, out: list[Span]) -> None:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        if m.group(2).lower() in _FILE_EXTS:
            continue
        if text[m.end() : m.end() + 1] == ":" and text[m.end() + 1 : m.end() + 2].strip():
            continue  # scp-style remote (git@github.com:org/repo.git), not a mailbox
        out.append(Span(m.start(), m.end(), "email"))


def _digits(s: str) -> str:
    return "".join(ch for ch in s if "0" <= ch <= "9")


def _phone_kind(raw: str, valid: bool, region: str, before: str) -> str | None:
    """Why a number found by phonenumbers is a phone number (its kind), or None when it is not kept."""
    main = _PHONE_EXT.sub("", raw)
    if main.startswith("(") and ")" not in main:
        main = main[1:]  # "(1-800-275-2273)": the parenthesis encloses the number
    digits = _digits(main)
    if len(digits) < 7:
        return None
    if main.startswith(("+", "(+", "00")):
        # A country code never starts with 0 (after + or after the 00 international prefix).
        country = digits[2:3] if main.startswith("00") else digits[:1]
        return "international" if len(digits) >= 8 and country not in ("", "0") else None
    if main.lstrip("(").startswith("00") or len(set(digits)) < 3:
        return None  # a national number's trunk 0 is followed by an area code, never by another 0
    if _DATE_SHAPE.match(main) or main.startswith(("0.", "0,")):
        return None  # 01-02-2023, 0.123 456 789
    seps = {ch for ch in main if ch in " -./()"}
    if "." in seps:
        # Dotted phone numbers have three or more groups of 2-4 digits (312.737.9655, 01.23.45.67.89);
        # anything else dotted is a version, a build or a decimal.
        groups = re.split(r"[ .()/-]+", main.strip("()"))
        if len(groups) < 3 or any(not 2 <= len(g) <= 4 for g in groups) or len(seps - {"(", ")"}) > 1:
            return None
    kind = "nanp" if region == "US" else "national"
    if not seps:
        # A bare run of digits is as often an id, a timestamp or a barcode as a phone number: it needs a
        # phone word earlier in the sentence, or a trunk 0, ten digits or more and no barcode checksum.
        if len(digits) > 12:
            return None
        trunk = main.startswith("0") and len(digits) >= 10
        if _PHONE_CONTEXT.search(_SENTENCE_END.split(before)[-1]) and (
            valid or trunk or (region == "US" and _NANP_DIGITS.fullmatch(main))
        ):
            return kind
        if valid and trunk and not _ean.is_valid(digits):
            return kind
        return None
    if len(digits) < 10 and "(" not in seps and not _PHONE_CONTEXT.search(_SENTENCE_END.split(before)[-1]):
        return None  # nine digits or fewer: shaped like SSNs, SINs and part numbers more often than phones
    if region == "US":
        # Written NANP numbers are grouped 3-3-4; other groupings of ten digits are dates and ids.
        return "nanp" if _NANP_SHAPE.fullmatch(main) else None
    if valid:
        return kind
    # Only possible (right length, but an unassigned or fictitious range): keep the unmistakable formats.
    if main.startswith(("0", "(0")) and len(digits) >= 10:
        return "national"
    return None


def _find_phones(text: str, out: list[Span]) -> None:
    for m in _PHONE_CAND.finditer(text):
        cand = m.group(0)
        if sum(ch.isdigit() for ch in cand) < 7:
            continue
        before = text[max(0, m.start() - 50) : m.start()]
        if _PHONE_BLOCK.search(before):
            continue
        if cand.isdigit() and not (
            (cand[0] == "0" and 10 <= len(cand) <= 12) or _PHONE_CONTEXT.search(_SENTENCE_END.split(before)[-1])
        ):
            continue  # a bare run of digits that could not be kept (see _phone_kind): skip the parsing
        # The regions whose reading can be kept: a national number in GB, DE or FR starts with the trunk
        # 0, a NANP number never does, and an international one reads the same from anywhere.
        if cand.startswith(("+", "(+", "00")):
            regions: tuple[str, ...] = ("GB",)
        elif cand.lstrip("(").startswith("0"):
            regions = tuple(r for r in PHONE_REGIONS if r != "US")
        else:
            regions = ("US",)
        # Possible readings, then the checks of Leniency.VALID (an assigned range; the trunk prefix
        # where a national number needs one) decide how much more evidence is needed.
        found: list[tuple[int, int, bool, str]] = []
        for region in regions:
            for pm in phonenumbers.PhoneNumberMatcher(cand, region, leniency=phonenumbers.Leniency.POSSIBLE):
                raw = pm.raw_string
                national = not raw.startswith(("+", "(+", "00"))
                valid = phonenumbers.is_valid_number(pm.number) and (
                    region == "US" or not national or raw.lstrip("(").startswith("0")
                )
                kind = _phone_kind(raw, valid, region, before + cand[: pm.start])
                if kind is not None:
                    # An opening parenthesis that is never closed belongs to the sentence, not the number.
                    lead = 1 if raw.startswith("(") and ")" not in raw else 0
                    found.append((m.start() + pm.start + lead, m.start() + pm.end, valid, kind))
        # Several regions may read the same digits: keep the longest reading of each stretch, a valid
        # one before a merely possible one.
        found.sort(key=lambda f: (f[0], -(f[1] - f[0]), not f[2]))
        end = -1
        for a, b, _valid, kind in found:
            if a >= end:
                out.append(Span(a, b, "phone", kind))
                end = b


def _ip_context_blocked(text: str, start: int) -> bool:
    return bool(_IP_BLOCK.search(text[max(0, start - 24) : start]))


def _find_ips(text: str, out: list[Span]) -> None:
    if "." in text and sum(text.count(d) for d in "0123456789") >= 4:
        for m in _IPV4.finditer(text):
            addr = ipaddress.IPv4Address(m.group(1))
            if addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_reserved:
                continue
            if addr.is_link_local or _ip_context_blocked(text, m.start()):
                continue
            first, last = m.group(1).split(".", 1)[0], m.group(1).rsplit(".", 1)[1]
            if first == "0" or last in ("0", "255"):
                continue  # "this network", network and broadcast addresses: not a host (and often versions)
            out.append(Span(m.start(), m.end(), "ip_address", "ipv4"))
    if text.count(":") >= 2:
        for m in _IPV6.finditer(text):
            cand = m.group(1)
            groups = [g for g in re.split(r":+", cand) if g]
            if len(groups) < 3 and "." not in cand:
                continue
            try:
                addr6 = ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            if addr6.is_loopback or addr6.is_unspecified or addr6.is_multicast or addr6.is_link_local:
                continue
            out.append(Span(m.start(), m.end(), "ip_address", "ipv6"))


def _find_cards(text: str, out: list[Span]) -> None:
    for m in _CARD.finditer(text):
        d = _digits(m.group(0))
        if not 12 <= len(d) <= 19 or len(set(d)) < 2 or not luhn_valid(d):
            continue
        issuer = _card_issuer(d)
        if issuer is None:
            continue
        before = text[max(0, m.start() - 40) : m.start()]
        if _CARD_BLOCK.search(before):
            continue
        # Barcodes (EAN-13, UPC-A) have 12 or 13 digits too; one that also passes Luhn is a card only
        # when the text says so.
        if len(d) in (12, 13) and _ean.is_valid(d) and not _CARD_CONTEXT.search(before):
            continue
        out.append(Span(m.start(), m.end(), "payment_card", issuer))


def _find_ibans(text: str, out: list[Span]) -> None:
    for m in _IBAN.finditer(text):
        if iban_valid(m.group(0).replace(" ", "")):
            out.append(Span(m.start(), m.end(), "bank_account", "iban"))


def _find_national_ids(text: str, out: list[Span], n_digits: int) -> None:
    if n_digits >= 9:
        for m in _GROUPED_ID.finditer(text):
            if m.group(2) == " " and _DIGIT_GROUP_NEXT.match(text, m.end()):
                continue  # the first groups of a longer spaced number (a SIRET, a phone number)
            if _ID_BLOCK.search(text, max(0, m.start() - 24), m.start()):
                continue
            a, b, c = m.group(1), m.group(3), m.group(4)
            shape = (len(a), len(b), len(c))
            if shape == (3, 2, 4):
                # python-stdnum's SSN check also rejects 457-55-5462, a real person's published number.
                if a in ("000", "666") or a[0] == "9" or b == "00" or c == "0000" or a + b + c in _SSN_ADVERTISED:
                    continue
                out.append(Span(m.start(), m.end(), "national_id", "us_ssn"))
            elif shape == (3, 3, 3) and _ca_sin.is_valid(a + b + c):
                out.append(Span(m.start(), m.end(), "national_id", "ca_sin"))
            elif shape == (4, 4, 4) and _in_aadhaar.is_valid(a + b + c):
                out.append(Span(m.start(), m.end(), "national_id", "in_aadhaar"))
    if n_digits >= 13:
        for m in _NIR.finditer(text):
            if _fr_nir.is_valid(m.group(0)):
                out.append(Span(m.start(), m.end(), "national_id", "fr_nir"))
    if n_digits < 6:
        return
    for m in _NINO.finditer(text):
        out.append(Span(m.start(), m.end(), "national_id", "uk_nino"))
    if n_digits < 7:
        return
    for m in _DNI.finditer(text):
        if _es_nie.is_valid(m.group(0)) if m.group(1) else _es_dni.is_valid(m.group(0)):
            out.append(Span(m.start(), m.end(), "national_id", "es_dni"))
    if n_digits >= 11:
        for m in _RVNR.finditer(text):
            if _rvnr_valid(m.group(0).replace(" ", "")):
                out.append(Span(m.start(), m.end(), "national_id", "de_rvnr"))


def _en_street(text: str, pos: int) -> tuple[int, bool, bool] | None:
    """Parse ``Name... Suffix [Direction] [Unit N]`` at ``pos``: (end, strong suffix, has a unit), or None."""
    # Most numbers followed by a capitalised word are not addresses: look for a suffix word first.
    if _ALL_SUFFIXES.isdisjoint(_WORD_SPLIT.split(text[pos : pos + 80], 7)[1:7]):
        return None
    toks: list[tuple[int, int, str]] = []
    p = pos
    while len(toks) < 7:
        m = _EN_TOKEN.match(text, p)
        if m is None:
            break
        toks.append((m.start(), m.end(), m.group()))
        # A dot goes on only after an abbreviation or an initial ("W. 34th St."); after a word it ends
        # the sentence.
        after = m.end() + (text[m.end() : m.end() + 1] == "." and (m.group() in _ABBREVIATIONS or len(m.group()) == 1))
        g = _GAP.match(text, after)
        if g is None:
            break
        p = g.end()
    best: tuple[int, int, bool] | None = None
    # The street name ends at the last suffix that is followed only by directions and, at most, a unit
    # word; at least one name word comes before it.
    for i in range(1, len(toks)):
        word = toks[i][2]
        if word not in _STRONG_SUFFIXES and word not in _WEAK_SUFFIXES:
            continue
        j = i + 1
        while j < len(toks) and toks[j][2] in _DIRECTIONS:
            j += 1
        if j == len(toks):
            best = (i, j - 1, False)
        elif j == len(toks) - 1 and toks[j][2] in _UNIT_WORDS:
            best = (i, j - 1, True)
    if best is None:
        return None
    i, last, unit_word = best
    end = toks[last][1]
    # An abbreviation keeps its dot ("St."); after a full word the dot ends the sentence.
    if text[end : end + 1] == "." and toks[last][2] in _ABBREVIATIONS:
        end += 1
    strong = toks[i][2] in _STRONG_SUFFIXES
    has_unit = False
    if unit_word:
        u = toks[last + 1]
        um = _UNIT_NUMBER.match(text, u[1])
        if um is not None:
            end, has_unit = um.end(), True
    if not has_unit:
        um = _UNIT_AFTER.match(text, end)
        if um is not None:
            end, has_unit = um.end(), True
    return end, strong, has_unit


def _en_tail(text: str, pos: int) -> int | None:
    """End of a city + state + ZIP, a city + UK postcode, or a postcode after ``pos``, or None."""
    best = None
    for pattern in (_US_TAIL, _GB_TAIL):
        m = pattern.match(text, pos)
        if m is not None and (best is None or m.end() > best):
            best = m.end()
    return best


def _en_address_cue(text: str, start: int, end: int) -> bool:
    """Whether a street with an ordinary-word suffix ("Jensen Falls") is introduced as an address.

    It is when it fills a line of its own (an address block), or when "at", "to" or "address" comes
    right before it and its number is not a year ("in 1990 Silicon Valley ...").
    """
    line_start = start == 0 or text[start - 1] == "\n"
    line_end = end == len(text) or text[end] == "\n"
    if line_start and line_end:
        return True
    number = text[start : start + 5].split(" ", 1)[0]
    if len(number) == 4 and number.isdigit() and 1800 <= int(number) <= 2099:
        return False
    return bool(_EN_ADDRESS_CUE.search(text, max(0, start - 20), start))


def _find_en_addresses(text: str, out: list[Span]) -> None:
    starts: list[tuple[int, int, bool]] = []  # (start, street position, unit before)
    for m in _EN_UNIT_FIRST.finditer(text):
        p = m.end()
        nm = _EN_NUMBER_AT.match(text, p)
        starts.append((m.start(), nm.end() if nm else p, True))
    for m in _EN_NUM.finditer(text):
        starts.append((m.start(), m.end(), False))
    for start, pos, unit_before in starts:
        street = _en_street(text, pos)
        if street is None:
            continue
        end, strong, has_unit = street
        tail = _en_tail(text, end)
        if tail is not None:
            end = tail
        elif not (strong or has_unit or unit_before or _en_address_cue(text, start, end)):
            continue
        else:
            ct = _CITY_TAIL.match(text, end)
            if ct is not None:
                end = ct.end()
        out.append(Span(start, end, "street_address", "us_uk"))
    if "PO" in text:
        for m in _MILITARY.finditer(text):
            out.append(Span(m.start(), m.end(), "street_address", "us_military"))


def _find_addresses(text: str, out: list[Span]) -> None:
    _find_en_addresses(text, out)
    low = text.lower()
    if any(w in low for w in _DE_HINTS):
        for m in _ADDR_DE.finditer(text):
            if m.group("tail") is None and (m.group("ring") or _DE_NOUN_NEXT.match(text, m.end())):
                continue
            if _DE_ROAD_CLASS.match(m.group(0)):
                continue  # "Bundesstraße 92" is a road's number, not a house number
            out.append(Span(m.start(), m.end(), "street_address", "de"))
    if any(w in low for w in _FR_HINTS):
        for m in _ADDR_FR.finditer(text):
            if m.group("num") is None and m.group("tail") is None:
                continue  # a street name alone, without a house number or a postcode, is no one's address
            out.append(Span(m.start(), m.end(), "street_address", "fr"))
    if "box" in low:
        for m in _PO_BOX.finditer(text):
            out.append(Span(m.start(), m.end(), "street_address", "po_box"))


_DE_HINTS = (
    "straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "damm", "ufer", "ring", "chaussee", "steig",
    "pfad", "markt", "graben", "kai",
)  # fmt: skip
_FR_HINTS = (
    "rue ", "avenue ", "av. ", "boulevard ", "bd ", "place ", "chemin ", "allée ", "impasse ", "quai ", "route ",
    "cours ", "square ", "passage ", "voie ", "sentier ", "rond-point ", "faubourg ", "promenade ", "esplanade ",
    "parvis ", "cité ", "résidence ", "hameau ", "lieu-dit ",
)  # fmt: skip


def _find_urls(text: str, out: list[Span]) -> None:
    if "/" not in text:
        return
    for m in _URL.finditer(text):
        url = _strip_url_tail(m.group(0))
        kind = personal_url_kind(url)
        if kind is not None:
            out.append(Span(m.start(), m.start() + len(url), "personal_url", kind))


def _resolve(spans: list[Span]) -> list[Span]:
    """Keep non-overlapping spans by type priority, then length; return them in text order."""
    if len(spans) <= 1:
        return spans
    ranked = sorted(spans, key=lambda s: (_PRIORITY[s.type], -(s.end - s.start), s.start))
    kept: list[Span] = []
    for s in ranked:
        if all(s.end <= k.start or s.start >= k.end for k in kept):
            kept.append(s)
    kept.sort(key=lambda s: s.start)
    return kept


def detect(text: str, types: Iterable[str] = PII_TYPES) -> list[Span]:
    """Find personal information in a text.

    Args:
        text: The text.
        types: Which types to look for (default: all of :data:`PII_TYPES`).

    Returns:
        Non-overlapping spans in text order.
    """
    wanted = set(types)
    raw: list[Span] = []
    if "email" in wanted:
        _find_emails(text, raw)
    if "personal_url" in wanted:
        _find_urls(text, raw)
    # Every remaining type needs digits; how many decides which detectors can match (cheap gate).
    n_digits = sum(text.count(d) for d in "0123456789")
    if n_digits:
        if "phone" in wanted and n_digits >= 8:
            _find_phones(text, raw)
        if "ip_address" in wanted:
            _find_ips(text, raw)
        if "payment_card" in wanted and n_digits >= 12:
            _find_cards(text, raw)
        if "bank_account" in wanted and n_digits >= 10:
            _find_ibans(text, raw)
        if "national_id" in wanted:
            _find_national_ids(text, raw, n_digits)
        if "street_address" in wanted:
            _find_addresses(text, raw)
    return _resolve(raw)


def redact(text: str, spans: Sequence[Span]) -> str:
    """Replace each span by its type's placeholder (spans must not overlap, as :func:`detect` returns)."""
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for s in sorted(spans, key=lambda s: s.start):
        parts.append(text[pos : s.start])
        parts.append(PLACEHOLDERS[s.type])
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


# ----------------------------------------------------------------------------------------- evaluation


def evaluate(cases: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Span-level precision and recall per type on labelled texts.

    A detected span is a true positive when it overlaps a labelled span of the same type; a
    labelled span is found when a detected span of its type overlaps it.

    Args:
        cases: Dicts with ``text`` and ``spans``: a list of ``[type, substring]`` pairs (each
            substring must occur in the text; its first occurrence is the labelled span).

    Returns:
        ``{type: {"tp", "fp", "fn", "precision", "recall", "support"}}`` plus ``"all"`` (micro average).

    Raises:
        ValueError: A labelled substring is not in its text, or a type is unknown.
    """
    stats = {t: {"tp": 0, "fp": 0, "fn": 0} for t in PII_TYPES}
    for case in cases:
        text = case["text"]
        gold: list[tuple[str, int, int]] = []
        for typ, sub in case.get("spans", []):
            if typ not in stats:
                raise ValueError(f"unknown PII type {typ!r}")
            i = text.find(sub)
            if i < 0:
                raise ValueError(f"labelled span {sub!r} not in text {text!r}")
            gold.append((typ, i, i + len(sub)))
        found = detect(text)
        for s in found:
            hit = any(g[0] == s.type and s.start < g[2] and g[1] < s.end for g in gold)
            stats[s.type]["tp" if hit else "fp"] += 1
        for typ, a, b in gold:
            if not any(s.type == typ and s.start < b and a < s.end for s in found):
                stats[typ]["fn"] += 1
    out: dict[str, dict[str, float]] = {}
    total = {"tp": 0, "fp": 0, "fn": 0}
    for t, c in stats.items():
        for k in total:
            total[k] += c[k]
        out[t] = _pr(c)
    out["all"] = _pr(total)
    return out


def _pr(c: dict[str, int]) -> dict[str, float]:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "support": tp + fn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
    }
