"""A labelled set for the personal-information detectors: positives and hard negatives.

Each case is ``(text, [(type, substring), ...])``; an empty list means the text contains no
personal information of any type (a hard negative). Card, SIN and Aadhaar numbers are published
test numbers or were made checksum-valid for this set; names, e-mail addresses, phone numbers and
addresses are invented or the public examples that documentation uses (555-01xx numbers,
192.0.2.0/24 and 2001:db8::/32 documentation ranges, famous public landmarks).

Written by hand for safetylens (issue 10); extend it when a detector changes.
"""

from __future__ import annotations

Case = tuple[str, list[tuple[str, str]]]

EMAIL: list[Case] = [
    ("Contact john.doe@example.com for details.", [("email", "john.doe@example.com")]),
    ("Send your CV to jane_smith+jobs@mail.co.uk before Friday.", [("email", "jane_smith+jobs@mail.co.uk")]),
    ("Questions? MARIA.GARCIA@EMPRESA.ES", [("email", "MARIA.GARCIA@EMPRESA.ES")]),
    ('<a href="mailto:p.nguyen@uni-hamburg.de">mail me</a>', [("email", "p.nguyen@uni-hamburg.de")]),
    ("reply to a.b-c@sub.domain.org, or call.", [("email", "a.b-c@sub.domain.org")]),
    ("(bob99@gmail.com)", [("email", "bob99@gmail.com")]),
    ("Autor: Hans Müller <hans.mueller@web.de>", [("email", "hans.mueller@web.de")]),
    ("Two addresses: x1@foo.io and y_2@bar.dev.", [("email", "x1@foo.io"), ("email", "y_2@bar.dev")]),
    ("E-mail: li.wei@company.com.cn", [("email", "li.wei@company.com.cn")]),
    # hard negatives
    ("Use logo@2x.png for retina screens and icon@3x.jpg for larger ones.", []),
    ("Clone with git@github.com:python/cpython.git and build.", []),
    ("Decorators such as @property and @staticmethod are common.", []),
    ("Follow @nasa for updates.", []),
    ("Send it to user@localhost on the dev box.", []),
    ("The ratio was 3@5 in the old notation.", []),
    ("npm install @types/node@20.1.0", []),
]

PHONE: list[Case] = [
    ("Call us at (212) 555-0143 today.", [("phone", "(212) 555-0143")]),
    ("Phone: 212-555-0187", [("phone", "212-555-0187")]),
    ("Fax 415.555.0132, office hours 9-5.", [("phone", "415.555.0132")]),
    ("Toll free: 1-800-555-0199.", [("phone", "1-800-555-0199")]),
    ("call 312 555 0175 after six", [("phone", "312 555 0175")]),
    ("London office: +44 20 7946 0958", [("phone", "+44 20 7946 0958")]),
    ("Tel. +44 (0)20 7946 0321", [("phone", "+44 (0)20 7946 0321")]),
    ("Berlin: +49 30 12345678", [("phone", "+49 30 12345678")]),
    ("Paris : +33 1 23 45 67 89", [("phone", "+33 1 23 45 67 89")]),
    ("Mobile +91 98765 43210 (WhatsApp)", [("phone", "+91 98765 43210")]),
    ("Tokyo +81 3-1234-5678", [("phone", "+81 3-1234-5678")]),
    ("Sydney +61 2 9876 5432.", [("phone", "+61 2 9876 5432")]),
    ("Moscow +7 495 123-45-67", [("phone", "+7 495 123-45-67")]),
    ("Beijing office +86 10 1234 5678", [("phone", "+86 10 1234 5678")]),
    ("Dublin +353 1 234 5678", [("phone", "+353 1 234 5678")]),
    ("E.164: +14155550132", [("phone", "+14155550132")]),
    ("Ring 020 7946 0958 for bookings.", [("phone", "020 7946 0958")]),
    ("Telefon 030 12345678", [("phone", "030 12345678")]),
    ("Appelez le 01 23 45 67 89.", [("phone", "01 23 45 67 89")]),
    ("Tel. 06 1234 5678 (Roma)", [("phone", "06 1234 5678")]),
    ("Manchester (0161) 496 0000", [("phone", "(0161) 496 0000")]),
    ("Main line (212) 555-0100 ext. 42", [("phone", "(212) 555-0100 ext. 42")]),
    # hard negatives
    ("ISBN 0-306-40615-2 and ISBN 978-3-16-148410-0 are both valid.", []),
    ("The meeting is on 2023-10-05 at 12:30:45 UTC.", []),
    ("Revenue grew to $1,234,567.89 in fiscal 2022.", []),
    ("Upgrade to v2.10.3 or 3.14.159 before 2024.", []),
    ("We scored 3-1 and then 2-2 in the 1990-2000 seasons.", []),
    ("See pages 10-12 and 233-245 of the report.", []),
    ("The population was 8 336 817 in 2019.", []),
    ("Compute 1 + 2 = 3, then +12 and +15 degrees.", []),
    ("Order number 123-456-7890 has shipped.", []),
    ("Timestamp 1697040000000 was logged.", []),
    ("The coordinates are 40.7128, -74.0060.", []),
    ("Dates: 01-02-2023, 05/10/2023 and 10.05.2023.", []),
    ("The equation x = 3.0e-10 + 2.5e+08 holds.", []),
    ("Zip codes 10001 and 94105-1234 are in the US.", []),
    ("doi:10.1000/182 and arXiv:2307.09288 are citations.", []),
]

