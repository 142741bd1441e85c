"""A labelled evaluation corpus for the personal-information detectors, generated with Faker.

Values are drawn from Faker's providers for four locales (en_US, en_GB, de_DE, fr_FR): e-mail
addresses, phone numbers, payment cards of every Faker card type (Visa 13/16/19, Mastercard, Amex,
Diners, Discover, JCB 15/16, Maestro), IBANs, IPv4 and IPv6 addresses, national identifiers (US
SSN, UK National Insurance number, German pension insurance number, French NIR) and street addresses
(full postal addresses, one-line or on several lines, and street lines alone). They are placed in
sentence templates in the locale's language, with the exact character span of each value, and written
in the groupings people use (``4111 1111 1111 1111``, ``DE89 3704 ...``, ``1 75 09 17 300 379 64``).
Negative sentences carry numbers that are not personal information: dates, times, prices, order and
invoice numbers, ISBNs, EAN barcodes, version and build strings, company registration and VAT numbers,
coordinates, counts, and capitalised phrases that look like street names ("Top 10 Summer Island
Getaways", "Spielplatz 3").

Two parts, fixed by seed: ``tuning`` (the detectors may be adjusted while looking at it) and
``heldout`` (measured, never looked at while tuning). Every third template of each list appears only
in the held-out part, so the held-out part also measures sentence contexts never seen while tuning.

A labelled value counts as *removed* when ``--redact`` would replace every letter and digit in it
(spans of any type), as *typed* when a detected span of its own type overlaps it; a detected span
is a true positive when it overlaps a labelled value of its own type. :func:`score` computes both.
"""

from __future__ import annotations

import ipaddress
import random
import re
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from faker import Faker

LOCALES: tuple[str, ...] = ("en_US", "en_GB", "de_DE", "fr_FR")
TYPES: tuple[str, ...] = (
    "email",
    "phone",
    "ip_address",
    "payment_card",
    "bank_account",
    "national_id",
    "street_address",
)
SPLITS: dict[str, int] = {"tuning": 1, "heldout": 2}
"""Base seed of each part (Faker and the template choices are seeded from it)."""
DEFAULT_DOCS: dict[str, int] = {"tuning": 2000, "heldout": 3000}

# Faker's dates default to "up to now": a fixed end keeps the corpus the same on every run.
_END = datetime(2025, 12, 31, 23, 59, 59)

CARD_TYPES: tuple[str, ...] = (
    "amex",
    "diners",
    "discover",
    "jcb15",
    "jcb16",
    "maestro",
    "mastercard",
    "visa13",
    "visa16",
    "visa19",
)

# How often each type is chosen for a positive sentence (phones and addresses vary most).
_TYPE_WEIGHTS = {
    "email": 1.0,
    "phone": 2.0,
    "ip_address": 1.0,
    "payment_card": 1.5,
    "bank_account": 1.0,
    "national_id": 1.0,
    "street_address": 2.0,
}


@dataclass(frozen=True, slots=True)
class Doc:
    """One labelled document.

    Attributes:
        text: The text.
        spans: ``(type, start, end)`` of each personal value in it.
        locale: The Faker locale its values and language come from.
        kinds: A sub-kind per span (card type, ``ipv6``, ``one-line``, ...), for breakdowns.
    """

    text: str
    spans: tuple[tuple[str, int, int], ...]
    locale: str
    kinds: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------- templates
# A slot ``{type}`` is a labelled value; ``{name}``, ``{date}``, ... are unlabelled fillers.

