"""A synthetic population of people as several agencies record them, with the truth kept.

Used to measure person linkage (``synthetic_persons``) and, through its building blocks, by
:mod:`peel.fusion.simulate` to write a county's multi-agency files:

* **Names**: given names by sex and family names in rough order of frequency in England and
  Wales, weighted with a long-tailed (Zipf-like) curve so that "Smith" and "Oliver" are
  common and most names are rare, as term-frequency adjustment expects; three in ten family
  names are composed from syllables ("Ashworth", "Penmarsh"), the long tail of rare names.
* **Places**: invented towns and streets; postcodes have valid UK shapes in invented
  districts (areas ``WX`` and ``WY``, which are not real postcode areas).
* **NHS numbers**: valid modulus-11 check digits, all starting with 9: England and Wales
  issue numbers starting 4 to 7 and Scotland and Northern Ireland 0 to 3, so none is a real
  patient's (``999`` is the range the NHS keeps for tests).
* **Households**: people share an address and mostly a family name; some are **twins** (same
  family name, date of birth and address, different given name — the hard negative); some
  **share a full name** with a stranger (common-name collisions); some have **moved**, and
  agencies may still hold the old address.
* **Recording errors** per record: typing errors (insert, delete, substitute, transpose),
  nicknames and spelling variants (Robert → Bob, Mohammed → Muhammad), given and family names
  swapped, day and month transposed, a day or year mistyped, abbreviations in addresses,
  mistyped postcodes and missing values. NHS numbers are held by health and children's
  services, rarely by the police and never by schools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from peel.core.errors import InvalidInput


def _words(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))


def _table(text: str) -> dict[str, tuple[str, ...]]:
    """``"Name: alt alt; Name: alt"`` as a dictionary."""
    pairs = (item.split(":") for item in text.split(";"))
    return {key.strip(): tuple(values.split()) for key, values in pairs}


SOURCES = ("police", "childrens-services", "school", "health")
#: Ages (years) where the mix of agencies holding a person's records changes, and the share
#: of records each source holds in each band (order of SOURCES): under 4, school age,
#: working age, 65 and over.
AGE_BANDS = np.array([4.0, 18.0, 65.0])
SOURCE_SHARES_BY_AGE = np.array(
    [
        [0.05, 0.35, 0.0, 0.60],
        [0.15, 0.25, 0.35, 0.25],
        [0.35, 0.20, 0.0, 0.45],
        [0.12, 0.0, 0.0, 0.88],
    ]
)
#: Chance that a record from each source carries the person's NHS number.
NHS_HELD = np.array([0.03, 0.6, 0.0, 0.97])
#: A fixed "today" for the flat population, so a seed always gives the same table.
REFERENCE_DATE = date(2025, 1, 1)
MAX_RECORDS_PER_PERSON = 8

MALE_NAMES = """
David John Michael Paul Andrew Mark James Peter Richard Robert Stephen Christopher Thomas Daniel
Matthew William Jack Oliver Harry George Charlie Joshua Jacob Alfie Noah Leo Oscar Muhammad
Mohammed Arthur Freddie Henry Archie Theo Ethan Samuel Joseph Benjamin Lucas Alexander Jake Luke
Ryan Adam Liam Callum Connor Kieran Jamie Lewis Nathan Dylan Tyler Kyle Jordan Aaron Ben Max
Finley Logan Mason Isaac Edward Alex Sebastian Elijah Reuben Harrison Toby Louis Jayden Riley
Zachary Ellis Tommy Teddy Jenson Rory Albert Hugo Ronnie Frankie Jude Bobby Stanley Luca Reggie
Ezra Hunter Louie Tobias Elliot Ashton Brandon Bradley Declan Owen Rhys Gareth Craig Darren Lee
Wayne Dean Shaun Scott Gary Kevin Ian Neil Simon Martin Keith Brian Colin Anthony Philip Graham
Alan Trevor Nigel Stuart Barry Raymond Kenneth Roger Terence Derek Dennis Frank Ronald Leonard
Harold Frederick Ernest Walter Norman Douglas Gordon Malcolm Geoffrey Roy Victor Patrick Sean
Francis Jonathan Nicholas Timothy Julian Tristan Rupert Dominic Marcus Adrian Russell Jason Carl
Clive Glen Lloyd Jermaine Tyrone Delroy Marlon Kwame Kofi Chukwuemeka Tunde Emeka Adebayo Ibrahim
Yusuf Ahmed Ali Hassan Omar Hamza Bilal Zain Ayaan Imran Tariq Arjun Rohan Aarav Ravi Sanjay
Rajesh Vikram Harjit Gurpreet Jaspreet Kamal Piotr Jakub Tomasz Kacper Mateusz Andrei Mihai
Giorgio Marco Diego Mateo Ahmet Mustafa Reece Kai Harley Jaxon Carter Jackson Blake Cameron Corey
Morgan Evan Gabriel Caleb Joel Felix Rowan Jasper Ralph Albie Otis Milo Ivan Dmitri Aleksander
Conor Cian Niall Ciaran Fraser Euan Angus Hamish Alistair Dafydd Gethin Iwan Rhodri
"""

FEMALE_NAMES = """
Susan Sarah Margaret Elizabeth Helen Karen Julie Emma Claire Nicola Lisa Amanda Michelle Rebecca
Laura Gemma Hannah Jessica Charlotte Emily Sophie Lucy Amy Olivia Amelia Isla Ava Mia Ivy Lily
Isabella Rosie Sophia Grace Freya Willow Florence Poppy Ella Evie Ruby Daisy Isabelle Phoebe
Millie Sienna Harper Evelyn Alice Matilda Elsie Maya Ellie Chloe Holly Katie Megan Bethany Jade
Leah Abigail Zoe Georgia Lauren Jasmine Molly Eleanor Scarlett Aria Layla Hallie Esme Maisie Eva
Imogen Erin Niamh Caitlin Courtney Shannon Chelsea Kayleigh Danielle Samantha Victoria Jennifer
Catherine Katherine Joanne Kelly Tracey Donna Deborah Alison Angela Jacqueline Carol Linda
Patricia Christine Janet Barbara Pauline Gillian Wendy Jane Anne Mary Joan Dorothy Irene Doreen
Sheila Brenda Maureen Joyce Eileen Jean Beryl Valerie Sandra Lorraine Denise Diane Heather Fiona
Caroline Louise Rachel Kirsty Stacey Natalie Hayley Zara Aisha Fatima Maryam Zainab Khadija Amira
Hafsa Noor Ayesha Sana Iqra Hana Priya Anjali Pooja Simran Harpreet Manpreet Kiran Sunita Neha
Aaliyah Nia Amara Chioma Adaeze Abena Ama Folake Zuzanna Julia Natalia Agnieszka Katarzyna Oliwia
Maja Ioana Elena Andreea Giulia Francesca Sofia Lola Luna Nova Ada Iris Thea Orla Aoife Siobhan
Ciara Eilidh Morag Catriona Cerys Ffion Seren Carys Bronwen Tegan Paige Kimberley Abbie Leanne
Toni Rhiannon Bethan Naomi Ruth Esther Miriam Eve Edith Mabel Beatrice Violet Hazel Martha Sylvie
Clara Elodie Anna Maria
"""

FAMILY_NAMES = """
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson
Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin
Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips
Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey
Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum
Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen
Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon
Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds
Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer Gill Dawson
Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees Hayes Hart
Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry
Stone Reid Holland Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird
Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd
Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson Robson Curtis
Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill Griffin Sharp Hardy Wheeler
Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rowe Burke May Pritchard
Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold Buckley Walters Hewitt Barber
Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens Blake Akhtar Lynch Goodwin
Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton Nash Greenwood Jennings Holt
Kemp Poole Gallagher Bond Stokes Tucker Davidson Fowler Heath Norman Middleton Lawson Banks French
Stanley Jarvis Gibbs Ferguson Hayward Carroll Douglas Dickinson Todd Barlow Peters Lucas Knowles
Hartley Miah Simmons Morton Alexander Field Morrison Norris Townsend Preston Hancock Thornton
Baldwin Burrows Briggs Storey Pugh Howe Mahmood Iqbal Rahman Hossain Uddin Chowdhury Malik Aziz
Raza Sharma Kumar Mistry Chauhan Nowak Kowalski Wisniewski Wojcik Kaminski Lewandowski Popescu
Ionescu Okafor Adeyemi Mensah Osei Boateng Okonkwo Ibrahim Mohamed Abdi Hassan Nguyen Chen Wang
Silva Santos Ferreira Costa Rossi Russo Kowalczyk Horvath Murphy-Jones Fitzgerald Donnelly Brennan
Flynn Kavanagh Duffy Kerr Boyle Fraser Mackenzie Sinclair Munro Cameron Grieve Lamb Hobbs Pike
Cartwright Fenwick Whitfield Ashby Crane Tate Dyer Haines Sparks Lacey Rhodes Hurst Cope Tranter
"""

#: Syllables for the long tail of rare family names ("Ash" + "worth").
RARE_NAME_STARTS = _words(
    "Ash Brack Bram Carr Chal Cop Crow Dal Dun Elm Fal Fen Fern Gar Glen Grim Hal Hart Hol Kil "
    "Kirk Lang Mar Mel Mor Nor Pen Quen Rad Rook Sal Shel Stan Thorn Tre Wal Wen Whit Wil Wyn "
    "Yar Ald Bax Brad Cal Ell Ever Haw Lock Mab Ott Pad Pick Ross Sed Tan Up Ver"
)
RARE_NAME_ENDS = _words(
    "worth ford ley ton field wood well more cott hurst dale by thorpe wick shaw stead marsh "
    "ridge combe den holt bury cliffe mere gate low bourne brook hill ham ington man"
)

#: Nicknames and short forms (formal name -> what an agency may record instead).
NICKNAMES: dict[str, tuple[str, ...]] = _table(
    "Robert: Bob Rob Bobby; William: Bill Will Billy; Elizabeth: Liz Beth Lizzie; "
    "Katherine: Kate Katie Kathy; Catherine: Cath Kate Cathy; Thomas: Tom Tommy; "
    "James: Jim Jamie Jimmy; Michael: Mike Mikey Mick; Christopher: Chris; Daniel: Dan Danny; "
    "Joseph: Joe Joey; Alexander: Alex Xander; Samuel: Sam Sammy; Benjamin: Ben Benny; "
    "Matthew: Matt; Nicholas: Nick Nicky; Jonathan: Jon Jonny; Edward: Ed Eddie Ted; "
    "Anthony: Tony Ant; Richard: Rich Richie Dick; Charles: Charlie; Stephen: Steve; "
    "David: Dave Davy; Andrew: Andy Drew; Peter: Pete; Timothy: Tim; Frederick: Fred Freddie; "
    "Henry: Harry Hal; Oliver: Ollie; Kenneth: Ken Kenny; Raymond: Ray; Zachary: Zach; "
    "Margaret: Maggie Peggy Meg; Rebecca: Becky Becca; Jennifer: Jenny Jen; "
    "Victoria: Vicky Tori; Samantha: Sam Sammy; Jessica: Jess Jessie; Abigail: Abbie Abby; "
    "Susan: Sue Susie; Deborah: Debbie Deb; Patricia: Pat Trish; Isabella: Bella Izzy; "
    "Isabelle: Izzy Belle; Eleanor: Ellie Nell; Amelia: Millie Amy; Jacqueline: Jackie; "
    "Christine: Chris Chrissie; Charlotte: Lottie Charlie; Florence: Flo Florrie; "
    "Gillian: Gill; Alexandra: Alex Lexi; Natalie: Nat; Kimberley: Kim"
)

#: Spellings agencies use for the same name.
SPELLING_VARIANTS: dict[str, tuple[str, ...]] = _table(
    "Mohammed: Muhammad Mohammad Mohamed; Muhammad: Mohammed Muhammed; Stephen: Steven; "
    "Catherine: Katherine Kathryn; Katherine: Catherine Kathryn; Sean: Shaun Shawn; "
    "Shaun: Sean; Aisha: Ayesha Aysha; Ayesha: Aisha; Zoe: Zoë Zoey; Leah: Lea; Isla: Islay; "
    "Jayden: Jaden Jaydon; Elliot: Elliott; Philip: Phillip; Louie: Louis; "
    "Kayleigh: Kayley Kaylee; Sophie: Sophy; Conor: Connor; Connor: Conor; Niamh: Neve; "
    "Hannah: Hanna"
)

#: Invented towns of a county, with their (invented) postcode districts and relative sizes.
TOWNS: tuple[tuple[str, str, float], ...] = (
    ("Northgate", "WX1", 9.0),
    ("Brackholt", "WX2", 6.0),
    ("Quenbury", "WX3", 5.0),
    ("Saltmead", "WX4", 4.0),
    ("Fallowmead", "WX5", 3.0),
    ("Ashquay", "WX6", 3.0),
    ("Wendlestow", "WX7", 2.5),
    ("Rookhythe", "WX8", 2.0),
    ("Pellbridge", "WX9", 2.0),
    ("Tidewell", "WX10", 2.0),
    ("Marrowfield", "WX11", 1.5),
    ("Kestrelford", "WX12", 1.5),
    ("Hollowmere", "WX13", 1.2),
    ("Gorsewick", "WX14", 1.0),
    ("Linnetby", "WX15", 1.0),
    ("Cobbleford", "WY1", 1.0),
    ("Swanmere", "WY2", 0.8),
    ("Thornquay", "WY3", 0.8),
    ("Alderhythe", "WY4", 0.7),
    ("Yewbridge", "WY5", 0.6),
    ("Hartmoss", "WY6", 0.5),
    ("Sandlow", "WY7", 0.5),
    ("Reedlow", "WY8", 0.4),
    ("Bittern Fen", "WY9", 0.3),
)
STREET_STEMS = _words(
    "Alder Ash Beech Birch Bramble Briar Cedar Chestnut Elm Hazel Holly Juniper Larch Linden "
    "Maple Oak Rowan Sycamore Willow Yew Acorn Bluebell Clover Cowslip Daisy Foxglove Heather "
    "Lavender Primrose Sorrel Teasel Thistle Meadow Orchard Mill Church Station Market Bridge "
    "Castle Abbey Priory Manor Grange Park Green Brook Spring Well Marsh Moor Heath Common "
    "Quarry Forge Tannery Wharf Quay Harbour Ferry Chapel Vicarage School Victoria Albert "
    "Jubilee Coronation Kingfisher Heron Swallow Skylark Wren Robin Falcon Kestrel Badger Otter "
    "Fox Hare Saxon Norman Tudor Windsor Stuart Hanover Nelson Wellington Raleigh Drake "
    "Granville Lancaster Salisbury Marlborough Osborne Sandringham Balmoral Fairfield Highfield "
    "Westfield Northfield Southview Hillside Riverside Lakeside Seaview Cliff Downs Ridgeway"
)
STREET_SUFFIXES = _words(
    "Road Street Avenue Close Lane Drive Way Crescent Gardens Place Grove Terrace Court Mews "
    "Rise View Walk"
)
STREET_SUFFIX_SHARES = np.array(
    [14, 10, 6, 9, 7, 6, 5, 4, 4, 3, 3, 3, 3, 1.5, 1.5, 1, 1], dtype=float
)
#: How agencies shorten street types.
ABBREVIATIONS = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Close": "Cl",
    "Lane": "Ln",
    "Drive": "Dr",
    "Crescent": "Cres",
    "Gardens": "Gdns",
    "Place": "Pl",
    "Grove": "Gr",
    "Terrace": "Terr",
    "Court": "Ct",
}
#: Letters allowed in the last two places of a postcode (never C, I, K, M, O or V).
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
#: Keys next to each other on a UK keyboard, for believable substitutions.
KEY_NEIGHBOURS = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc",
    "g": "ftyhbv", "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop",
    "m": "njk", "n": "bhjm", "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz",
    "t": "rfgy", "u": "yhji", "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip


def zipf_weights(count: int, exponent: float = 0.9, offset: float = 4.0) -> np.ndarray:
    """Probabilities falling with rank (rank 1 commonest), summing to 1."""
    weights = 1.0 / (np.arange(count) + offset) ** exponent
    return np.asarray(weights / weights.sum())


GIVEN_NAMES: dict[str, tuple[str, ...]] = {
    "female": _words(FEMALE_NAMES),
    "male": _words(MALE_NAMES),
}
FAMILY_NAME_LIST = _words(FAMILY_NAMES)
RARE_SHARE = 0.3


def draw_given_names(rng: np.random.Generator, sexes: np.ndarray) -> np.ndarray:
    """A given name for each sex (``female``/``male``), drawn by frequency."""
    out = np.empty(len(sexes), dtype=object)
    for sex, names in GIVEN_NAMES.items():
        mask = sexes == sex
        pool = np.array(names, dtype=object)
        out[mask] = pool[rng.choice(len(pool), int(mask.sum()), p=zipf_weights(len(pool)))]
    return out


def draw_family_names(rng: np.random.Generator, count: int) -> np.ndarray:
    """Family names: common ones by frequency, and a long tail of rare composed ones."""
    common = np.array(FAMILY_NAME_LIST, dtype=object)
    out = common[rng.choice(len(common), count, p=zipf_weights(len(common), 0.85, 6.0))]
    rare = rng.random(count) < RARE_SHARE
    starts = np.array(RARE_NAME_STARTS, dtype=object)
    ends = np.array(RARE_NAME_ENDS, dtype=object)
    n = int(rare.sum())
    out[rare] = starts[rng.integers(0, len(starts), n)] + ends[rng.integers(0, len(ends), n)]
    return out


# --- NHS numbers --------------------------------------------------------------------------------


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus-11 check digit for nine digits, or None when no number may use them."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(first_nine))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def valid_nhs_number(number: str) -> bool:
    """Whether ``number`` is ten digits with a correct modulus-11 check digit."""
    digits = number.replace(" ", "")
    if len(digits) != 10 or not digits.isdigit():
        return False
    return nhs_check_digit(digits[:9]) == int(digits[9])


def make_nhs_numbers(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` distinct valid NHS numbers, all starting with 9 (outside the issued ranges)."""
    weights = np.arange(10, 1, -1)  # 10..2 for the nine leading digits
    numbers = np.empty(0, dtype=np.int64)
    while len(numbers) < count:
        draw = rng.integers(0, 10**8, int((count - len(numbers)) * 1.15) + 16)
        first = 9 * 10**8 + draw
        digits = (first[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        check = 11 - (digits * weights).sum(axis=1) % 11
        check[check == 11] = 0
        keep = check != 10
        fresh = np.setdiff1d(first[keep] * 10 + check[keep], numbers)
        rng.shuffle(fresh)
        numbers = np.concatenate([numbers, fresh])
    numbers = numbers[:count]
    return np.asarray(numbers.astype(str).astype(object))


# --- places -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addresses:
    """Addresses as parallel arrays: the street line, town and postcode of each."""

    line1: np.ndarray
    town: np.ndarray
    postcode: np.ndarray

    def full(self, index: np.ndarray | None = None) -> np.ndarray:
        """``line1, town`` as one string (the flat linkage table's ``address``)."""
        pick = slice(None) if index is None else index
        return np.asarray(self.line1[pick] + ", " + self.town[pick], dtype=object)


def draw_addresses(rng: np.random.Generator, count: int) -> Addresses:
    """``count`` home addresses in the invented towns, with their postcodes."""
    town_weights = np.array([w for _, _, w in TOWNS])
    town = rng.choice(len(TOWNS), count, p=town_weights / town_weights.sum())
    stem = rng.integers(0, len(STREET_STEMS), count)
    suffix = rng.choice(
        len(STREET_SUFFIXES), count, p=STREET_SUFFIX_SHARES / STREET_SUFFIX_SHARES.sum()
    )
    number = rng.integers(1, 160, count)
    stems = np.array(STREET_STEMS, dtype=object)
    suffixes = np.array(STREET_SUFFIXES, dtype=object)
    towns = np.array([t for t, _, _ in TOWNS], dtype=object)
    line1 = np.array([str(n) for n in number], dtype=object) + " " + stems[stem] + " "
    line1 = line1 + suffixes[suffix]
    return Addresses(line1, towns[town], postcodes_for(town, stem, suffix, number))


def postcodes_for(
    town: np.ndarray, stem: np.ndarray, suffix: np.ndarray, number: np.ndarray
) -> np.ndarray:
    """A postcode for each address: the town's district, a sector per street, a unit per block."""
    districts = np.array([d for _, d, _ in TOWNS], dtype=object)
    street = stem * len(STREET_SUFFIXES) + suffix
    sector = (street * 7 + town * 3) % 10
    letters = len(POSTCODE_UNIT_LETTERS)
    unit = (street * 31 + (number // 24) * 17 + town * 13) % (letters * letters)
    alphabet = np.array(list(POSTCODE_UNIT_LETTERS), dtype=object)
    inward = np.array([str(s) for s in sector], dtype=object)
    inward = inward + alphabet[unit // letters] + alphabet[unit % letters]
    return np.asarray(districts[town] + " " + inward, dtype=object)


# --- errors, one function per kind ----------------------------------------------------------------


def corrupt_typo(rng: np.random.Generator, values: Sequence[str]) -> list[str]:
    """One typing error in each value: a letter inserted, deleted, substituted or transposed."""
    n = len(values)
    ops = rng.integers(0, 4, n)
    where = rng.random(n)
    pick = rng.random(n)
    out = []
    for value, op, at, choice in zip(values, ops, where, pick, strict=True):
        out.append(_typo(value, int(op), float(at), float(choice)))
    return out


def _typo(value: str, op: int, at: float, choice: float) -> str:
    if len(value) < 3:
        return value + LETTERS[int(choice * 26)] if op == 0 else value
    i = 1 + int(at * (len(value) - 2))  # never the first letter: people rarely get that wrong
    here = value[i].lower()
    near = KEY_NEIGHBOURS.get(here, LETTERS)
    letter = near[int(choice * len(near))]
    if op == 0:
        return value[:i] + letter + value[i:]
    if op == 1:
        return value[:i] + value[i + 1 :]
    if op == 2:
        return value[:i] + letter + value[i + 1 :]
    j = min(i + 1, len(value) - 1)
    if value[i] == value[j]:
        return value[:i] + value[i + 1 :]
    return value[:i] + value[j] + value[i] + value[j + 1 :]


def corrupt_nickname(rng: np.random.Generator, values: Sequence[str]) -> list[str]:
    """A nickname or another spelling where one is known; other names are left as they are."""
    out = []
    for value, choice in zip(values, rng.random(len(values)), strict=True):
        options = NICKNAMES.get(value, ()) + SPELLING_VARIANTS.get(value, ())
        out.append(options[int(choice * len(options))] if options else value)
    return out


def has_nickname(value: str) -> bool:
    return value in NICKNAMES or value in SPELLING_VARIANTS


def corrupt_postcode(rng: np.random.Generator, values: Sequence[str]) -> list[str]:
    """One mistyped character of the inward code, keeping the postcode's shape."""
    out = []
    for value, at, choice in zip(
        values, rng.integers(0, 3, len(values)), rng.random(len(values)), strict=True
    ):
        outward, inward = value.split(" ")
        if at == 0:
            new = str((int(inward[0]) + 1 + int(choice * 8)) % 10)
        else:
            new = POSTCODE_UNIT_LETTERS[int(choice * len(POSTCODE_UNIT_LETTERS))]
        chars = list(inward)
        chars[at] = new
        out.append(outward + " " + "".join(chars))
    return out


def abbreviate_address(values: Sequence[str]) -> list[str]:
    """Street types shortened as many systems do (``Road`` -> ``Rd``)."""
    out = []
    for value in values:
        for word, short in ABBREVIATIONS.items():
            if f" {word}" in value:
                value = value.replace(f" {word}", f" {short}", 1)
                break
        out.append(value)
    return out


def transpose_day_month(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dates (``datetime64[D]``) with day and month swapped, and where that changed anything."""
    year, month, day = date_parts(dates)
    can = (day <= 12) & (day != month)
    return make_dates(year, np.where(can, day, month), np.where(can, month, day)), can


def mistype_dates(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    """A day one or two out, or (one time in three) the year one out, as a slip of the keys."""
    year, month, day = date_parts(dates)
    n = len(dates)
    shift = rng.choice(np.array([-2, -1, 1, 2]), n)
    day = np.clip(day + shift, 1, 28)
    year_slip = rng.random(n) < 1 / 3
    year = np.where(year_slip, year + rng.choice(np.array([-1, 1]), n), year)
    return make_dates(year, month, day)


def date_parts(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1–12) and day (1–31) of ``datetime64[D]`` values."""
    years = dates.astype("datetime64[Y]")
    months = dates.astype("datetime64[M]")
    year = years.astype(int) + 1970
    month = (months - years.astype("datetime64[M]")).astype(int) + 1
    day = (dates - months.astype("datetime64[D]")).astype(int) + 1
    return year, month, day


def make_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """``datetime64[D]`` from parts; a day past the month's end is pulled back to it."""
    first = (np.asarray(year) - 1970).astype("datetime64[Y]").astype("datetime64[M]")
    first = first + (np.asarray(month) - 1).astype("timedelta64[M]")
    last = (first + np.timedelta64(1, "M")).astype("datetime64[D]") - first.astype("datetime64[D]")
    day = np.minimum(np.asarray(day), last.astype(int))
    return first.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")


# --- the population -----------------------------------------------------------------------------


@dataclass
class People:
    """The true details of each person (one row per person), as parallel arrays."""

    sex: np.ndarray  # "female" | "male"
    given_name: np.ndarray
    family_name: np.ndarray
    date_of_birth: np.ndarray  # datetime64[D]
    home: Addresses
    previous: Addresses  # an earlier address (same as home for people who have not moved)
    moved: np.ndarray  # bool
    nhs_number: np.ndarray
    household: np.ndarray
    twin_of: np.ndarray  # index of the twin drawn first, or -1
    namesake_of: np.ndarray  # index of a stranger with the same full name, or -1


def draw_people(rng: np.random.Generator, count: int, today: date = REFERENCE_DATE) -> People:
    """People in households (shared address, mostly a shared family name), with twins,
    namesakes and movers planted."""
    household = np.sort(rng.integers(0, max(1, int(count / 2.3)), count))
    _, household = np.unique(household, return_inverse=True)
    families = draw_family_names(rng, int(household.max()) + 1)
    homes = draw_addresses(rng, int(household.max()) + 1)
    sex = np.where(rng.random(count) < 0.51, "female", "male").astype(object)
    family = families[household]
    own = rng.random(count) < 0.2  # partners and step-children often keep their own name
    family[own] = draw_family_names(rng, int(own.sum()))
    ages = rng.choice(96, count, p=_age_shares())
    dob = np.datetime64(today, "D") - (ages * 365.25 + rng.integers(0, 365, count)).astype(
        "timedelta64[D]"
    )
    people = People(
        sex=sex,
        given_name=draw_given_names(rng, sex),
        family_name=family,
        date_of_birth=dob,
        home=Addresses(homes.line1[household], homes.town[household], homes.postcode[household]),
        previous=draw_addresses(rng, count),
        moved=rng.random(count) < 0.2,
        nhs_number=make_nhs_numbers(rng, count),
        household=household,
        twin_of=np.full(count, -1),
        namesake_of=np.full(count, -1),
    )
    _plant_twins(rng, people, share=0.01)
    _plant_namesakes(rng, people, share=0.005)
    return people


def _age_shares() -> np.ndarray:
    """Rough shares of each age 0–95 in England: flat to 60, then falling away."""
    shares = np.ones(96)
    shares[60:] = np.linspace(1.0, 0.1, 36)
    return np.asarray(shares / shares.sum())


def _plant_twins(rng: np.random.Generator, people: People, share: float) -> None:
    """Make some people the twin of the person before them in the same household."""
    n = len(people.sex)
    candidates = np.flatnonzero(people.household[1:] == people.household[:-1]) + 1
    chosen = rng.choice(candidates, min(len(candidates), int(n * share)), replace=False)
    chosen = chosen[people.twin_of[chosen - 1] < 0]
    first = chosen - 1
    people.family_name[chosen] = people.family_name[first]
    people.date_of_birth[chosen] = people.date_of_birth[first]
    people.moved[chosen] = people.moved[first]
    people.sex[chosen] = np.where(rng.random(len(chosen)) < 0.5, "female", "male")
    redraw = draw_given_names(rng, people.sex[chosen])
    same = redraw == people.given_name[first]
    redraw[same] = draw_given_names(rng, people.sex[chosen][same])  # rarely the same twice
    people.given_name[chosen] = redraw
    for part in ("line1", "town", "postcode"):
        getattr(people.previous, part)[chosen] = getattr(people.previous, part)[first]
    people.twin_of[chosen] = first


def _plant_namesakes(rng: np.random.Generator, people: People, share: float) -> None:
    """Give some people the full name of an unrelated person of the same sex."""
    n = len(people.sex)
    chosen = rng.choice(n, int(n * share), replace=False)
    other = rng.integers(0, n, len(chosen))
    keep = (people.sex[other] == people.sex[chosen]) & (
        people.household[other] != people.household[chosen]
    )
    chosen, other = chosen[keep], other[keep]
    people.given_name[chosen] = people.given_name[other]
    people.family_name[chosen] = people.family_name[other]
    people.namesake_of[chosen] = other


# --- records as agencies hold them ----------------------------------------------------------------

#: Per-record chance of each recording error (``kind``: chance).
ERROR_RATES: dict[str, float] = {
    "given-typo": 0.05,
    "family-typo": 0.05,
    "nickname": 0.15,  # of records whose name has a nickname or variant
    "names-swapped": 0.02,
    "given-missing": 0.015,
    "family-missing": 0.01,
    "dob-transposed": 0.03,
    "dob-mistyped": 0.025,
    "dob-missing": 0.03,
    "sex-missing": 0.05,
    "old-address": 0.5,  # of records of people who moved
    "address-abbreviated": 0.12,
    "address-without-town": 0.08,
    "address-missing": 0.05,
    "postcode-typo": 0.02,
    "postcode-missing": 0.06,
    "family-upper-case": 0.5,  # of police records, which write family names in capitals
}
ERROR_KINDS = (*ERROR_RATES, "twin", "namesake")


def synthetic_persons(
    people: int,
    seed: int = 7,
    records_per_person: float = 2.0,
    *,
    with_errors: bool = False,
    today: date = REFERENCE_DATE,
) -> pa.Table:
    """A flat person table for linkage with the true person (``cluster``) of each record.

    Columns ``record_id, source, given_name, family_name, date_of_birth, sex, address,
    postcode, nhs_number, cluster`` (strings; missing values null), in a shuffled order; with
    ``with_errors`` also ``errors``, the recording errors applied (``;``-separated kinds, plus
    ``twin`` / ``namesake`` for people planted as hard negatives).
    """
    if people < 1:
        raise InvalidInput({"people": f"at least 1 expected, not {people}"})
    if not 1.0 <= records_per_person <= MAX_RECORDS_PER_PERSON:
        expected = f"between 1 and {MAX_RECORDS_PER_PERSON} expected, not {records_per_person}"
        raise InvalidInput({"records_per_person": expected})
    rng = np.random.default_rng(seed)
    population = draw_people(rng, people, today)
    extra = np.minimum(rng.poisson(records_per_person - 1.0, people), MAX_RECORDS_PER_PERSON - 1)
    person = np.repeat(np.arange(people), 1 + extra)
    person = person[rng.permutation(len(person))]
    columns, errors = person_records(rng, population, person, today)
    n = len(person)
    columns = {
        "record_id": np.array([f"r{i:08d}" for i in range(n)], dtype=object),
        **columns,
        "cluster": np.array([f"p{p:08d}" for p in person], dtype=object),
    }
    if with_errors:
        errors["twin"] = population.twin_of[person] >= 0
        errors["namesake"] = population.namesake_of[person] >= 0
        columns["errors"] = _error_labels(errors, n)
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})


def person_records(
    rng: np.random.Generator, people: People, person: np.ndarray, today: date = REFERENCE_DATE
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The record columns of each person index in ``person``, with recording errors applied;
    also which records each kind of error touched."""
    n = len(person)
    source = _draw_sources(rng, people.date_of_birth[person], today)
    given = people.given_name[person].copy()
    family = people.family_name[person].copy()
    errors: dict[str, np.ndarray] = {}
    _name_errors(rng, given, family, source, errors)
    dob, dob_missing = _date_errors(rng, people.date_of_birth[person], errors)
    address, postcode = _address_errors(rng, people, person, errors)
    sex = people.sex[person].copy()
    errors["sex-missing"] = _chance(rng, n, "sex-missing")
    sex[errors["sex-missing"]] = None
    nhs = people.nhs_number[person].copy()
    nhs[rng.random(n) >= NHS_HELD[source]] = None
    dob_text = dob.astype(str).astype(object)
    dob_text[dob_missing] = None
    columns = {
        "source": np.array(SOURCES, dtype=object)[source],
        "given_name": given,
        "family_name": family,
        "date_of_birth": dob_text,
        "sex": sex,
        "address": address,
        "postcode": postcode,
        "nhs_number": nhs,
    }
    return columns, errors


def _draw_sources(rng: np.random.Generator, dob: np.ndarray, today: date) -> np.ndarray:
    """The agency holding each record (an index into SOURCES), by the person's age band."""
    age = (np.datetime64(today, "D") - dob).astype(int) / 365.25
    band = np.searchsorted(AGE_BANDS, age, side="right")
    source = np.zeros(len(dob), dtype=np.int64)
    for i, shares in enumerate(SOURCE_SHARES_BY_AGE):
        mask = band == i
        source[mask] = rng.choice(len(SOURCES), int(mask.sum()), p=shares)
    return source


def _chance(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    return np.asarray(rng.random(n) < ERROR_RATES[kind])


def _apply(values: np.ndarray, mask: np.ndarray, changed: list[str]) -> None:
    if mask.any():
        values[mask] = np.array(changed, dtype=object)


def _name_errors(
    rng: np.random.Generator,
    given: np.ndarray,
    family: np.ndarray,
    source: np.ndarray,
    errors: dict[str, np.ndarray],
) -> None:
    """Nicknames, typing errors, swaps, capitals and gaps in the names, in place."""
    n = len(given)
    known = np.array([has_nickname(g) for g in given], dtype=bool)
    errors["nickname"] = known & _chance(rng, n, "nickname")
    _apply(given, errors["nickname"], corrupt_nickname(rng, given[errors["nickname"]]))
    for kind, values in (("given-typo", given), ("family-typo", family)):
        errors[kind] = _chance(rng, n, kind)
        _apply(values, errors[kind], corrupt_typo(rng, values[errors[kind]]))
    swap = _chance(rng, n, "names-swapped")
    given[swap], family[swap] = family[swap], given[swap].copy()
    errors["names-swapped"] = swap
    police = source == SOURCES.index("police")
    upper = police & _chance(rng, n, "family-upper-case")
    _apply(family, upper, [f.upper() for f in family[upper]])
    errors["family-upper-case"] = upper
    for kind, values in (("given-missing", given), ("family-missing", family)):
        errors[kind] = _chance(rng, n, kind)
        values[errors[kind]] = None


def _date_errors(
    rng: np.random.Generator, dob: np.ndarray, errors: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Dates of birth with day and month swapped or mistyped; and which are missing."""
    n = len(dob)
    dob = dob.copy()
    swap = _chance(rng, n, "dob-transposed")
    swapped, changed = transpose_day_month(dob[swap])
    dob[swap] = swapped
    errors["dob-transposed"] = np.zeros(n, dtype=bool)
    errors["dob-transposed"][np.flatnonzero(swap)[changed]] = True
    slip = _chance(rng, n, "dob-mistyped") & ~errors["dob-transposed"]
    dob[slip] = mistype_dates(rng, dob[slip])
    errors["dob-mistyped"] = slip
    errors["dob-missing"] = _chance(rng, n, "dob-missing")
    return dob, errors["dob-missing"]


def _address_errors(
    rng: np.random.Generator, people: People, person: np.ndarray, errors: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Addresses and postcodes as recorded: old ones after moves, shortened, mistyped, gaps."""
    n = len(person)
    old = people.moved[person] & _chance(rng, n, "old-address")
    line1 = np.where(old, people.previous.line1[person], people.home.line1[person])
    town = np.where(old, people.previous.town[person], people.home.town[person])
    postcode = np.where(old, people.previous.postcode[person], people.home.postcode[person])
    errors["old-address"] = old
    short = _chance(rng, n, "address-abbreviated")
    _apply(line1, short, abbreviate_address(line1[short]))
    errors["address-abbreviated"] = short
    no_town = _chance(rng, n, "address-without-town")
    address = np.where(no_town, line1, line1 + ", " + town).astype(object)
    errors["address-without-town"] = no_town
    typo = _chance(rng, n, "postcode-typo")
    _apply(postcode, typo, corrupt_postcode(rng, postcode[typo]))
    errors["postcode-typo"] = typo
    for kind, values in (("address-missing", address), ("postcode-missing", postcode)):
        errors[kind] = _chance(rng, n, kind)
        values[errors[kind]] = None
    return address, postcode.astype(object)


def _error_labels(errors: dict[str, np.ndarray], n: int) -> np.ndarray:
    """``;``-joined error kinds per record (empty string for a clean record)."""
    labels = np.full(n, "", dtype=object)
    for kind in ERROR_KINDS:
        mask = errors.get(kind)
        if mask is not None and mask.any():
            labels[mask] = labels[mask] + kind + ";"
    return np.array([label.rstrip(";") for label in labels], dtype=object)
