"""Personal-information detectors and typed redaction.

Eight types are detected, each by a regular expression followed by validation (checksums, number
ranges, context), so that version numbers, dates, ISBNs, prices, timestamps and formulas are not
reported:

============== ================ ===========================================================================
type           placeholder      what is matched
============== ================ ===========================================================================
email          ``[EMAIL]``      ``local@domain.tld``; a "TLD" that is a file extension (``logo@2x.png``) is not
phone          ``[PHONE]``      ``+CC`` international numbers (8-15 digits, E.164 length), NANP numbers
                                (``(212) 555-0143``, ``212-555-0143``, ``1-800-555-0199``; area code and exchange
                                must start with 2-9), and national numbers with a trunk ``0``
                                (``020 7946 0958``, ``030 12345678``, ``01 23 45 67 89``; 9-12 digits). Not
                                after ``ISBN``/``ISSN``/``DOI``/``arXiv``
ip_address     ``[IP_ADDRESS]`` IPv4 (no leading zeros, not part of a longer dotted number, not after
                                "version", "v", "firmware", "section", "figure", ...; not ``0.x.x.x`` nor
                                ending in ``.0``/``.255``) and IPv6 (validated, at least three
                                groups). Loopback, unspecified, multicast, reserved (incl. ``255.x`` masks)
                                and link-local addresses are not personal and not reported; private ranges
                                (``192.168.x.x``) are
bank_account   ``[IBAN]``       IBANs (compact or in groups of four) with the right length for their country
                                and a valid ISO 13616 mod-97 checksum
payment_card   ``[CARD_NUMBER]`` 13-19 digits in card groupings (4-4-4-4[-3], Amex 4-6-5, Diners 4-6-4, or
                                contiguous) with a valid Luhn checksum and a known issuer prefix (Visa,
                                Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro)
national_id    ``[NATIONAL_ID]`` ``us_ssn``: ``AAA-GG-SSSS`` (hyphen or space) without the never-issued ranges
                                (area 000, 666, 900-999; group 00; serial 0000) and the advertised numbers
                                078-05-1120, 219-09-9999, 123-45-6789; ``uk_nino``: National Insurance
                                numbers (valid prefix letters, suffix A-D); ``ca_sin``: Canadian SIN
                                ``NNN-NNN-NNN`` with Luhn check, first digit not 0 or 8; ``in_aadhaar``:
                                ``NNNN NNNN NNNN`` with Verhoeff check, first digit 2-9; ``es_dni``: Spanish
                                DNI/NIE with its mod-23 check letter
street_address ``[ADDRESS]``    house number + capitalised street name + street suffix (US/UK style, with
                                optional unit, city, state + ZIP or UK postcode), German ``...straße 12``
                                (``-straße``, ``-weg``, ``-allee``, ``-platz``, ``-gasse``, ``-damm``, ``-ufer``),
                                French ``12 rue de ...`` and ``P.O. Box 123``
personal_url   ``[PERSONAL_URL]`` URLs whose path names a person: ``/~user``, ``/users/NAME``, ``/user/``,
                                ``/u/``, ``/people/``, ``/profile/``, ``/members/``, ``/author/``, and profile
                                URLs on social sites (facebook, twitter/x, instagram, linkedin ``/in/``,
                                github, gitlab, tiktok ``/@``, youtube ``/@``, ``/user/``, ``/c/``, reddit
                                ``/u/``, medium ``/@``, mastodon-style ``/@name``, t.me, vk, pinterest),
                                excluding the sites' own non-profile pages (``/help``, ``/search``,
                                ``/features``, ...)
============== ================ ===========================================================================

When spans of different types overlap, one span is kept, by the priority email > personal_url >
payment_card > bank_account > national_id > ip_address > phone > street_address, then by length. Counts and
redaction use the kept spans only, so a number is never counted twice.

The precision and recall of every type are measured on a labelled set that ships with the tests
(``tests/audit/pii_cases.py``); :func:`evaluate` computes them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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

NATIONAL_ID_KINDS: tuple[str, ...] = ("us_ssn", "uk_nino", "ca_sin", "in_aadhaar", "es_dni")
"""The national identifier formats recognised (see the module docstring)."""

_PRIORITY = {
    t: i
    for i, t in enumerate(
        ("email", "personal_url", "payment_card", "bank_account", "national_id", "ip_address", "phone")
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
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(digits: str) -> bool:
    """Whether a digit string passes the Verhoeff checksum (used by Aadhaar numbers)."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"

# IBAN lengths of the countries most often seen (others: 15-34 characters).
_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}  # fmt: skip