_EN: dict[str, list[str]] = {
    "email": [
        "You can reach me at {email} if anything changes.",
        "Please send the signed contract to {email} by Friday.",
        "Contact: {name} <{email}>",
        "Questions about the order? Write to {email}.",
        "My old address {email} no longer works, sorry.",
        "Reply-To: {email}",
        "Forwarded from {email} on {date}:",
        "cc {email}; please keep the thread short",
        "Email {email} for a copy of the minutes.",
    ],
    "phone": [
        "Call me on {phone} after six.",
        "My new number is {phone}, please save it.",
        "Phone: {phone}",
        "For bookings ring {phone} (weekdays only).",
        "You can text {phone} if the line is busy.",
        "Tel. {phone} | {name}",
        "If you have questions, call {phone} or drop by the office.",
        "{name} left a voicemail asking to be called back at {phone}.",
        "Mobile {phone}",
        "Reach our support team at {phone}.",
        "Emergency contact: {name}, {phone}",
        "The number on the invoice, {phone}, goes straight to accounts.",
    ],
    "ip_address": [
        "Failed login for admin from {ip} at {time}.",
        "The request came from {ip} and was blocked.",
        "client={ip} status=403 bytes={count}",
        "My home router is at {ip}, the printer is next to it.",
        "Connection from {ip} refused.",
        '{ip} - - [{date}] "GET /index.html HTTP/1.1" 200',
        "Please whitelist {ip} for the VPN.",
        "Traced the spam to {ip}.",
        "The camera streams from {ip} on the local network.",
    ],
    "payment_card": [
        "Card number: {card}, expires {expiry}.",
        "Please charge my card {card} for the deposit.",
        "I paid with {card} (CVV {cvv}).",
        "Card {card} was declined twice.",
        "billing: {name}, {card}, exp {expiry}",
        "The refund went back to {card}.",
        "Use card {card} for the hotel.",
        "My credit card is {card} and the security code is {cvv}.",
        "Payment method: {card}",
    ],
    "bank_account": [
        "Please transfer the rent to {iban}.",
        "IBAN: {iban}",
        "Pay the invoice into account {iban} by {date}.",
        "My bank details are {iban}, account holder {name}.",
        "Refunds are sent to {iban} within a week.",
        "Bank: {company}, IBAN {iban}",
        "The salary goes to {iban}.",
        "Send the deposit to {iban} quoting your name.",
        "Account {iban} was closed last month.",
    ],
    "national_id": [
        "{id_label}: {national_id}",
        "My {id_label} is {national_id}.",
        "Applicant {name}, {id_label} {national_id}, born {date}.",
        "Please quote your {id_label} ({national_id}) on the form.",
        "{id_label} {national_id} was entered twice.",
        "employee: {name}; {id_label}: {national_id}",
        "The form lists {national_id} as the {id_label}.",
        "Verified {id_label} {national_id} on {date}.",
        "He gave {national_id} as his {id_label}.",
    ],
    "street_address": [
        "Please ship the parcel to {address}.",
        "She lives at {address}.",
        "Our new office is at {address}.",
        "Address: {address}",
        "The party is at {address}, bring a bottle.",
        "Send the documents to {name}, {address}.",
        "We moved to {address} last year.",
        "Deliver to: {address}",
        "The house at {address} is for sale.",
        "Return address: {address}",
        "I grew up at {address}.",
        "Invoices go to {address}.",
    ],
    "mixed": [
        "{name}\n{address}\n{phone}\n{email}",
        "Contact {name} at {email} or {phone}.",
        "Name: {name}\nAddress: {address}\nPhone: {phone}\n{id_label}: {national_id}",
        "Customer {name}, {address}, card {card}.",
        "Refund to {iban}; questions to {email}.",
        "Ticket from {email} (IP {ip}).",
    ],
    "negative": [
        "Order {order} was shipped on {date} and should arrive by {date2}.",
        "The price went up from {price} to {price2} in {year}.",
        "ISBN {isbn13} (hardback), ISBN {isbn10} (paperback).",
        "Upgrade to version {version} before {date}.",
        "The population grew to {population} in {year}.",
        "The meeting is on {date} at {time}.",
        "Barcode {ean13} scanned at {time}.",
        "Invoice {invoice} totals {price}.",
        "Tracking number {tracking} is in transit.",
        "Build {build} fixes the crash seen in {version}.",
        "Coordinates: {lat}, {lon}.",
        "The {year}-{year2} season ended {score}.",
        "See pages {pages} of the {year} annual report.",
        "Temperatures ranged from {temp} to {temp2} degrees.",
        "Reference {sku}, batch {batch}.",
        "Commit {sha} was merged on {date}.",
        "Timestamp {unix_ms} was logged by the server.",
        "Room {room} is booked from {time} to {time2}.",
        "Top 10 Summer Island Getaways for {year}.",
        "The 24 Hour Fitness Center opened in {year}.",
        "Catch-22 Book Club meets every Tuesday.",
        "Chapter 7 Court Procedures are explained in part {count}.",
        "Product {ean8} costs {price}; {count} units left.",
        "Our company number is {company_no} (registered {date}).",
        "VAT number {vat}.",
        "He ran {count} miles in {duration} and finished {place}.",
        "Flight {flight} departs at {time} from gate {gate}.",
        "The file is {count} KB and its checksum is {sha}.",
        "UUID {uuid} identifies the job.",
        "Patent {patent} was granted on {date}.",
        "In {year} Silicon Valley firms hired {count} engineers.",
        "We ordered {small} Club Sandwiches and {small} Green Salads.",
        "Highway {small} was closed for {small} days after the storm.",
        "She bought {small} Park Tickets and {small} River Cruises.",
        "The {year} Spring Festival drew {count} visitors.",
        "Dimensions: {small} x {small} x {small} cm, weight {count} g.",
        "Case no. {order} was closed on {date}.",
        "Final score {count}-{count} after {small} overtime periods.",
        "Model {sku} ships with firmware {version}.",
    ],
}