IP: list[Case] = [
    ("Server at 192.168.1.20 refused the connection.", [("ip_address", "192.168.1.20")]),
    ("Login from 203.0.113.45 at 03:12.", [("ip_address", "203.0.113.45")]),
    ("DNS 8.8.8.8 and 1.1.1.1", [("ip_address", "8.8.8.8"), ("ip_address", "1.1.1.1")]),
    ("Visit http://198.51.100.7/admin now", [("ip_address", "198.51.100.7")]),
    ("client=10.0.0.12, port=443", [("ip_address", "10.0.0.12")]),
    ("IPv6 2001:db8:85a3::8a2e:370:7334 is assigned.", [("ip_address", "2001:db8:85a3::8a2e:370:7334")]),
    ("Peer [2001:db8::ff00:42:8329]:8080 joined.", [("ip_address", "2001:db8::ff00:42:8329")]),
    ("Full form 2001:0db8:0000:0000:0000:ff00:0042:8329.", [("ip_address", "2001:0db8:0000:0000:0000:ff00:0042:8329")]),
    ("Subnet 172.16.254.1/24 belongs to the lab.", [("ip_address", "172.16.254.1")]),
    # hard negatives
    ("Bind to 127.0.0.1 or 0.0.0.0 for local tests.", []),
    ("The netmask is 255.255.255.0.", []),
    ("Install version 1.2.3.4 of the driver.", []),
    ("Release v10.0.0.1 fixed it.", []),
    ("See Section 3.1.2.4 and Figure 2.1.1.3.", []),
    ("OID 1.3.6.1.4.1.311 identifies the vendor.", []),
    ("Time 12:30:45 and MAC 00:1A:2B:3C:4D:5E.", []),
    ("In C++ use std::vector<int> and a::b::c paths.", []),
    ("Localhost ::1 and link-local fe80::1 are fine.", []),
    ("Build 4.19.0.123 of the kernel.", []),
    ("The ratio 1.2.3 is not an address and neither is 999.1.1.1.", []),
    ("Multicast 224.0.0.251 is used by mDNS.", []),
]

CARD: list[Case] = [
    ("Card: 4111 1111 1111 1111, exp 12/26", [("payment_card", "4111 1111 1111 1111")]),
    ("Pay with 4012-8888-8888-1881.", [("payment_card", "4012-8888-8888-1881")]),
    ("MC 5555555555554444 on file", [("payment_card", "5555555555554444")]),
    ("number 5105 1051 0510 5100", [("payment_card", "5105 1051 0510 5100")]),
    ("Amex 3782 822463 10005", [("payment_card", "3782 822463 10005")]),
    ("amex: 371449635398431", [("payment_card", "371449635398431")]),
    ("Discover 6011 1111 1111 1117", [("payment_card", "6011 1111 1111 1117")]),
    ("JCB 3530111333300000", [("payment_card", "3530111333300000")]),
    ("Diners 3056 930902 5904", [("payment_card", "3056 930902 5904")]),
    ("UnionPay 6200 0000 0000 0005", [("payment_card", "6200 0000 0000 0005")]),
    ("New MC range 2223 0031 2200 3222", [("payment_card", "2223 0031 2200 3222")]),
    ("Visa 13: 4929000000006", [("payment_card", "4929000000006")]),
    # hard negatives
    ("Example 1234 5678 9012 3456 is not a card.", []),
    ("Luhn fails: 4111 1111 1111 1112", []),
    ("ISBN-13 978-0-306-40615-7 printed inside.", []),
    ("Tracking 1Z999AA10123456784 in transit.", []),
    ("pi = 3.14159265358979323846", []),
    ("Epoch ms 1697040000000 and ns 1697040000000000000", []),
    ("Account 0000 0000 0000 0000 placeholder.", []),
]

