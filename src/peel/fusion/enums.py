"""Fixed vocabularies of fusion: legal bases, review outcomes, RAG ratings, link decisions."""

from __future__ import annotations

from enum import StrEnum


class LegalBasis(StrEnum):
    """Why an agency may share a source (the free-text basis says exactly which power)."""

    safeguarding = "safeguarding"
    law_enforcement = "law_enforcement"
    consent = "consent"
    other = "other"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class ReviewOutcome(StrEnum):
    """What a safeguarding reviewer decides about a flagged person (MASH triage outcomes)."""

    no_further_action = "no_further_action"
    refer = "refer"
    strategy_discussion = "strategy_discussion"

    @property
    def label(self) -> str:
        return {
            "no_further_action": "No further action",
            "refer": "Refer",
            "strategy_discussion": "Strategy discussion",
        }[self.value]


class Rag(StrEnum):
    red = "red"
    amber = "amber"
    green = "green"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class LinkDecisionKind(StrEnum):
    """A practitioner's correction to linkage: join records, or keep them apart."""

    merge = "merge"
    split = "split"  # type: ignore[assignment]