_DE: dict[str, list[str]] = {
    "email": [
        "Sie erreichen mich unter {email}.",
        "Bitte schicken Sie den Vertrag an {email}.",
        "Kontakt: {name} <{email}>",
        "Rückfragen bitte an {email}.",
        "Meine alte Adresse {email} ist nicht mehr aktiv.",
        "E-Mail: {email}",
        "Weitergeleitet von {email} am {date}:",
        "Antwort bitte an {email} und nicht an mich.",
        "Schreiben Sie an {email}, wenn Sie Fragen haben.",
    ],
    "phone": [
        "Rufen Sie mich unter {phone} an.",
        "Meine neue Nummer ist {phone}.",
        "Telefon: {phone}",
        "Terminvereinbarung unter {phone} (Mo-Fr).",
        "Tel. {phone} | {name}",
        "Bei Fragen erreichen Sie uns unter {phone}.",
        "{name} bittet um Rückruf unter {phone}.",
        "Handy {phone}",
        "Unsere Hotline {phone} ist rund um die Uhr besetzt.",
        "Notfallkontakt: {name}, {phone}",
        "Fax: {phone}",
        "Die Nummer {phone} gehört zur Buchhaltung.",
    ],
    "ip_address": [
        "Fehlgeschlagene Anmeldung von {ip} um {time}.",
        "Die Anfrage kam von {ip} und wurde blockiert.",
        "client={ip} status=403 bytes={count}",
        "Mein Router hat die Adresse {ip}.",
        "Verbindung von {ip} abgelehnt.",
        '{ip} - - [{date}] "GET /index.html HTTP/1.1" 200',
        "Bitte {ip} für das VPN freischalten.",
        "Der Spam kam von {ip}.",
        "Die Kamera ist im Netz unter {ip} erreichbar.",
    ],
    "payment_card": [
        "Kartennummer: {card}, gültig bis {expiry}.",
        "Bitte belasten Sie meine Karte {card}.",
        "Ich habe mit {card} bezahlt (Prüfziffer {cvv}).",
        "Die Karte {card} wurde abgelehnt.",
        "Zahlung: {name}, {card}, gültig bis {expiry}",
        "Die Erstattung ging auf {card}.",
        "Kreditkarte {card} für das Hotel verwenden.",
        "Meine Kreditkartennummer ist {card}.",
        "Zahlungsmittel: {card}",
    ],
    "bank_account": [
        "Bitte überweisen Sie die Miete auf {iban}.",
        "IBAN: {iban}",
        "Zahlbar bis {date} auf das Konto {iban}.",
        "Meine Bankverbindung: {iban}, Kontoinhaber {name}.",
        "Erstattungen gehen an {iban}.",
        "Bank: {company}, IBAN {iban}",
        "Das Gehalt geht auf {iban}.",
        "Kaution bitte auf {iban} überweisen.",
        "Das Konto {iban} wurde letzten Monat aufgelöst.",
    ],
    "national_id": [
        "{id_label}: {national_id}",
        "Meine {id_label} lautet {national_id}.",
        "Antragsteller {name}, {id_label} {national_id}, geboren am {date}.",
        "Bitte geben Sie Ihre {id_label} ({national_id}) an.",
        "Die {id_label} {national_id} wurde doppelt erfasst.",
        "Mitarbeiter: {name}; {id_label}: {national_id}",
        "Im Formular steht {national_id} als {id_label}.",
        "{id_label} {national_id} am {date} geprüft.",
        "Er gab {national_id} als {id_label} an.",
    ],
    "street_address": [
        "Bitte schicken Sie das Paket an {address}.",
        "Sie wohnt in der {address}.",
        "Unser neues Büro: {address}",
        "Anschrift: {address}",
        "Die Feier findet in der {address} statt.",
        "Unterlagen bitte an {name}, {address}.",
        "Wir sind letztes Jahr in die {address} gezogen.",
        "Lieferadresse: {address}",
        "Das Haus in der {address} steht zum Verkauf.",
        "Absender: {address}",
        "Ich bin in der {address} aufgewachsen.",
        "Rechnungen bitte an {address}.",
    ],
    "mixed": [
        "{name}\n{address}\n{phone}\n{email}",
        "Kontakt: {name}, {email}, {phone}.",
        "Name: {name}\nAnschrift: {address}\nTelefon: {phone}\n{id_label}: {national_id}",
        "Kunde {name}, {address}, Karte {card}.",
        "Erstattung auf {iban}; Rückfragen an {email}.",
        "Ticket von {email} (IP {ip}).",
    ],
    "negative": [
        "Die Bestellung {order} wurde am {date} verschickt.",
        "Der Preis stieg von {price} auf {price2} im Jahr {year}.",
        "ISBN {isbn13} (gebunden), ISBN {isbn10} (Taschenbuch).",
        "Bitte bis {date} auf Version {version} aktualisieren.",
        "Die Einwohnerzahl stieg {year} auf {population}.",
        "Das Treffen ist am {date} um {time} Uhr.",
        "Barcode {ean13} um {time} gescannt.",
        "Rechnung {invoice} über {price}.",
        "Sendungsnummer {tracking} ist unterwegs.",
        "Build {build} behebt den Absturz aus {version}.",
        "Koordinaten: {lat}, {lon}.",
        "Die Saison {year}-{year2} endete {score}.",
        "Siehe Seiten {pages} des Jahresberichts {year}.",
        "Die Temperaturen lagen zwischen {temp} und {temp2} Grad.",
        "Artikel {sku}, Charge {batch}.",
        "Commit {sha} wurde am {date} übernommen.",
        "Zeitstempel {unix_ms} im Serverprotokoll.",
        "Raum {room} ist von {time} bis {time2} belegt.",
        "Auf dem Spielplatz 3 Kinder und 2 Hunde.",
        "Am Arbeitsplatz 5 Tage die Woche, dann Urlaub.",
        "Der Parkplatz 2 ist bis {date} gesperrt.",
        "Paragraph {count} Absatz 3 regelt die Frist.",
        "Artikel {ean8} kostet {price}; noch {count} Stück.",
        "Handelsregister HRB {count}, eingetragen am {date}.",
        "USt-IdNr. {vat}.",
        "Er lief {count} km in {duration} und wurde {place}.",
        "Flug {flight} startet um {time} von Gate {gate}.",
        "Die Datei ist {count} KB groß, Prüfsumme {sha}.",
        "UUID {uuid} bezeichnet den Auftrag.",
        "Das Patent {patent} wurde am {date} erteilt.",
        "Die Bundesstraße {small} ist zwischen {city} und {city2} gesperrt.",
        "Der Schulweg {small} Minuten, der Heimweg länger.",
        "Auf Gleis {small} fährt der ICE {count} ein.",
        "Im Jahr {year} kamen {count} Besucher zum Stadtfest.",
        "Maße: {small} x {small} x {small} cm, Gewicht {count} g.",
        "Aktenzeichen {invoice}, Termin am {date}.",
        "Endstand {count}:{count} nach Verlängerung.",
        "Die Linie {small} fährt alle {small} Minuten.",
        "Kundennummer {order}, Kunde seit {year}.",
    ],
}

