"""Writing the lead: the rules' conclusions, the resident's words, summaries to read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from dialogues.content import Content, fill
from dialogues.schema import ConversationState, IntakeState, LeadDraft
from dialogues.turn import place_name
from knowledge.base import KnowledgeBase
from knowledge.rules import Facts, LeadRules
from nlu.normalize import normalize
from nlu.privacy import CHINA, mask_phone

SEEN_NEEDS = "seen_needs"  # needs mentioned before the needs question; not a flow slot


class LeadDrafter:
    """Turns a self-report into a ``LeadDraft`` and describes it in words."""

    def __init__(
        self,
        content: Content,
        kb: KnowledgeBase,
        rules: LeadRules,
        clock: Callable[[], float],
    ):
        """Keep what drafting reads: texts, policies, rules and the clock."""
        self.content = content
        self.kb = kb
        self.rules = rules
        self.clock = clock

    def build_draft(
        self,
        state: ConversationState,
        intake: IntakeState,
        consent: dict[str, Any],
        crisis: bool = False,
    ) -> LeadDraft:
        """The lead for this report, with the rules' conclusions and their reasons."""
        slots = intake.slots
        household = slots.get("household") or {}
        members = household.get("members") or []
        needs = list(slots.get("needs") or slots.get(SEEN_NEEDS) or [])
        if not needs and intake.texts:
            text = normalize(" ".join(intake.texts))
            detail = intake.texts[-1][:80]
            needs = [{"category": c, "detail": detail} for c in self.rules.needs_in(text)]
        urgency = "crisis" if crisis else slots.get("urgency")
        all_text = normalize(" ".join(intake.texts))
        facts = Facts(
            needs=frozenset(n["category"] for n in needs),
            conditions=frozenset(c for m in members for c in m.get("conditions", [])),
            receiving=frozenset(slots.get("assistance") or []),
            urgency=urgency,
            ages=tuple(m["age"] for m in members if m.get("age") is not None),
            household_size=household.get("size"),
            urgent_words=self.rules.is_urgent(all_text),
        )
        assessment = self.rules.assess(facts)
        place = slots.get("place") or {}
        draft = LeadDraft(
            idempotency_key=f"intake:{intake.id}",
            channel=state.channel,
            conversation_id=state.key,
            priority=assessment.priority,
            due_hours=self.rules.due_hours(assessment.priority),
            # The contract's shape; outside the regions we serve, the most specific level
            # named stands for the district, and the whole place is in the summary.
            region={
                "district": place.get("region_district")
                or place.get("district")
                or place.get("city")
                or state.district,
                "street": place.get("street") or state.street,
            },
            # A report's phone is the one the resident left in it (and did not take back);
            # a crisis lead also uses any number given since the crisis.
            contact={
                "name": slots.get("name"),
                "phone": slots.get("phone") or (state.phone if crisis else None),
            },
            household={"size": household.get("size"), "members": members},
            income_monthly=slots.get("income"),
            current_assistance=[a for a in slots.get("assistance") or [] if a != "other"],
            needs=needs,
            tier_3a=[t for t, _ in assessment.tiers],
            target_class=assessment.target_class,
            candidate_policies=[c.policy for c in assessment.candidates],
            consent={**consent, "recorded_at": _now_iso(self.clock())},
            summary="",
            reasons={
                "candidates": {c.policy: c.reason for c in assessment.candidates},
                "candidate_sources": {
                    c.policy: f"{c.source} {c.section}" for c in assessment.candidates
                },
                "disclaimer": self.rules.disclaimer,
                "tier_3a": dict(assessment.tiers),
                "target_class": assessment.target_reason,
                "priority": assessment.priority_reason,
                "unknown": list(intake.unknown),
                "place": place_name(place),
            },
            life_protection=crisis,
        )
        draft.summary = self.lead_summary(draft)
        return draft

    def summary_lines(self, state: ConversationState) -> list[str]:
        """What was recorded, in plain words, for the resident to confirm."""
        intake = state.intake
        assert intake is not None
        labels = self.content.labels["summary"]
        lines = []
        for slot in self.content.flow.slots:
            value = self._describe(slot.name, intake)
            lines.append(fill(labels[slot.name], {"value": value}))
        if intake.slots.get("name"):
            lines.append(fill(labels["name"], {"value": intake.slots["name"]}))
        return lines

    def _describe(self, name: str, intake: IntakeState) -> str:
        content = self.content
        labels = content.labels
        if name in intake.unknown or name not in intake.slots:
            return str(labels["unknown"])
        value = intake.slots[name]
        if name == "place":
            return place_name(value) or str(labels["unknown"])
        if name == "household":
            return describe_household(content.labels, value, content.label)
        if name == "income":
            return (
                fill(labels["yuan"], {"n": value}) if value is not None else str(labels["unknown"])
            )
        if name == "assistance":
            names = [self._policy_name(p) for p in value]
            return "、".join(names) if names else str(labels["none"])
        if name == "needs":
            return ";".join(
                f"{content.label('need', n['category'])}({n['detail']})" for n in value
            )
        if name == "urgency":
            return content.label("urgency", value)
        if name == "phone":
            return mask_phone(str(value))
        return str(value)

    def _policy_name(self, policy_id: str) -> str:
        policy = self.kb.policy(policy_id)
        return policy.name if policy else str(self.content.labels["other_assistance"])

    def lead_summary(self, draft: LeadDraft) -> str:
        """A paragraph a caseworker reads in 20 seconds."""
        content = self.content
        labels = content.labels
        place = draft.reasons.get("place") or place_name(draft.region) or str(labels["unknown"])
        household = describe_household(labels, draft.household, content.label)
        income = (
            fill(
                labels["income_known"],
                {"amount": fill(labels["yuan"], {"n": draft.income_monthly})},
            )
            if draft.income_monthly is not None
            else str(labels["income_unknown"])
        )
        assistance = (
            fill(
                labels["assistance_known"],
                {"names": "、".join(self._policy_name(p) for p in draft.current_assistance)},
            )
            if draft.current_assistance
            else str(labels["assistance_none"])
        )
        needs = ";".join(
            f"{content.label('need', n['category'])}:{n['detail']}" for n in draft.needs
        ) or str(labels["unknown"])
        urgency = content.label("priority", draft.priority)
        return fill(
            labels["lead_summary"],
            {
                "place": place + ",",
                "household": household + ",",
                "income": income,
                "assistance": assistance,
                "needs": needs,
                "urgency": urgency,
                "target_class": content.label("target_class", draft.target_class),
                "target_reason": draft.reasons.get("target_class", ""),
            },
        )


def describe_household(labels: dict[str, Any], household: dict[str, Any], label: Any) -> str:
    """家庭 in words: 2口人(本人72岁、配偶70岁 残疾)."""
    size = household.get("size")
    head = fill(labels["people"], {"n": size}) if size else str(labels["unknown"])
    parts = []
    for member in household.get("members") or []:
        text = label("relation", member.get("relation"))
        if member.get("age") is not None:
            text += fill(labels["age"], {"n": member["age"]})
        if member.get("conditions"):
            text += " " + "、".join(label("condition", c) for c in member["conditions"])
        parts.append(text)
    return head + (f"({','.join(parts)})" if parts else "")


def _now_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, CHINA).isoformat(timespec="seconds")
