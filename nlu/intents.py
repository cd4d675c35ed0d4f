"""Intent classifier: TF-IDF over characters and jieba words, multinomial logistic regression.

scikit-learn fits the model. Prediction for one message does not go through scikit-learn:
its per-call input validation costs more than the arithmetic, and the parse budget is 1 ms.
``IntentClassifier.predict`` applies the fitted vocabularies, IDF weights and coefficients
directly; ``tests/test_nlu/test_intents.py`` checks it agrees with scikit-learn's own output.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nlu.schema import IntentScore

FloatArray = npt.NDArray[np.float64]
Analyzer = Callable[[str], list[str]]

_NOT_WORD = re.compile(r"[^\w]+")
# Features seen in fewer examples than this are dropped: they are mostly noise, and the
# optimiser's time grows with the number of features.
MIN_DF = 2
SMALL_DATA = 200


def char_ngrams(text: str) -> list[str]:
    """Character 1–3-grams of each run of word characters, padded with spaces."""
    grams: list[str] = []
    for chunk in _NOT_WORD.split(text):
        if not chunk:
            continue
        padded = f" {chunk} "
        for n in (1, 2, 3):
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return [g for g in grams if g.strip()]


def word_features(words: Sequence[str], entity_types: Sequence[str]) -> list[str]:
    """Words, word bigrams and one marker per entity type present."""
    clean = [w for w in words if not _NOT_WORD.fullmatch(w)]
    features = list(clean)
    features.extend(f"{a}|{b}" for a, b in itertools.pairwise(clean))
    features.extend(f"<{t}>" for t in entity_types)
    return features


@dataclass(slots=True)
class _TfidfBlock:
    """A fitted TF-IDF vocabulary applied by hand (sublinear tf, l2 norm)."""

    vocabulary: dict[str, int]
    idf: FloatArray
    offset: int

    def add(self, features: list[str], indices: list[int], values: list[float]) -> None:
        weights: list[tuple[int, float]] = []
        for feature, count in Counter(features).items():
            index = self.vocabulary.get(feature)
            if index is not None:
                weights.append((index, (1.0 + math.log(count)) * float(self.idf[index])))
        norm = math.sqrt(sum(w * w for _, w in weights)) or 1.0
        for index, weight in weights:
            indices.append(self.offset + index)
            values.append(weight / norm)


@dataclass(slots=True)
class IntentClassifier:
    """A fitted intent model: everything prediction needs, picklable."""

    classes: list[str]
    chars: _TfidfBlock
    words: _TfidfBlock
    coef: FloatArray  # (n_features, n_classes): a row per feature for cheap gathering
    intercept: FloatArray

    @classmethod
    def fit(
        cls,
        char_docs: list[list[str]],
        word_docs: list[list[str]],
        labels: list[str],
        regularisation: float = 8.0,
        min_df: int = MIN_DF,
    ) -> IntentClassifier:
        """Fit on pre-analysed documents (character n-grams and word features)."""
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        def identity(doc: list[str]) -> list[str]:
            return doc

        if len(labels) < SMALL_DATA:
            min_df = 1  # on a handful of examples every feature counts
        char_vec = TfidfVectorizer(analyzer=identity, sublinear_tf=True, min_df=min_df)
        word_vec = TfidfVectorizer(analyzer=identity, sublinear_tf=True, min_df=min_df)
        matrix = hstack([char_vec.fit_transform(char_docs), word_vec.fit_transform(word_docs)])
        model = LogisticRegression(C=regularisation, max_iter=3000, class_weight="balanced")
        model.fit(matrix.tocsr(), labels)
        classes = [str(c) for c in model.classes_]
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if len(classes) == 2:  # binary LR stores one row: expand to two for softmax
            coef = np.vstack([-coef[0], coef[0]]) / 2
            intercept = np.array([-intercept[0], intercept[0]]) / 2
        n_chars = len(char_vec.vocabulary_)
        return cls(
            classes=classes,
            chars=_TfidfBlock(_vocab(char_vec.vocabulary_), _idf(char_vec.idf_), 0),
            words=_TfidfBlock(_vocab(word_vec.vocabulary_), _idf(word_vec.idf_), n_chars),
            coef=np.ascontiguousarray(coef.T),
            intercept=intercept,
        )

    def scores(self, char_doc: list[str], word_doc: list[str]) -> FloatArray:
        """Class probabilities for one document, in ``self.classes`` order."""
        indices: list[int] = []
        values: list[float] = []
        self.chars.add(char_doc, indices, values)
        self.words.add(word_doc, indices, values)
        logits = self.intercept.copy()
        if indices:
            logits += np.asarray(values) @ self.coef[indices]
        logits -= logits.max()
        exp = np.exp(logits)
        result: FloatArray = exp / exp.sum()
        return result

    def predict(self, char_doc: list[str], word_doc: list[str]) -> list[IntentScore]:
        """The ranking of intents for one document, best first."""
        probabilities = self.scores(char_doc, word_doc)
        order = np.argsort(-probabilities)
        return [IntentScore(self.classes[i], float(probabilities[i])) for i in order]


def _vocab(vocabulary: dict[str, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in vocabulary.items()}


def _idf(idf: FloatArray) -> FloatArray:
    return np.asarray(idf, dtype=np.float64)