_FR: dict[str, list[str]] = {
    "email": [
        "Vous pouvez me joindre à {email}.",
        "Merci d'envoyer le contrat signé à {email}.",
        "Contact : {name} <{email}>",
        "Pour toute question, écrivez à {email}.",
        "Mon ancienne adresse {email} ne fonctionne plus.",
        "Courriel : {email}",
        "Transféré de {email} le {date} :",
        "Répondez à {email} plutôt qu'à moi.",
        "Écrivez-nous à {email} si besoin.",
    ],
    "phone": [
        "Appelez-moi au {phone} après 18 h.",
        "Mon nouveau numéro est le {phone}.",
        "Téléphone : {phone}",
        "Réservations au {phone} (du lundi au vendredi).",
        "Tél. {phone} | {name}",
        "Pour toute question, appelez le {phone}.",
        "{name} demande à être rappelé au {phone}.",
        "Portable {phone}",
        "Notre assistance est joignable au {phone}.",
        "Contact en cas d'urgence : {name}, {phone}",
        "Fax : {phone}",
        "Le numéro {phone} est celui de la comptabilité.",
    ],
    "ip_address": [
        "Échec de connexion depuis {ip} à {time}.",
        "La requête venait de {ip} et a été bloquée.",
        "client={ip} status=403 bytes={count}",
        "Ma box est à l'adresse {ip}.",
        "Connexion de {ip} refusée.",
        '{ip} - - [{date}] "GET /index.html HTTP/1.1" 200',
        "Merci d'autoriser {ip} sur le VPN.",
        "Le spam venait de {ip}.",
        "La caméra est joignable sur le réseau local à {ip}.",
    ],
    "payment_card": [
        "Numéro de carte : {card}, expire le {expiry}.",
        "Veuillez débiter ma carte {card}.",
        "J'ai payé avec la carte {card} (cryptogramme {cvv}).",
        "La carte {card} a été refusée.",
        "paiement : {name}, {card}, exp {expiry}",
        "Le remboursement a été fait sur {card}.",
        "Utiliser la carte {card} pour l'hôtel.",
        "Ma carte bancaire est la {card}.",
        "Moyen de paiement : {card}",
    ],
    "bank_account": [
        "Merci de virer le loyer sur {iban}.",
        "IBAN : {iban}",
        "À régler avant le {date} sur le compte {iban}.",
        "Mes coordonnées bancaires : {iban}, titulaire {name}.",
        "Les remboursements sont versés sur {iban}.",
        "Banque : {company}, IBAN {iban}",
        "Le salaire est versé sur {iban}.",
        "Virez la caution sur {iban} en indiquant votre nom.",
        "Le compte {iban} a été clôturé le mois dernier.",
    ],
    "national_id": [
        "{id_label} : {national_id}",
        "Mon {id_label} est le {national_id}.",
        "Demandeur {name}, {id_label} {national_id}, né le {date}.",
        "Merci d'indiquer votre {id_label} ({national_id}).",
        "Le {id_label} {national_id} a été saisi deux fois.",
        "salarié : {name} ; {id_label} : {national_id}",
        "Le formulaire indique {national_id} comme {id_label}.",
        "{id_label} {national_id} vérifié le {date}.",
        "Il a donné {national_id} comme {id_label}.",
    ],
    "street_address": [
        "Merci d'envoyer le colis au {address}.",
        "Elle habite {address}.",
        "Nos nouveaux bureaux : {address}",
        "Adresse : {address}",
        "La fête a lieu au {address}.",
        "Envoyez les documents à {name}, {address}.",
        "Nous avons déménagé au {address} l'an dernier.",
        "Adresse de livraison : {address}",
        "La maison du {address} est à vendre.",
        "Expéditeur : {address}",
        "J'ai grandi au {address}.",
        "Les factures vont au {address}.",
    ],
    "mixed": [
        "{name}\n{address}\n{phone}\n{email}",
        "Contactez {name} à {email} ou au {phone}.",
        "Nom : {name}\nAdresse : {address}\nTéléphone : {phone}\n{id_label} : {national_id}",
        "Client {name}, {address}, carte {card}.",
        "Remboursement sur {iban} ; questions à {email}.",
        "Ticket de {email} (IP {ip}).",
    ],
    "negative": [
        "La commande {order} a été expédiée le {date}.",
        "Le prix est passé de {price} à {price2} en {year}.",
        "ISBN {isbn13} (relié), ISBN {isbn10} (poche).",
        "Mettez à jour vers la version {version} avant le {date}.",
        "La population a atteint {population} en {year}.",
        "La réunion a lieu le {date} à {time}.",
        "Code-barres {ean13} scanné à {time}.",
        "Facture {invoice} d'un montant de {price}.",
        "Le colis {tracking} est en cours d'acheminement.",
        "Le build {build} corrige le plantage de la {version}.",
        "Coordonnées : {lat}, {lon}.",
        "La saison {year}-{year2} s'est terminée sur {score}.",
        "Voir les pages {pages} du rapport annuel {year}.",
        "Les températures allaient de {temp} à {temp2} degrés.",
        "Référence {sku}, lot {batch}.",
        "Le commit {sha} a été fusionné le {date}.",
        "Horodatage {unix_ms} enregistré par le serveur.",
        "La salle {room} est réservée de {time} à {time2}.",
        "Les 3 Mousquetaires ont été publiés en 1844.",
        "Le réseau compte 1 200 km de chemin de fer.",
        "Ligne 4, direction Porte de Clignancourt.",
        "Article {count}, alinéa 3 du code civil.",
        "Le produit {ean8} coûte {price} ; {count} en stock.",
        "SIRET {company_no}, immatriculé le {date}.",
        "Numéro de TVA {vat}.",
        "Il a couru {count} km en {duration} et a fini {place}.",
        "Le vol {flight} part à {time} de la porte {gate}.",
        "Le fichier fait {count} Ko, somme de contrôle {sha}.",
        "L'UUID {uuid} identifie la tâche.",
        "Le brevet {patent} a été délivré le {date}.",
        "SIREN {siren}, capital de {price}.",
        "Il a marqué {small} buts en {count} matchs.",
        "Quai {small}, départ à {time}.",
        "Dimensions : {small} x {small} x {small} cm, poids {count} g.",
        "Le dossier n° {order} a été clôturé le {date}.",
        "Score final {count} à {count} après prolongation.",
        "La ligne {small} passe toutes les {small} minutes.",
        "Il habite à {small} km de la place du marché.",
        "Code postal {postcode} uniquement.",
    ],
}