def iban_valid(iban: str) -> bool:
    """Whether a compact IBAN (no spaces) has a known length and a valid ISO 13616 mod-97 checksum."""
    n = len(iban)
    if iban[:2] in _IBAN_LENGTHS:
        if n != _IBAN_LENGTHS[iban[:2]]:
            return False
    elif not 15 <= n <= 34:
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


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
    if 3528 <= four <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= three <= 305 or two in (36, 38, 39) or d[:4] == "3095") and 14 <= n <= 19:
        return "diners"
    if two == 62 and 16 <= n <= 19:
        return "unionpay"
    if (two == 50 or 56 <= two <= 69) and 12 <= n <= 19:
        return "maestro"
    return None


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

_PHONE = re.compile(
    r"""
    (?<![\w+/.=@-])(?<!\d[ .-])
    (?:
        (?P<intl>\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,6})
      | (?P<nanp>(?:1[ .-])?(?:\((?P<a1>\d{3})\)[ .-]?|(?P<a2>\d{3})[.-]|(?P<a3>\d{3})[ ])
            (?P<ex>\d{3})[ .-]\d{4})
      | (?P<paren>\(0\d{1,4}\)[ ]?\d{3,4}[ .-]?\d{3,4})
      | (?P<trunk>0[1-9]\d{0,3}(?:[ -]\d{2,8}){1,4}|0[1-9](?:\.\d{2}){4})
    )
    (?:[ ]?(?:ext\.?|x)[ ]?\d{1,5})?
    (?![\w-]|[.,:/]\d|[ ]\d)
    """,
    re.X,
)
_PHONE_BLOCK = re.compile(r"(?:isbn(?:-1[03])?|issn|doi|arxiv|patent|no\.)[:\s#]*$", re.I)

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
    r"(?<![\w.,-])(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -]?)\d{6}\2\d{4,5}|\d{13,19})(?![\w-]|[.,]\d)"
)

_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w-])")
# SSN (3-2-4), SIN (3-3-3) and Aadhaar (4-4-4) in one pass, told apart by their group lengths.
_GROUPED_ID = re.compile(r"(?<![\w-])(\d{3,4})([- ])(\d{2,4})\2(\d{3,4})(?![\w-]|[.,]\d)")
_SSN_ADVERTISED = frozenset({"078051120", "219099999", "123456789"})
_NINO = re.compile(
    r"(?<![\w])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)"
)
_DNI = re.compile(r"(?<![\w-])([XYZ]?)(\d{7,8})-?([A-HJ-NP-TV-Z])(?!\w)")

