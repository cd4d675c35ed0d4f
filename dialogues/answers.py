"""Policy answers: from the knowledge base, with their sources, in the conversation's context."""

from __future__ import annotations

import json
from datetime import datetime

from dialogues.commands import Command
from dialogues.content import fill
from dialogues.schema import Button, ConversationState, Reply
from dialogues.services import Services
from knowledge.rules import Facts
from knowledge.schema import ASPECTS
from nlu.privacy import CHINA


def policy_payload(policy_id: str, aspect: str | None = None) -> str:
    """The payload of a button that asks about a policy (and aspect)."""
    entities = {"policy": policy_id} if aspect is None else {"policy": policy_id, "aspect": aspect}
    return "/ask_policy" + json.dumps(entities, ensure_ascii=False)


class AnswerFlow:
    """Answers ``answer_policy`` and ``check_status`` commands."""

    def __init__(self, services: Services):
        """Keep the services."""
        self.services = services

    def answer(self, state: ConversationState, command: Command) -> list[Reply]:
        """Answer a policy question, using the conversation's context for what is missing."""
        if command.value:
            return [self.suggest(state, list(command.value))]
        services = self.services
        if command.policy is None and command.aspect is None:
            # No policy and no aspect recognised: an honest "I don't know" with where to ask.
            return [services.say("utter_dont_know", state)]
        if command.policy is not None:
            state.policy = command.policy
        elif state.policy is None:
            # "复核多久一次" → "哪一项?" → "低保": the aspect is remembered for the answer.
            state.aspect = command.aspect
            state.pending = "which_policy"
            return [services.say("utter_ask_which_policy", state)]
        state.pending = None
        aspect_name = command.aspect if command.aspect in ASPECTS else "overview"
        state.aspect = aspect_name
        policy = services.kb.policy(state.policy or "")
        if policy is None:
            return [services.say("utter_dont_know", state)]
        region = services.region(state)
        values = {
            **services.vars(state),
            "policy_name": policy.name,
            "aspect_name": services.content.label("aspect", aspect_name),
        }
        answer = services.kb.answer(policy.id, aspect_name, region)
        if answer is None:
            reply = services.content.reply("utter_aspect_unknown", values)
        else:
            source = fill(services.content.labels["source"], {"references": answer.references()})
            values.update(answer=fill(answer.text, values), source=source)
            reply = services.content.reply("utter_answer", values)
        more = [
            Button(services.content.label("aspect", a), policy_payload(policy.id, a))
            for a in ASPECTS
            if a != aspect_name and services.kb.answer(policy.id, a, region)
        ][:4]
        return [Reply(reply.text, reply.buttons + tuple(more))]

    def which_policy(self, state: ConversationState) -> list[Reply]:
        """Ask which policy the resident means."""
        state.pending = "which_policy"
        return [self.services.say("utter_ask_which_policy", state)]

    def suggest(self, state: ConversationState, needs: list[str]) -> Reply:
        """The policies that may fit these needs, and an offer of the report."""
        services = self.services
        assessment = services.rules.assess(Facts(needs=frozenset(needs)))
        line = services.content.labels["candidate_line"]
        candidates = [c for c in assessment.candidates if c.policy in services.kb.policies]
        lines = [
            fill(line, {"name": services.kb.policies[c.policy].name, "reason": c.reason})
            for c in candidates
        ]
        buttons = tuple(
            Button(services.kb.policies[c.policy].name, policy_payload(c.policy))
            for c in candidates[:4]
        )
        reply = services.say(
            "utter_suggest_policies", state, {**services.vars(state), "lines": "\n".join(lines)}
        )
        state.pending = "offer_intake"
        return Reply(reply.text, buttons + reply.buttons)

    async def check_status(self, state: ConversationState) -> list[Reply]:
        """Tell the resident where their last lead stands."""
        services = self.services
        lead_id = state.last_lead_id or state.crisis_lead_id
        status = await services.leads.status(lead_id) if lead_id else None
        if status is None:
            return [services.say("utter_check_status_none", state)]
        values = services.vars(state)
        created = datetime.fromtimestamp(status.created_at, CHINA)
        values.update(
            lead_id=status.lead_id,
            created=fill(
                services.content.labels["date"], {"month": created.month, "day": created.day}
            ),
            status_text=fill(services.content.label("status", status.status), values),
            next_step=services.content.labels.get("next_step", {}).get(status.priority, "")
            if status.status in {"new", "claimed"}
            else "",
        )
        return [services.say("utter_check_status", state, values)]