IBAN: list[Case] = [
    ("IBAN DE89 3704 0044 0532 0130 00 for transfers.", [("bank_account", "DE89 3704 0044 0532 0130 00")]),
    ("Pay to GB82WEST12345698765432 by Friday.", [("bank_account", "GB82WEST12345698765432")]),
    ("Compte FR14 2004 1010 0505 0001 3M02 606", [("bank_account", "FR14 2004 1010 0505 0001 3M02 606")]),
    ("NL91ABNA0417164300 (Amsterdam)", [("bank_account", "NL91ABNA0417164300")]),
    # hard negatives
    ("Checksum off: DE89 3704 0044 0532 0130 01", []),
    ("Product code AB12 CDEF GHIJ KLMN is a SKU.", []),
]

NATIONAL_ID: list[Case] = [
    ("SSN: 536-22-8714", [("national_id", "536-22-8714")]),
    ("Her social security number is 212 67 4433.", [("national_id", "212 67 4433")]),
    ("NI number AB 12 34 56 C on the payslip", [("national_id", "AB 12 34 56 C")]),
    ("NINO JG103759A", [("national_id", "JG103759A")]),
    ("SIN 130-692-544 (Canada)", [("national_id", "130-692-544")]),
    ("SIN: 271 834 566", [("national_id", "271 834 566")]),
    ("Aadhaar 2345 6789 0124", [("national_id", "2345 6789 0124")]),
    ("UID 4918-3746-2525", [("national_id", "4918-3746-2525")]),
    ("DNI 12345678Z", [("national_id", "12345678Z")]),
    ("NIE X1234567L", [("national_id", "X1234567L")]),
    ("DNI: 87654321-X", [("national_id", "87654321-X")]),
    # hard negatives
    ("Invalid SSNs 000-12-3456, 666-12-3456, 912-34-5678 and 123-00-4567 never issued.", []),
    ("Advertised 078-05-1120 and the sample 123-45-6789.", []),
    ("Codes GB123456A, DA123456A and AB123456E are not NI numbers.", []),
    ("SIN-shaped 046-454-287 fails its checksum.", []),
    ("Aadhaar-shaped 2345 6789 0123 fails Verhoeff.", []),
    ("DNI-shaped 12345678A has the wrong letter.", []),
    ("Model number 1234-5678-9012 and part 555-12-34.", []),
    ("ZIP+4 10001-2345 and the date 2023-12-31.", []),
]

ADDRESS: list[Case] = [
    (
        "The White House is at 1600 Pennsylvania Avenue NW, Washington, DC 20500.",
        [("street_address", "1600 Pennsylvania Avenue NW, Washington, DC 20500")],
    ),
    ("Write to 221B Baker Street, London NW1 6XE.", [("street_address", "221B Baker Street, London NW1 6XE")]),
    ("She lives at 742 Evergreen Terrace.", [("street_address", "742 Evergreen Terrace")]),
    ("Meet at 350 Fifth Avenue, New York, NY 10118", [("street_address", "350 Fifth Avenue, New York, NY 10118")]),
    ("Ship to 1 Infinite Loop, Cupertino, CA 95014", [("street_address", "1 Infinite Loop, Cupertino, CA 95014")]),
    ("Our shop: 12 W. 34th St., Apt 5B", [("street_address", "12 W. 34th St., Apt 5B")]),
    ("Office at 4059 Mt Lee Dr.", [("street_address", "4059 Mt Lee Dr")]),
    ("Wohnhaft in der Hauptstraße 5, 10115 Berlin.", [("street_address", "Hauptstraße 5, 10115 Berlin")]),
    ("Adresse: Berliner Straße 12", [("street_address", "Berliner Straße 12")]),
    ("Rendez-vous au 12 rue de Rivoli, 75001 Paris.", [("street_address", "12 rue de Rivoli, 75001 Paris")]),
    ("Mail to P.O. Box 1234, Springfield.", [("street_address", "P.O. Box 1234")]),
    ("He moved to 55 Oak Lane last year.", [("street_address", "55 Oak Lane")]),
    # hard negatives
    ("Here are 5 Main points to consider.", []),
    ("Top 10 Best Places to visit in spring.", []),
    ("Chapter 7 Road Map for the project.", []),
    ("Take Route 66 and then exit 12.", []),
    ("We walked 3 blocks down the street to the park.", []),
    ("Score: 21 points, 7 rebounds, 3 steals.", []),
    ("The 1990s saw 4 Grand Slam titles.", []),
    ("Apollo 11 landed on the Moon in 1969.", []),
    # found in the benchmark corpus (BOLD prompts): English words ending like German street names
    ("The Ring 8 organization awards its prize in Spring 2007 and Spring 2008.", []),
]

