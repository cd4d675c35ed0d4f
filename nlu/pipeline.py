"""The NLU's one public entry point: ``NluPipeline.parse(text) -> ParseResult``."""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nlu.entities import EntityExtractor, Term, terms_from_training_data
from nlu.intents import IntentClassifier, char_ngrams, word_features
from nlu.normalize import normalize
from nlu.schema import Entity, IntentScore, ParseResult
from nlu.tokenizer import USERDICT, Tokenizer
from nlu.training_data import TrainingData

logger = logging.getLogger(__name__)

# Bump when feature extraction changes, so cached models are retrained.
MODEL_VERSION = "6"
FALLBACK_INTENT = "out_of_scope"
DEFAULT_THRESHOLD = 0.3
# Classifying more than this many characters adds time and no accuracy.
CLASSIFY_CHARS = 600


# Entities that name what a whole question is about rather than a word in it. When the
# gazetteer finds none, a classifier trained on the annotated examples reads the message.
MESSAGE_ENTITIES = ("aspect",)
MESSAGE_ENTITY_THRESHOLD = 0.35
NONE_LABEL = "__none__"


@dataclass(slots=True)
class Models:
    """Everything training produces; pickled as one file."""

    intent: IntentClassifier
    message_entities: dict[str, IntentClassifier]


@dataclass(slots=True)
class TrainReport:
    """How a pipeline came to be: trained now or loaded from the cache."""

    trained: bool
    seconds: float
    examples: int
    fingerprint: str
    cache_file: Path | None