_TEMPLATES = {"en_US": _EN, "en_GB": _EN, "de_DE": _DE, "fr_FR": _FR}
_ID_LABELS = {
    "en_US": ("SSN", "Social Security number", "social security no."),
    "en_GB": ("National Insurance number", "NI number", "NINO"),
    "de_DE": ("Rentenversicherungsnummer", "Sozialversicherungsnummer", "RV-Nummer"),
    "fr_FR": ("numéro de sécurité sociale", "NIR", "n° de sécu"),
}


def templates(locale: str, kind: str, split: str) -> list[str]:
    """The templates of one kind for a locale's language in one part of the corpus.

    Every third template (index 2, 5, ...) belongs to the held-out part only.

    Args:
        locale: One of :data:`LOCALES`.
        kind: A type of :data:`TYPES`, ``"mixed"`` or ``"negative"``.
        split: ``"tuning"`` or ``"heldout"``.
    """
    every = _TEMPLATES[locale][kind]
    return every if split == "heldout" else [t for i, t in enumerate(every) if i % 3 != 2]


# ----------------------------------------------------------------------------------------- values


def _group(digits: str, sizes: Sequence[int], sep: str) -> str:
    out, pos = [], 0
    for n in sizes:
        out.append(digits[pos : pos + n])
        pos += n
    if pos < len(digits):
        out.append(digits[pos:])
    return sep.join(p for p in out if p)


