"""The contract's lead JSON (§5), masked for everyone but the lead's assignee."""

from __future__ import annotations

from typing import Any

from bot.storage.common import utc
from bot.storage.models import Lead, LeadNote
from nlu.privacy import CHINA, mask_phone, redact


def lead_json(
    lead: Lead, notes: list[LeadNote] | None = None, unmask: bool = False
) -> dict[str, Any]:
    """The contract's lead JSON (§5); the phone is masked unless ``unmask``."""
    data = lead.data
    result: dict[str, Any] = {
        "id": lead.id,
        "created_at": utc(lead.created_at).astimezone(CHINA).isoformat(timespec="seconds"),
        "channel": lead.channel,
        "conversation_id": lead.conversation_id,
        "status": lead.status,
        "priority": lead.priority,
        "due_at": utc(lead.due_at).astimezone(CHINA).isoformat(timespec="seconds"),
        "assignee": lead.assignee,
        "region": data.get("region", {}),
        "contact": {
            "name": data.get("contact_name"),
            "phone": lead.phone if unmask or not lead.phone else mask_phone(lead.phone),
        },
        "household": data.get("household", {}),
        "income_monthly": data.get("income_monthly"),
        "current_assistance": data.get("current_assistance", []),
        "needs": data.get("needs", []),
        "tier_3a": data.get("tier_3a", []),
        "target_class": data.get("target_class"),
        "candidate_policies": data.get("candidate_policies", []),
        "consent": data.get("consent", {}),
        "summary": data.get("summary", ""),
        "reasons": data.get("reasons", {}),
        "life_protection": data.get("life_protection", False),
        # Other leads that gave the same phone: for caseworkers to check, never merged.
        "possible_duplicates": data.get("possible_duplicates", []),
    }
    if notes is not None:
        result["notes"] = [
            {
                "author": n.author,
                "text": n.text if unmask else redact(n.text),
                "created_at": utc(n.created_at).astimezone(CHINA).isoformat(timespec="seconds"),
            }
            for n in notes
        ]
    return result