class NluPipeline:
    """Normalise → extract entities → segment → classify intent."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        extractor: EntityExtractor,
        models: Models,
        threshold: float = DEFAULT_THRESHOLD,
    ):
        """Assemble a pipeline from fitted parts."""
        self.tokenizer = tokenizer
        self.extractor = extractor
        self.classifier = models.intent
        self.message_entities = models.message_entities
        self.threshold = threshold

    @property
    def intents(self) -> list[str]:
        """The intents the classifier knows."""
        return list(self.classifier.classes)

    def parse(self, text: str) -> ParseResult:
        """Understand one message. Never raises for any string."""
        norm = normalize(text)
        entities = tuple(self.extractor.extract(text, norm))
        if not any(ch.isalnum() for ch in norm):
            # Only emoji, punctuation or nothing at all: nothing to classify.
            none = IntentScore(FALLBACK_INTENT, 0.0)
            return ParseResult(text, none, entities, (none,), fallback=True)
        chars, words = _documents(self.tokenizer, norm, (e.entity for e in entities))
        ranking = tuple(self.classifier.predict(chars, words))
        best = ranking[0]
        entities = self._message_entities(norm, entities, best.name, chars, words)
        if best.confidence < self.threshold:
            # As Rasa's FallbackClassifier does: the fallback intent heads the ranking.
            fallback = IntentScore(FALLBACK_INTENT, best.confidence)
            rest = tuple(s for s in ranking if s.name != FALLBACK_INTENT)
            return ParseResult(text, fallback, entities, (fallback, *rest), True)
        return ParseResult(text, best, entities, ranking)

    def _message_entities(
        self,
        norm: str,
        entities: tuple[Entity, ...],
        intent: str,
        chars: list[str],
        words: list[str],
    ) -> tuple[Entity, ...]:
        found = {e.entity for e in entities}
        asks = intent == "ask_policy" or "policy" in found
        added: list[Entity] = []
        for name, classifier in self.message_entities.items():
            if name in found or not asks:
                continue
            top = classifier.predict(chars, words)[0]
            if top.name != NONE_LABEL and top.confidence >= MESSAGE_ENTITY_THRESHOLD:
                start = max((e.end for e in entities if e.entity == "policy"), default=0)
                if start >= len(norm.rstrip()):
                    start = 0
                end = len(norm.rstrip())
                added.append(Entity(name, top.name, start, end, "classifier"))
        if not added:
            return entities
        return tuple(sorted((*entities, *added), key=lambda e: (e.start, e.end)))

    def guess(self, name: str, text: str) -> str | None:
        """A message-level entity (e.g. ``aspect``) for a short follow-up, if confident.

        ``parse`` only looks for these in policy questions; the conversation engine knows
        when a bare "申请条件" follows a policy answer and asks here.
        """
        classifier = self.message_entities.get(name)
        if classifier is None:
            return None
        norm = normalize(text)
        entities = self.extractor.extract(text, norm)
        chars, words = _documents(self.tokenizer, norm, (e.entity for e in entities))
        ranking = [s for s in classifier.predict(chars, words) if s.name != NONE_LABEL]
        # In context the question is known to be about the policy: compare the aspects with
        # each other, not with "no aspect at all".
        total = sum(s.confidence for s in ranking) or 1.0
        best = ranking[0] if ranking else None
        if best is None or best.confidence < 0.05 or best.confidence / total < 0.6:
            return None
        return best.name

    @classmethod
    def build(
        cls,
        data: TrainingData,
        extra_terms: Iterable[Term] = (),
        cache_dir: Path | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> tuple[NluPipeline, TrainReport]:
        """Train on ``data`` or load the model cached for exactly this data."""
        started = time.perf_counter()
        extra = list(extra_terms)
        terms = terms_from_training_data(data) + extra
        extractor = EntityExtractor(terms, data.regexes)
        tokenizer = Tokenizer(USERDICT, (t.surface for t in extractor.terms))
        key = _cache_key(data, extra)
        cache_file = cache_dir / f"intent-{key}.pkl" if cache_dir else None
        models = _load_cached(cache_file)
        trained = models is None
        if models is None:
            models = _fit(data, tokenizer, extractor)
            _store(cache_file, models)
        pipeline = cls(tokenizer, extractor, models, threshold)
        report = TrainReport(
            trained, time.perf_counter() - started, len(data.examples), key, cache_file
        )
        logger.info(
            "NLU %s in %.2fs (%d examples, key %s)",
            "trained" if trained else "loaded",
            report.seconds,
            report.examples,
            key,
        )
        return pipeline, report


def _documents(
    tokenizer: Tokenizer, norm: str, entity_types: Iterable[str]
) -> tuple[list[str], list[str]]:
    head = norm[:CLASSIFY_CHARS]
    words = tokenizer.words(head)
    return char_ngrams(head), word_features(words, sorted(set(entity_types)))


def _fit(data: TrainingData, tokenizer: Tokenizer, extractor: EntityExtractor) -> Models:
    char_docs: list[list[str]] = []
    word_docs: list[list[str]] = []
    for example in data.examples:
        norm = normalize(example.text)
        types = [e.entity for e in extractor.extract(example.text, norm)]
        chars, words = _documents(tokenizer, norm, types)
        char_docs.append(chars)
        word_docs.append(words)
    intent = IntentClassifier.fit(char_docs, word_docs, [e.intent for e in data.examples])
    message_entities: dict[str, IntentClassifier] = {}
    for name in MESSAGE_ENTITIES:
        labels = [
            next((a.value for a in e.entities if a.entity == name), NONE_LABEL)
            for e in data.examples
        ]
        counts = Counter(label for label in labels if label != NONE_LABEL)
        if len([c for c in counts.values() if c >= 5]) >= 2:
            message_entities[name] = IntentClassifier.fit(char_docs, word_docs, labels)
    return Models(intent, message_entities)


def _cache_key(data: TrainingData, extra: list[Term]) -> str:
    digest = hashlib.sha256(f"{MODEL_VERSION}:{data.fingerprint}".encode())
    for term in extra:
        digest.update(f"{term.surface}\t{term.entity}\t{term.value}\n".encode())
    if USERDICT.exists():
        digest.update(USERDICT.read_bytes())
    return digest.hexdigest()[:16]


def _load_cached(cache_file: Path | None) -> Models | None:
    if cache_file is None or not cache_file.exists():
        return None
    try:
        with cache_file.open("rb") as handle:
            model = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        logger.warning("Ignoring unreadable model cache %s", cache_file)
        return None
    return model if isinstance(model, Models) else None


def _store(cache_file: Path | None, models: Models) -> None:
    if cache_file is None:
        return
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(".tmp")
        with partial.open("wb") as handle:
            pickle.dump(models, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(cache_file)
    except OSError:
        logger.warning("Could not write the model cache %s", cache_file)