def _card(fake: Faker, rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(CARD_TYPES)
    d = fake.credit_card_number(kind)
    style = rng.random()
    if style < 0.45:
        return d, kind
    sep = " " if style < 0.8 else "-"
    if kind in ("amex", "jcb15"):
        sizes: Sequence[int] = (4, 6, 5)
    elif len(d) == 14:
        sizes = (4, 6, 4)
    elif len(d) == 13:
        return d, kind  # 13-digit Visa numbers are printed without groups
    else:
        sizes = (4, 4, 4, 4, 3)
    return _group(d, sizes, sep), kind


def _iban(fake: Faker, rng: random.Random) -> tuple[str, str]:
    iban = fake.iban()
    if rng.random() < 0.5:
        return iban, "compact"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)), "grouped"


def _ip(fake: Faker, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.7:
        return fake.ipv4(), "ipv4"
    v6 = fake.ipv6()
    if rng.random() < 0.5:
        v6 = ipaddress.IPv6Address(v6).compressed
    return v6, "ipv6"


def _email(fake: Faker, rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    if r < 0.4:
        return fake.email(), "email"
    if r < 0.7:
        return fake.free_email(), "free"
    return fake.company_email(), "company"


def _phone(fake: Faker, rng: random.Random, locale: str) -> tuple[str, str]:
    if locale == "en_GB" and rng.random() < 0.3:
        return fake.cellphone_number(), "cell"
    return fake.phone_number(), "phone"


# UK National Insurance prefixes: first letter not D, F, I, Q, U, V; second not D, F, I, O, Q, U, V;
# BG, GB, KN, NK, NT, TN and ZZ never issued.
_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
_NINO_BAD = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def _national_id(fake: Faker, rng: random.Random, locale: str) -> tuple[str, str]:
    spaced = rng.random() < 0.5
    if locale == "en_US":
        ssn = fake.ssn()
        return (ssn.replace("-", " ") if rng.random() < 0.2 else ssn), "us_ssn"
    if locale == "en_GB":
        # Faker's own NINOs use the reserved prefix ZZ and suffix T, which are never issued.
        while True:
            prefix = rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND)
            if prefix not in _NINO_BAD:
                break
        digits = "".join(rng.choice(string.digits) for _ in range(6))
        suffix = rng.choice("ABCD")
        if spaced:
            return f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}", "uk_nino"
        return prefix + digits + suffix, "uk_nino"
    if locale == "de_DE":
        rv = fake.rvnr(birthdate=fake.date_object(end_datetime=_END))
        return (f"{rv[:2]} {rv[2:8]} {rv[8]} {rv[9:]}" if spaced else rv), "de_rvnr"
    nir = fake.ssn()
    if spaced:
        nir = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    return nir, "fr_nir"


def _address(fake: Faker, rng: random.Random, locale: str) -> tuple[str, str]:
    if rng.random() < 0.25:
        while True:
            street = fake.street_address()
            if any(ch.isdigit() for ch in street):
                break  # a street name without a house number is not a person's address
        return street.replace("\n", ", "), "street-only"
    addr = fake.address()
    if rng.random() < 0.3:
        return addr, "multi-line"
    return addr.replace("\n", ", "), "one-line"


# ----------------------------------------------------------------------------------------- fillers


