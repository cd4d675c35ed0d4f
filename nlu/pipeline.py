"""The NLU's one public entry point: ``NluPipeline.parse(text) -> ParseResult``."""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nlu.entities import EntityExtractor, Term, terms_from_training_data
from nlu.intents import IntentClassifier, char_ngrams, word_features
from nlu.normalize import normalize
from nlu.schema import IntentScore, ParseResult
from nlu.tokenizer import USERDICT, Tokenizer
from nlu.training_data import TrainingData

logger = logging.getLogger(__name__)

# Bump when feature extraction changes, so cached models are retrained.
MODEL_VERSION = "3"
FALLBACK_INTENT = "out_of_scope"
DEFAULT_THRESHOLD = 0.3
# Classifying more than this many characters adds time and no accuracy.
CLASSIFY_CHARS = 600


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
        classifier: IntentClassifier,
        threshold: float = DEFAULT_THRESHOLD,
    ):
        """Assemble a pipeline from fitted parts."""
        self.tokenizer = tokenizer
        self.extractor = extractor
        self.classifier = classifier
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
        if best.confidence < self.threshold:
            return ParseResult(
                text, IntentScore(FALLBACK_INTENT, best.confidence), entities, ranking, True
            )
        return ParseResult(text, best, entities, ranking)

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
        classifier = _load_cached(cache_file)
        trained = classifier is None
        if classifier is None:
            classifier = _fit(data, tokenizer, extractor)
            _store(cache_file, classifier)
        pipeline = cls(tokenizer, extractor, classifier, threshold)
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


def _fit(data: TrainingData, tokenizer: Tokenizer, extractor: EntityExtractor) -> IntentClassifier:
    char_docs: list[list[str]] = []
    word_docs: list[list[str]] = []
    for example in data.examples:
        norm = normalize(example.text)
        types = [e.entity for e in extractor.extract(example.text, norm)]
        chars, words = _documents(tokenizer, norm, types)
        char_docs.append(chars)
        word_docs.append(words)
    return IntentClassifier.fit(char_docs, word_docs, [e.intent for e in data.examples])


def _cache_key(data: TrainingData, extra: list[Term]) -> str:
    digest = hashlib.sha256(f"{MODEL_VERSION}:{data.fingerprint}".encode())
    for term in extra:
        digest.update(f"{term.surface}\t{term.entity}\t{term.value}\n".encode())
    if USERDICT.exists():
        digest.update(USERDICT.read_bytes())
    return digest.hexdigest()[:16]


def _load_cached(cache_file: Path | None) -> IntentClassifier | None:
    if cache_file is None or not cache_file.exists():
        return None
    try:
        with cache_file.open("rb") as handle:
            model = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        logger.warning("Ignoring unreadable model cache %s", cache_file)
        return None
    return model if isinstance(model, IntentClassifier) else None


def _store(cache_file: Path | None, classifier: IntentClassifier) -> None:
    if cache_file is None:
        return
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_file.with_suffix(".tmp")
        with partial.open("wb") as handle:
            pickle.dump(classifier, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(cache_file)
    except OSError:
        logger.warning("Could not write the model cache %s", cache_file)