URL: list[Case] = [
    ("Homepage: https://cs.example.edu/~jsmith/", [("personal_url", "https://cs.example.edu/~jsmith/")]),
    (
        "Papers at http://www.cs.university.edu/~alice/papers.html.",
        [("personal_url", "http://www.cs.university.edu/~alice/papers.html")],
    ),
    ("Follow https://twitter.com/jack for news", [("personal_url", "https://twitter.com/jack")]),
    ("Follow https://x.com/someuser123", [("personal_url", "https://x.com/someuser123")]),
    ("FB: https://www.facebook.com/zuck", [("personal_url", "https://www.facebook.com/zuck")]),
    ("IG https://www.instagram.com/jane.doe.art/", [("personal_url", "https://www.instagram.com/jane.doe.art/")]),
    (
        "CV: https://www.linkedin.com/in/jane-doe-123456/",
        [("personal_url", "https://www.linkedin.com/in/jane-doe-123456/")],
    ),
    ("Code by https://github.com/torvalds", [("personal_url", "https://github.com/torvalds")]),
    ("https://www.tiktok.com/@charlidamelio", [("personal_url", "https://www.tiktok.com/@charlidamelio")]),
    ("Channel https://www.youtube.com/@mkbhd", [("personal_url", "https://www.youtube.com/@mkbhd")]),
    (
        "Old channel https://www.youtube.com/user/pewdiepie",
        [("personal_url", "https://www.youtube.com/user/pewdiepie")],
    ),
    ("By https://www.reddit.com/user/spez", [("personal_url", "https://www.reddit.com/user/spez")]),
    (
        "Blog https://medium.com/@username/my-first-post-123",
        [("personal_url", "https://medium.com/@username/my-first-post-123")],
    ),
    ("Toot at https://mastodon.social/@Gargron", [("personal_url", "https://mastodon.social/@Gargron")]),
    ("Profile https://forum.example.org/users/jdoe", [("personal_url", "https://forum.example.org/users/jdoe")]),
    (
        "See https://community.example.com/members/john-smith.123/",
        [("personal_url", "https://community.example.com/members/john-smith.123/")],
    ),
    ("(twitter.com/nasa)", [("personal_url", "twitter.com/nasa")]),
    ("Tweet: https://twitter.com/jack/status/20", [("personal_url", "https://twitter.com/jack/status/20")]),
    # hard negatives
    ("Search https://twitter.com/search?q=python for more.", []),
    ("Help: https://www.facebook.com/help/ and https://github.com/features/actions", []),
    ("Docs at https://docs.python.org/3/library/re.html.", []),
    ("Read https://en.wikipedia.org/wiki/User_interface today.", []),
    ("The endpoint https://api.example.com/users returns a list.", []),
    ("Log in at https://example.com/user/login to continue.", []),
    ("Watch https://www.youtube.com/watch?v=dQw4w9WgXcQ now.", []),
    ("Company page https://www.linkedin.com/company/microsoft", []),
    ("Post https://www.instagram.com/p/CxYz123/ went viral.", []),
    ("Join https://www.reddit.com/r/python/ to discuss.", []),
    ("Source: https://github.com/torvalds/linux/blob/master/README", []),
    ("Visit www.example.com/about-us for the team.", []),
]

MIXED: list[Case] = [
    (
        "Jane Roe, 55 Oak Lane, jane.roe@example.org, +1 (555) 010-4477, SSN 536-22-8714.",
        [
            ("street_address", "55 Oak Lane"),
            ("email", "jane.roe@example.org"),
            ("phone", "+1 (555) 010-4477"),
            ("national_id", "536-22-8714"),
        ],
    ),
    (
        "Server log: 2023-10-05T12:30:45Z 203.0.113.9 GET /~bob/index.html 200 5120",
        [("ip_address", "203.0.113.9")],
    ),
    ("Invoice #2023-0042: 3 items at $19.99, total $59.97, due 2023-11-01.", []),
    ("Theorem 2.1.3.4 states that f(x) = x^2 + 3x - 4 for all x in [0, 1].", []),
    ("The Python 3.11.7 build ran in 12.5 s on 2 cores with 24 GiB.", []),
]