def _fillers(fake: Faker, rng: random.Random, locale: str) -> dict[str, Callable[[], str]]:
    de_fr = locale in ("de_DE", "fr_FR")

    def date() -> str:
        fmt = rng.choice(
            ["%d.%m.%Y", "%d/%m/%Y", "%Y-%m-%d", "%d %B %Y"]
            if de_fr or locale == "en_GB"
            else ["%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y", "%b %d %Y"]
        )
        return fake.date(pattern=fmt, end_datetime=_END)

    def price() -> str:
        v = rng.randint(1, 250_000) + rng.randint(0, 99) / 100
        if de_fr:
            return f"{v:,.2f}".replace(",", " ").replace(".", ",") + " €"
        sym = "£" if locale == "en_GB" else "$"
        return f"{sym}{v:,.2f}"

    def version() -> str:
        parts = [rng.randint(0, 30), rng.randint(0, 20), rng.randint(0, 99)]
        if rng.random() < 0.3:
            parts.append(rng.randint(0, 9999))
        return rng.choice(["", "v"]) + ".".join(map(str, parts))

    def order() -> str:
        return rng.choice(["#", "", "ORD-", "A"]) + fake.numerify(
            rng.choice(["#########", "###-#######", "############", "##########"])
        )

    def population() -> str:
        v = rng.randint(10_000, 90_000_000)
        return f"{v:,}".replace(",", " " if de_fr else ",")

    def company_no() -> str:
        if locale == "fr_FR":
            return str(fake.siret())
        return fake.numerify("########")

    def vat() -> str:
        if locale in ("en_US",):
            return "EIN " + fake.numerify("##-#######")
        return str(fake.vat_id())

    def tracking() -> str:
        return rng.choice(
            [
                "1Z" + fake.bothify("###??#########").upper(),
                fake.numerify("####################"),
                fake.bothify("??#########DE").upper(),
                fake.numerify("############"),
            ]
        )

    def temp() -> str:
        return str(rng.randint(-30, 45))

    def time() -> str:
        return fake.time(pattern=rng.choice(["%H:%M", "%H:%M:%S"]), end_datetime=_END)

    return {
        "name": fake.name,
        "company": fake.company,
        "date": date,
        "date2": date,
        "time": time,
        "time2": time,
        "year": lambda: str(rng.randint(1950, 2030)),
        "year2": lambda: str(rng.randint(1950, 2030)),
        "price": price,
        "price2": price,
        "version": version,
        "build": lambda: fake.numerify(rng.choice(["#.##.#-###", "####.##", "##.#.####.###"])),
        "order": order,
        "tracking": tracking,
        "invoice": lambda: fake.numerify(rng.choice(["INV-####-#####", "####-####", "RE######", "F-###/####"])),
        "isbn13": fake.isbn13,
        "isbn10": fake.isbn10,
        "ean13": fake.ean13,
        "ean8": fake.ean8,
        "population": population,
        "lat": lambda: str(fake.latitude()),
        "lon": lambda: str(fake.longitude()),
        "score": lambda: f"{rng.randint(0, 9)}-{rng.randint(0, 9)}",
        "pages": lambda: f"{(p := rng.randint(1, 400))}-{p + rng.randint(1, 40)}",
        "temp": temp,
        "temp2": temp,
        "sku": lambda: fake.bothify(rng.choice(["??-####-###", "####-####-####", "???-#####"])).upper(),
        "batch": lambda: fake.numerify("#######"),
        "sha": lambda: fake.sha1()[: rng.choice([7, 10, 40])],
        "unix_ms": lambda: str(rng.randint(1_000_000_000_000, 1_800_000_000_000)),
        "room": lambda: fake.numerify(rng.choice(["###", "#.###", "B-###"])),
        "count": lambda: str(rng.randint(2, 5000)),
        "company_no": company_no,
        "vat": vat,
        "duration": lambda: f"{rng.randint(0, 5)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        "place": lambda: rng.choice(["3rd", "12th", "first", "second", "41st"]),
        "flight": lambda: fake.bothify("??####").upper(),
        "gate": lambda: fake.bothify("?##").upper(),
        "uuid": lambda: str(fake.uuid4()),
        "patent": lambda: fake.bothify(rng.choice(["US #,###,### B2", "EP #######", "DE ## ### ### A1"])),
        "expiry": lambda: fake.credit_card_expire(start=_END, end=datetime(2035, 12, 31)),
        "cvv": lambda: fake.credit_card_security_code(),
        "id_label": lambda: rng.choice(_ID_LABELS[locale]),
        "small": lambda: str(rng.randint(1, 99)),
        "city": fake.city,
        "city2": fake.city,
        "siren": lambda: str(fake.siren()) if locale == "fr_FR" else fake.numerify("### ### ###"),
        "postcode": fake.postcode,
    }


# ----------------------------------------------------------------------------------------- generation

_SLOT = re.compile(r"\{(\w+)\}")
_VALUE_SLOTS = {
    "email": "email",
    "phone": "phone",
    "ip": "ip_address",
    "card": "payment_card",
    "iban": "bank_account",
    "national_id": "national_id",
    "address": "street_address",
}


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[tuple[str, int, int]] = []
        self.kinds: list[str] = []

    def add(self, text: str, typ: str | None = None, kind: str = "") -> None:
        if typ is not None:
            self.spans.append((typ, self.length, self.length + len(text)))
            self.kinds.append(kind)
        self.parts.append(text)
        self.length += len(text)


def _render(template: str, b: _Builder, values: dict[str, Callable[[], tuple[str, str]]], fill: dict[str, Any]) -> None:
    pos = 0
    for m in _SLOT.finditer(template):
        b.add(template[pos : m.start()])
        slot = m.group(1)
        if slot in _VALUE_SLOTS:
            text, kind = values[slot]()
            b.add(text, _VALUE_SLOTS[slot], kind)
        else:
            b.add(str(fill[slot]()))
        pos = m.end()
    b.add(template[pos:])


