"""What can be reported, where it goes in the Home Office counting rules, and its states."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Category:
    slug: str
    label: str
    hint: str
    is_crime: bool
    counting_group: str  # Home Office Counting Rules top-level group, or the NSIR class


# The 14 data.police.uk categories (anti-social behaviour among them) and the non-crime
# reports police.uk's Single Online Home takes. Counting-rule groups from the Home Office
# Counting Rules for Recorded Crime; ASB and the non-crime reports are incidents under the
# National Standard for Incident Recording (NSIR).
CATEGORIES: tuple[Category, ...] = (
    Category(
        "anti-social-behaviour",
        "Anti-social behaviour",
        "Noise, nuisance, intimidation or harassment that is not a crime",
        False,
        "NSIR: anti-social behaviour",
    ),
    Category("bicycle-theft", "Bicycle theft", "A bike was stolen", True, "Theft offences"),
    Category(
        "burglary",
        "Burglary",
        "Someone got into a home, shed, garage or business to steal or damage",
        True,
        "Burglary",
    ),
    Category(
        "criminal-damage-arson",
        "Criminal damage or arson",
        "Property was damaged on purpose or set on fire",
        True,
        "Arson and criminal damage",
    ),
    Category("drugs", "Drugs", "Dealing, growing or using illegal drugs", True, "Drug offences"),
    Category(
        "other-theft",
        "Other theft",
        "Something was stolen that no other option covers",
        True,
        "Theft offences",
    ),
    Category(
        "possession-of-weapons",
        "Possession of weapons",
        "Someone carrying a knife, firearm or other weapon",
        True,
        "Possession of weapons offences",
    ),
    Category(
        "public-order",
        "Public order",
        "Fighting, threatening behaviour or causing fear in public",
        True,
        "Public order offences",
    ),
    Category(
        "robbery",
        "Robbery",
        "Something was taken using force or the threat of force",
        True,
        "Robbery",
    ),
    Category("shoplifting", "Shoplifting", "Goods were stolen from a shop", True, "Theft offences"),
    Category(
        "theft-from-the-person",
        "Theft from the person",
        "Something was taken from you without force, such as pickpocketing",
        True,
        "Theft offences",
    ),
    Category(
        "vehicle-crime",
        "Vehicle crime",
        "A vehicle was broken into, stolen or tampered with",
        True,
        "Vehicle offences",
    ),
    Category(
        "violent-crime",
        "Violence and sexual offences",
        "Someone was assaulted, threatened or sexually assaulted",
        True,
        "Violence against the person / Sexual offences",
    ),
    Category(
        "other-crime",
        "Other crime",
        "A crime that no other option covers",
        True,
        "Miscellaneous crimes against society",
    ),
    Category(
        "road-traffic-collision",
        "Road traffic collision",
        "A collision on the road (if anyone is hurt or the road is blocked, call 999)",
        False,
        "NSIR: transport",
    ),
    Category(
        "lost-found-property",
        "Lost or found property",
        "You lost something or found something someone else lost",
        False,
        "NSIR: public safety and welfare",
    ),
    Category(
        "lost-stolen-vehicle",
        "Lost or stolen vehicle",
        "Your vehicle is missing and you do not know whether it was stolen",
        False,
        "NSIR: public safety and welfare",
    ),
)
CATEGORY_BY_SLUG = {c.slug: c for c in CATEGORIES}


class ReportStatus(StrEnum):
    received = "received"
    under_review = "under_review"
    assigned = "assigned"
    crime_recorded = "crime_recorded"
    referred = "referred"
    duplicate = "duplicate"
    closed = "closed"

    @property
    def public_wording(self) -> str:
        """What the person who reported it is told, in plain words."""
        return {
            "received": "We have received your report.",
            "under_review": "An officer is looking at your report.",
            "assigned": "Your report has been given to an officer or team to deal with.",
            "crime_recorded": "We have recorded a crime and given it a crime reference.",
            "referred": "We have passed your report to a partner organisation better placed "
            "to help.",
            "duplicate": "Someone has already told us about this; we have joined your report "
            "to theirs.",
            "closed": "We have finished dealing with your report.",
        }[self.value]

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Response(StrEnum):
    immediate = "immediate"
    priority = "priority"
    scheduled = "scheduled"
    resolved_without_deployment = "resolved_without_deployment"
    refer_to_partner = "refer_to_partner"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Rating(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


THRIVE = ("threat", "harm", "risk", "investigation", "vulnerability", "engagement")


class MessageDirection(StrEnum):
    to_reporter = "to_reporter"
    from_reporter = "from_reporter"