ALL: list[Case] = EMAIL + PHONE + IP + CARD + IBAN + NATIONAL_ID + ADDRESS + URL + MIXED


def as_dicts() -> list[dict[str, object]]:
    """The cases in the shape :func:`safetylens.audit.pii.evaluate` takes."""
    return [{"text": t, "spans": [list(s) for s in spans]} for t, spans in ALL]


# A held-out set written after the detectors were frozen (never used to tune them): the numbers
# reported for the detectors are measured on it separately from the development set above.
HELDOUT: list[Case] = [
    # e-mail
    ("For press enquiries write to press-office@bbc.co.uk.", [("email", "press-office@bbc.co.uk")]),
    ("Kontakt: info@mueller-gmbh.de | Tel. siehe unten", [("email", "info@mueller-gmbh.de")]),
    ('maintainer = "Ana Souza <ana.souza@pm.me>"', [("email", "ana.souza@pm.me")]),
    (
        "Emails: first.last@company.com; second@company.com",
        [("email", "first.last@company.com"), ("email", "second@company.com")],
    ),
    ("Background image: url(hero@2x.webp)", []),
    ("The handle @jack_dorsey tweeted.", []),
    ("ssh deploy@10.0.0.5 -p 2222", [("ip_address", "10.0.0.5")]),
    # phones
    ("Customer service: 1 (888) 555-0123, Mon-Fri.", [("phone", "(888) 555-0123")]),
    ("Hotline +1-202-555-0172", [("phone", "+1-202-555-0172")]),
    ("Ruf an: 0171 1234567", [("phone", "0171 1234567")]),
    ("Bureau : 04 72 00 00 00", [("phone", "04 72 00 00 00")]),
    ("Singapore +65 6123 4567", [("phone", "+65 6123 4567")]),
    ("São Paulo +55 11 91234-5678", [("phone", "+55 11 91234-5678")]),
    ("Mexico City +52 55 1234 5678", [("phone", "+52 55 1234 5678")]),
    ("Call 0800 123 4567 free", [("phone", "0800 123 4567")]),
    ("The 2014-2015 season ended 4-3 in overtime.", []),
    ("Measured 0.123 456 789 with error 0.001.", []),
    ("Serial no. 0123-4567-8901 on the label.", []),
    ("Lat/long: 51.5074, -0.1278; elevation 11 m.", []),
    ("Use 10 000 000 tokens and 32 768 context.", []),
    ("Temperatures ranged from -12 to +35 degrees.", []),
    ("Version 20.04.6 LTS released 2023-03-23.", []),
    # IP
    ("Failed password for root from 185.220.101.4 port 52311 ssh2", [("ip_address", "185.220.101.4")]),
    ("X-Forwarded-For: 198.51.100.23, 203.0.113.77", [("ip_address", "198.51.100.23"), ("ip_address", "203.0.113.77")]),
    ("Gateway fd00::1:2 routes local traffic.", [("ip_address", "fd00::1:2")]),
    ("Software 2.4.1.0 and Firmware 5.2.0.3 are current.", []),
    ("Visit 192.0.2.1's admin page.", [("ip_address", "192.0.2.1")]),
    ("Values 0.5.1.2 in the table are ratios.", []),
    # cards
    ("Test card 4242 4242 4242 4242 always succeeds.", [("payment_card", "4242 4242 4242 4242")]),
    ("Charged to MasterCard 5425-2334-3010-9903.", [("payment_card", "5425-2334-3010-9903")]),
    ("cc=340000000000009&exp=0127", [("payment_card", "340000000000009")]),
    ("Discover: 6011000000000004", [("payment_card", "6011000000000004")]),
    ("Reference 4000 0000 0000 0001 is a voucher code.", []),
    ("Phone IMEI 490154203237518 logged.", []),
    # IBAN
    ("Cuenta: ES91 2100 0418 4502 0005 1332", [("bank_account", "ES91 2100 0418 4502 0005 1332")]),
    ("IBAN IT60X0542811101000000123456", [("bank_account", "IT60X0542811101000000123456")]),
    ("Swiss account CH93 0076 2011 6238 5295 7.", [("bank_account", "CH93 0076 2011 6238 5295 7")]),
    ("Ticket XY12 3456 7890 1234 is closed.", []),
    # national IDs
    ("Applicant SSN 457-55-5462, DOB 1985-04-12.", [("national_id", "457-55-5462")]),
    ("National Insurance: QQ 12 34 56 A", []),
    ("NI No. PW 47 38 19 B", [("national_id", "PW 47 38 19 B")]),
    ("SIN 512-345-679 on the T4 slip.", [("national_id", "512-345-679")]),
    ("Aadhaar: 8765 4321 0988", [("national_id", "8765 4321 0988")]),
    ("NIE Y7654321G, DNI 45123987B", [("national_id", "Y7654321G"), ("national_id", "45123987B")]),
    ("Case 2021-45-6789 was dismissed.", []),
    ("Part numbers 987-65-4321 and 100-20-3000.", []),
    # addresses
    (
        "Send RSVPs to 1234 Elm Street, Springfield, IL 62704.",
        [("street_address", "1234 Elm Street, Springfield, IL 62704")],
    ),
    ("The museum at 11 W 53rd St is open late.", [("street_address", "11 W 53rd St")]),
    ("Our new office: 500 Oracle Parkway, Redwood City", [("street_address", "500 Oracle Parkway, Redwood City")]),
    ("Flat 3, 27 Church Road, Oxford OX4 1AB", [("street_address", "27 Church Road, Oxford OX4 1AB")]),
    (
        "Besuchen Sie uns in der Goethestraße 17, 60313 Frankfurt.",
        [("street_address", "Goethestraße 17, 60313 Frankfurt")],
    ),
    (
        "Siège : 8 avenue des Champs-Élysées, 75008 Paris",
        [("street_address", "8 avenue des Champs-Élysées, 75008 Paris")],
    ),
    ("Send cheques to PO Box 77, Halifax.", [("street_address", "PO Box 77")]),
    ("The 3 Musketeers were written in 1844.", []),
    ("Windows 11 Pro and Office 365 Business are licensed.", []),
    ("The top 5 Silicon Valley firms reported gains.", []),
    ("Rated 4 Stars Overall by critics.", []),
    # personal URLs
    (
        "Personal page: https://people.csail.mit.edu/~rivest/",
        [("personal_url", "https://people.csail.mit.edu/~rivest/")],
    ),
    ("Find me on https://www.linkedin.com/in/alex-chen/", [("personal_url", "https://www.linkedin.com/in/alex-chen/")]),
    ("Insta: instagram.com/sam.photos", [("personal_url", "instagram.com/sam.photos")]),
    ("GitLab: https://gitlab.com/jdoe", [("personal_url", "https://gitlab.com/jdoe")]),
    ("Telegram: https://t.me/durov", [("personal_url", "https://t.me/durov")]),
    (
        "Author page https://blog.example.com/author/maria-lopez/",
        [("personal_url", "https://blog.example.com/author/maria-lopez/")],
    ),
    (
        "Profile https://stackoverflow.com/users/22656/jon-skeet",
        [("personal_url", "https://stackoverflow.com/users/22656/jon-skeet")],
    ),
    ("Settings at https://github.com/settings/profile", []),
    ("Share via https://twitter.com/intent/tweet?text=hi", []),
    ("RSS https://example.com/feed.xml and https://example.com/blog/2023/10/post", []),
    ("Groups: https://www.facebook.com/groups/123456789", []),
    # mixed / free text
    (
        "Hi Tom, my new number is +44 7700 900123 and my address is 12 Park Lane, London W1K 1AA. "
        "Cheers, Kate (kate.b@outlook.com)",
        [
            ("phone", "+44 7700 900123"),
            ("street_address", "12 Park Lane, London W1K 1AA"),
            ("email", "kate.b@outlook.com"),
        ],
    ),
    ("Table 3: 12.5 ± 0.3, 14.2 ± 0.4, p < 0.001 (n = 1,024).", []),
    ("for (int i = 0; i < 10; i++) { arr[i] = 255.255; }", []),
    ("Benchmark: 1.23.4.5 fps on 2.6.32.27 kernels.", []),
]


def heldout_dicts() -> list[dict[str, object]]:
    """The held-out cases in the shape :func:`safetylens.audit.pii.evaluate` takes."""
    return [{"text": t, "spans": [list(s) for s in spans]} for t, spans in HELDOUT]