def generate(split: str, n_docs: int | None = None) -> list[Doc]:
    """Generate one part of the corpus (deterministic for a given part and size).

    Args:
        split: ``"tuning"`` or ``"heldout"``.
        n_docs: Number of documents (default :data:`DEFAULT_DOCS`), a quarter per locale.

    Returns:
        Documents of one to three sentences; about 55% of sentences carry a labelled value.
    """
    seed = SPLITS[split]
    n = DEFAULT_DOCS[split] if n_docs is None else n_docs
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, loc in enumerate(LOCALES):
        fakers[loc].seed_instance(seed * 1000 + i)
    types = list(_TYPE_WEIGHTS)
    weights = [_TYPE_WEIGHTS[t] for t in types]
    docs: list[Doc] = []
    for i in range(n):
        loc = LOCALES[i % len(LOCALES)]
        fake = fakers[loc]
        fill = _fillers(fake, rng, loc)
        values: dict[str, Callable[[], tuple[str, str]]] = {
            "email": partial(_email, fake, rng),
            "phone": partial(_phone, fake, rng, loc),
            "ip": partial(_ip, fake, rng),
            "card": partial(_card, fake, rng),
            "iban": partial(_iban, fake, rng),
            "national_id": partial(_national_id, fake, rng, loc),
            "address": partial(_address, fake, rng, loc),
        }
        b = _Builder()
        for j in range(rng.choice((1, 1, 2, 3))):
            if j:
                b.add(rng.choice((" ", " ", "\n", "\n\n")))
            r = rng.random()
            if r < 0.05:
                kind = "mixed"
            elif r < 0.55:
                kind = rng.choices(types, weights)[0]
            else:
                kind = "negative"
            _render(rng.choice(templates(loc, kind, split)), b, values, fill)
        docs.append(Doc("".join(b.parts), tuple(b.spans), loc, tuple(b.kinds)))
    return docs


# ----------------------------------------------------------------------------------------- scoring


class _SpanLike(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def type(self) -> str: ...


@dataclass
class TypeScore:
    """Counts for one type.

    Attributes:
        n: Labelled values.
        removed: Labelled values whose letters and digits all lie inside detected spans (any type).
        typed: Labelled values overlapped by a detected span of their own type.
        detected: Detected spans of this type.
        correct: Detected spans of this type that overlap a labelled value of this type.
        misses: Up to 40 labelled values not removed, as ``(locale, kind, value)``.
        false_positives: Up to 40 detected spans that are not correct, as ``(locale, text)``.
    """

    n: int = 0
    removed: int = 0
    typed: int = 0
    detected: int = 0
    correct: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)
    false_positives: list[tuple[str, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        """Share of labelled values removed."""
        return self.removed / self.n if self.n else float("nan")

    @property
    def precision(self) -> float:
        """Share of detected spans that are correct."""
        return self.correct / self.detected if self.detected else float("nan")


def score(
    docs: Iterable[Doc],
    detect: Callable[[str], Sequence[_SpanLike]],
    by: Callable[[Doc, int], str] | None = None,
) -> dict[str, TypeScore]:
    """Score a detector on labelled documents, per type (or per any grouping of the labelled values).

    Args:
        docs: The documents.
        detect: ``text -> spans`` with ``start``, ``end`` and ``type``.
        by: Optional key of the labelled value ``(doc, index)`` to break recall down by (for example
            the locale or the card type); precision is then left at zero.

    Returns:
        ``{type: TypeScore}``, keyed by ``by`` when given.
    """
    out: dict[str, TypeScore] = {}
    for doc in docs:
        found = list(detect(doc.text))
        covered = bytearray(len(doc.text))
        for s in found:
            covered[s.start : s.end] = b"\x01" * (s.end - s.start)
        for k, (typ, a, b) in enumerate(doc.spans):
            st = out.setdefault(by(doc, k) if by else typ, TypeScore())
            st.n += 1
            value = doc.text[a:b]
            if all(covered[a + i] or not ch.isalnum() for i, ch in enumerate(value)):
                st.removed += 1
            elif len(st.misses) < 40:
                st.misses.append((doc.locale, doc.kinds[k] if doc.kinds else "", value))
            if any(s.type == typ and s.start < b and a < s.end for s in found):
                st.typed += 1
        if by:
            continue
        for s in found:
            st = out.setdefault(s.type, TypeScore())
            st.detected += 1
            if any(g[0] == s.type and g[1] < s.end and s.start < g[2] for g in doc.spans):
                st.correct += 1
            elif len(st.false_positives) < 40:
                st.false_positives.append((doc.locale, doc.text[max(0, s.start - 25) : s.end + 10]))
    return out