# Full street words, then abbreviations (which may carry a dot; a full word's following dot ends a sentence).
_ST_SUFFIX = (
    r"(?:(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Place|Terrace|Way|Highway|Parkway|Circle|Square|"
    r"Crescent|Close|Grove|Gardens|Mews|Trail|Alley|Plaza|Loop|Row|Walk|Hill)(?![a-zA-Z])|"
    r"(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Hwy|Pkwy|Cir|Sq|Trl)(?![a-zA-Z])\.?)"
)
_ADDR_US = re.compile(
    r"(?<![\w.,$-])\d{1,5}[A-Za-z]?(?:-\d{1,5})?\s+"
    r"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?\s+)?"
    r"(?:(?:[A-Z][a-zA-Z'’-]+|\d{1,3}(?:st|nd|rd|th))\.?\s+){1,4}"
    + _ST_SUFFIX
    + r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)(?![a-zA-Z]))?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|#)\.?\s*#?[A-Za-z0-9-]{1,6})?"
    r"(?:,\s*[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,3}"
    r"(?:,?\s*(?:[A-Z]{2}\s+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}))?)?"
)
_ADDR_DE = re.compile(
    r"(?<![\w])(?:[A-ZÄÖÜ][a-zäöüß]{2,}(?:straße|strasse|str\.|weg|allee|platz|gasse|damm|ufer)|"
    r"[A-ZÄÖÜ][a-zäöüß]+(?:er)?\s(?:Straße|Strasse|Weg|Allee|Platz|Gasse|Damm))"
    r"\s+\d{1,3}[a-z]?(?![\w])(?:,\s*\d{5}\s+[A-ZÄÖÜ][a-zäöüß]+(?:\s(?:am|an der)\s[A-ZÄÖÜ][a-zäöüß]+)?)?"
)
_ADDR_FR = re.compile(
    r"(?<![\w.,-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|"
    r"route|cours)\s+(?:(?:de la|de l'|de l’|du|des|de|d'|d’|la|le|les)\s*)?[A-ZÉÈÂ][\w'’-]+"
    r"(?:\s+[A-ZÉÈÂ][\w'’-]+){0,3}(?:,?\s*\d{5}\s+[A-ZÉ][\w-]+)?",
    re.I,
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


def _find_phones(text: str, out: list[Span]) -> None:
    for m in _PHONE.finditer(text):
        d = _digits(m.group(0).split("x")[0].split("ext")[0])
        if m.group("intl"):
            ok, kind = 8 <= len(d) <= 15, "international"
        elif m.group("nanp"):
            area = m.group("a1") or m.group("a2") or m.group("a3") or ""
            ok = area[:1] not in ("0", "1") and m.group("ex")[:1] not in ("0", "1")
            kind = "nanp"
        elif m.group("paren"):
            ok, kind = 9 <= len(d) <= 12, "national"
        else:
            # 10-12 digits with the trunk 0: 9-digit shapes are SSN/SIN-like more often than phones.
            ok, kind = 10 <= len(d) <= 12, "national"
        if not ok:
            continue
        if _PHONE_BLOCK.search(text[max(0, m.start() - 24) : m.start()]):
            continue
        out.append(Span(m.start(), m.end(), "phone", kind))


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
        if not 13 <= len(d) <= 19 or not luhn_valid(d):
            continue
        issuer = _card_issuer(d)
        if issuer is None or len(set(d)) < 2:
            continue
        out.append(Span(m.start(), m.end(), "payment_card", issuer))


def _find_ibans(text: str, out: list[Span]) -> None:
    for m in _IBAN.finditer(text):
        if iban_valid(m.group(0).replace(" ", "")):
            out.append(Span(m.start(), m.end(), "bank_account", "iban"))


def _find_national_ids(text: str, out: list[Span], n_digits: int) -> None:
    if n_digits >= 9:
        for m in _GROUPED_ID.finditer(text):
            a, b, c = m.group(1), m.group(3), m.group(4)
            shape = (len(a), len(b), len(c))
            if shape == (3, 2, 4):
                if a in ("000", "666") or a[0] == "9" or b == "00" or c == "0000" or a + b + c in _SSN_ADVERTISED:
                    continue
                out.append(Span(m.start(), m.end(), "national_id", "us_ssn"))
            elif shape == (3, 3, 3) and m.group(2) in "- " and a[0] not in "08" and luhn_valid(a + b + c):
                out.append(Span(m.start(), m.end(), "national_id", "ca_sin"))
            elif shape == (4, 4, 4) and a[0] not in "01" and verhoeff_valid(a + b + c):
                out.append(Span(m.start(), m.end(), "national_id", "in_aadhaar"))
    if n_digits < 6:
        return
    for m in _NINO.finditer(text):
        out.append(Span(m.start(), m.end(), "national_id", "uk_nino"))
    if n_digits < 7:
        return
    for m in _DNI.finditer(text):
        prefix, number, letter = m.group(1), m.group(2), m.group(3)
        if prefix:
            if len(number) != 7:
                continue
            number = str("XYZ".index(prefix)) + number
        elif len(number) != 8:
            continue
        if _DNI_LETTERS[int(number) % 23] == letter:
            out.append(Span(m.start(), m.end(), "national_id", "es_dni"))


_US_SUFFIX_WORDS = (
    "Street", "Avenue", "Road", "Boulevard", "Lane", "Drive", "Court", "Place", "Terrace", "Way", "Highway",
    "Parkway", "Circle", "Square", "Crescent", "Close", "Grove", "Gardens", "Mews", "Trail", "Alley", "Plaza",
    "Loop", "Row", "Walk", "Hill", "St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Pl", "Ter", "Hwy", "Pkwy", "Cir",
    "Sq", "Trl",
)  # fmt: skip
_DE_HINTS = ("straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "damm", "ufer")
_FR_HINTS = (
    "rue ",
    "avenue ",
    "boulevard ",
    "bd ",
    "place ",
    "chemin ",
    "allée ",
    "impasse ",
    "quai ",
    "route ",
    "cours ",
)


def _find_addresses(text: str, out: list[Span]) -> None:
    # Substring checks (C speed) decide which of the slower patterns can match at all.
    if any(w in text for w in _US_SUFFIX_WORDS):
        for m in _ADDR_US.finditer(text):
            out.append(Span(m.start(), m.end(), "street_address", "us_uk"))
    low = text.lower()
    if any(w in low for w in _DE_HINTS):
        for m in _ADDR_DE.finditer(text):
            out.append(Span(m.start(), m.end(), "street_address", "de"))
    if any(w in low for w in _FR_HINTS):
        for m in _ADDR_FR.finditer(text):
            out.append(Span(m.start(), m.end(), "street_address", "fr"))
    if "box" in low:
        for m in _PO_BOX.finditer(text):
            out.append(Span(m.start(), m.end(), "street_address", "po_box"))


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
        if "payment_card" in wanted and n_digits >= 13:
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
