"""Build the assistant's parts from settings: NLU, knowledge, content, engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.rasa_nlu import RasaParser
from bot.storage.common import Sessions
from bot.storage.db import create_engine, migrate, sessionmaker
from bot.storage.lead_sink import SqlLeadSink
from bot.storage.locks import SharedLocks, migrate_alone, shared_locks
from bot.storage.state_store import SqlStateStore
from dialogues.content import Content, load_content
from dialogues.engine import Engine
from knowledge.base import KnowledgeBase
from knowledge.loader import load_knowledge
from knowledge.rules import LeadRules, load_rules
from nlu import training_data
from nlu.entities import Term
from nlu.pipeline import NluPipeline, TrainReport

logger = logging.getLogger(__name__)

HELDOUT_DIR = Path(__file__).resolve().parent.parent / "nlu" / "heldout"


def knowledge_terms(settings: Settings, kb: KnowledgeBase) -> list[Term]:
    """Districts, streets and policy names of the knowledge base, for the gazetteer.

    Only with the project's own data: another dataset has other entities.
    """
    if not settings.uses_project_data:
        return []
    return [Term(*t) for t in kb.district_terms() + kb.policy_terms()]


@dataclass(slots=True)
class Brain:
    """Everything that does not touch the network or the database."""

    nlu: NluPipeline
    kb: KnowledgeBase
    rules: LeadRules
    content: Content
    report: TrainReport


def load_brain(settings: Settings) -> Brain:
    """Load knowledge and content, then train or load the NLU for the configured data."""
    kb = load_knowledge()
    rules = load_rules()
    data = training_data.load(settings.nlu_data, exclude=[HELDOUT_DIR])
    nlu, report = NluPipeline.build(data, knowledge_terms(settings, kb), settings.cache_dir)
    content = load_content(nlu_intents=nlu.intents if settings.uses_project_data else None)
    return Brain(nlu, kb, rules, content, report)


@dataclass(slots=True)
class Assistant:
    """The brain wired to storage: what every channel talks to."""

    brain: Brain
    db: AsyncEngine
    sessions: Sessions
    engine: Engine
    rasa: RasaParser | None = None
    locks: SharedLocks | None = None

    async def close(self) -> None:
        """Release the database connections (and the Rasa session and lock connections)."""
        if self.rasa is not None:
            await self.rasa.close()
        if self.locks is not None:
            await self.locks.close()
        await self.db.dispose()


async def open_assistant(settings: Settings, brain: Brain | None = None) -> Assistant:
    """Load everything, migrate the database and build the engine."""
    brain = brain or load_brain(settings)
    if settings.database_url.startswith("sqlite"):
        path = settings.database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = create_engine(settings.database_url)
    await migrate_alone(db, migrate)
    sessions = sessionmaker(db)
    rasa = RasaParser(settings.rasa_url, brain.nlu) if settings.rasa_url else None
    # PostgreSQL may be shared by several processes (``serve --workers``, or another host):
    # each turn then takes a lock all of them see and reads the state from the database.
    locks = shared_locks(settings)
    engine = Engine(
        brain.nlu,
        brain.kb,
        brain.rules,
        brain.content,
        SqlStateStore(db),
        SqlLeadSink(sessions),
        remote=rasa,
        locks=locks,
    )
    return Assistant(brain, db, sessions, engine, rasa, locks)
