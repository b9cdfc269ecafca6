"""A small person table with planted duplicates and recording errors, for linkage tests.

``people()`` makes about 500 records of 240 people: most people recorded twice by different
agencies, the second record often with a typo, a missing field or an abbreviated address.
Named cases (record ids beginning with a letter) pin down behaviour a user would notice.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pyarrow as pa

GIVEN = {
    "female": ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Grace", "Freya", "Ella",
               "Sophia", "Evie", "Poppy", "Harper", "Daisy", "Rosie", "Willow", "Chloe", "Ruby"],
    "male": ["Oliver", "George", "Noah", "Arthur", "Leo", "Oscar", "Harry", "Jack", "Charlie",
             "Henry", "Jacob", "Thomas", "Alfie", "Freddie", "Theo", "Archie", "Joshua", "Finley"],
}  # fmt: skip
FAMILY = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Hughes", "Edwards", "Lewis", "Harris", "Turner", "Okafor",
    "Nowak", "Kowalski", "Ahmed", "Begum", "Khan", "Murphy", "Kelly", "Stewart", "Campbell",
]  # fmt: skip
STREETS = [
    "High Street", "Station Road", "Church Lane", "Park Avenue", "Mill Road", "Victoria Road",
    "Green Lane", "Manor Gardens", "Kings Road", "Queens Grove",
]  # fmt: skip
SHORT = {"Street": "St", "Road": "Rd", "Lane": "Ln", "Avenue": "Ave", "Gardens": "Gdns",
         "Grove": "Gr"}  # fmt: skip
COLUMNS = ("record_id", "source", "given_name", "family_name", "date_of_birth", "sex", "address",
           "postcode", "nhs_number", "cluster")  # fmt: skip
SOURCES = ("police", "health", "school", "childrens-services")


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _person(rng: random.Random, number: int) -> dict[str, str | None]:
    sex = rng.choice(["female", "male"])
    born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
    return {
        "given_name": rng.choice(GIVEN[sex]),
        "family_name": rng.choice(FAMILY),
        "date_of_birth": born.isoformat(),
        "sex": sex,
        "address": f"{rng.randrange(1, 200)} {rng.choice(STREETS)}",
        "postcode": f"BH{rng.randrange(1, 9)} {rng.randrange(1, 9)}{rng.choice('ABDEFGHJ')}"
        f"{rng.choice('LNPQRSTU')}",
        "nhs_number": f"9{number:09d}",
    }


def _garble(rng: random.Random, record: dict[str, str | None]) -> None:
    """One recording error of a kind agencies make, or none."""
    kind = rng.choice(["none", "none", "given", "family", "dob", "address", "missing", "nhs"])
    if kind == "given" and record["given_name"]:
        record["given_name"] = _typo(rng, record["given_name"])
    elif kind == "family" and record["family_name"]:
        record["family_name"] = _typo(rng, record["family_name"])
    elif kind == "dob" and record["date_of_birth"]:
        year, month, day = record["date_of_birth"].split("-")
        record["date_of_birth"] = (
            f"{year}-{day}-{month}" if int(day) <= 12 else f"{year}-{month}-01"
        )
    elif kind == "address" and record["address"]:
        for long, short in SHORT.items():
            record["address"] = record["address"].replace(long, short)
    elif kind == "missing":
        record[rng.choice(["date_of_birth", "address", "postcode", "sex"])] = None
    elif kind == "nhs":
        record["nhs_number"] = None


PLANTED: list[dict[str, str | None]] = [
    # A typo in the given name; otherwise the same.
    {"record_id": "typo-a", "cluster": "typo", "given_name": "Katherine", "family_name": "Olufemi",
     "date_of_birth": "1991-03-14", "sex": "F", "address": "7 Larch Close", "postcode": "bh2 5qq"},
    {"record_id": "typo-b", "cluster": "typo", "given_name": "Kahterine", "family_name": "Olufemi",
     "date_of_birth": "1991-03-14", "sex": "female", "address": "7 Larch Cl", "postcode": "BH25QQ"},
    # Transposed digits in the year, and day and month swapped.
    {"record_id": "dob-a", "cluster": "dob", "given_name": "Marek", "family_name": "Zielinski",
     "date_of_birth": "1987-05-06", "sex": "M", "address": "12 Orchard Way", "postcode": "BH7 1XZ"},
    {"record_id": "dob-b", "cluster": "dob", "given_name": "Marek", "family_name": "Zielinski",
     "date_of_birth": "1978-05-06", "sex": "M", "address": "12 Orchard Way", "postcode": "BH7 1XZ"},
    {"record_id": "dob-c", "cluster": "dob", "given_name": "Marek", "family_name": "Zielinski",
     "date_of_birth": "1987-06-05", "sex": None, "address": None, "postcode": "BH7 1XZ"},
    # The same NHS number under another given name and no address.
    {"record_id": "nhs-a", "cluster": "nhs", "given_name": "Bethany", "family_name": "Achterberg",
     "date_of_birth": "2009-11-30", "sex": "F", "address": "3 Quarry Hill", "postcode": "BH9 9ZZ",
     "nhs_number": "4857773456"},
    {"record_id": "nhs-b", "cluster": "nhs", "given_name": "Beth", "family_name": "Achterberg",
     "date_of_birth": "2009-11-30", "sex": None, "address": None, "postcode": None,
     "nhs_number": "485 777 3456"},
    # Twins: one household and birthday, different names and NHS numbers.
    {"record_id": "twin-a", "cluster": "twin-a", "given_name": "Aoife", "family_name": "Brannigan",
     "date_of_birth": "2012-02-02", "sex": "F", "address": "40 Heron Rise", "postcode": "BH4 4HR",
     "nhs_number": "4010000001"},
    {"record_id": "twin-b", "cluster": "twin-b", "given_name": "Ciaran", "family_name": "Brannigan",
     "date_of_birth": "2012-02-02", "sex": "M", "address": "40 Heron Rise", "postcode": "BH4 4HR",
     "nhs_number": "4010000002"},
]  # fmt: skip


# Relatives at one address, planted by ``people(households=True)``.
HOUSEHOLDS: list[dict[str, str | None]] = [
    # A third record of the first twin: no given name, sex or NHS number, so it scores as
    # either twin; only their different NHS numbers keep the chain from joining them.
    {"record_id": "twin-a2", "cluster": "twin-a", "given_name": None, "family_name": "Brannigan",
     "date_of_birth": "2012-02-02", "sex": None, "address": "40 Heron Rise", "postcode": "BH4 4HR"},
    # Twin sisters with no NHS numbers at all: only their given names tell them apart.
    {"record_id": "twin-c", "cluster": "twin-c", "given_name": "Maisie", "family_name": "Pemberton",
     "date_of_birth": "2015-06-01", "sex": "F", "address": "9 Kestrel Way", "postcode": "BH3 3KW"},
    {"record_id": "twin-c2", "cluster": "twin-c", "given_name": "Maisie",
     "family_name": "Pemberton", "date_of_birth": "2015-06-01", "sex": None,
     "address": "9 Kestrel Way", "postcode": "BH33KW"},
    {"record_id": "twin-d", "cluster": "twin-d", "given_name": "Esme", "family_name": "Pemberton",
     "date_of_birth": "2015-06-01", "sex": "F", "address": "9 Kestrel Way", "postcode": "BH3 3KW"},
    {"record_id": "twin-d2", "cluster": "twin-d", "given_name": "Esme", "family_name": "Pemberton",
     "date_of_birth": "2015-06-01", "sex": "female", "address": "9 Kestrel Way",
     "postcode": None},
    # A father and son of one name at one address.
    {"record_id": "senior", "cluster": "senior", "given_name": "Desmond", "family_name": "Okonjo",
     "date_of_birth": "1968-03-03", "sex": "M", "address": "5 Tern Court", "postcode": "BH6 6TC"},
    {"record_id": "junior", "cluster": "junior", "given_name": "Desmond", "family_name": "Okonjo",
     "date_of_birth": "1995-09-19", "sex": "M", "address": "5 Tern Court", "postcode": "BH6 6TC"},
]  # fmt: skip


def people(count: int = 240, seed: int = 3, households: bool = False) -> pa.Table:
    """The test population, shuffled, with its truth in ``cluster``; with ``households``,
    also twins and namesakes at one address (:data:`HOUSEHOLDS`)."""
    rng = random.Random(seed)
    rows: list[dict[str, str | None]] = []
    for number in range(count):
        person = _person(rng, number)
        for copy in range(1 + (rng.random() < 0.85)):
            record = dict(person)
            if copy:
                _garble(rng, record)
            record["record_id"] = f"{number:04d}-{copy}"
            record["source"] = SOURCES[(number + copy) % len(SOURCES)]
            record["cluster"] = f"p{number:04d}"
            rows.append(record)
    for planted in PLANTED + (HOUSEHOLDS if households else []):
        rows.append({"source": "police", "nhs_number": None, **planted})
    rng.shuffle(rows)
    return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in COLUMNS})
