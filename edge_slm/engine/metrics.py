"""Intent accuracy, entity-level slot precision/recall/F1 and exact match."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable


def _norm(value: str) -> str:
    return " ".join(str(value).lower().split())


@dataclass
class Scores:
    total: int = 0
    intent_correct: int = 0
    exact: int = 0
    slot_tp: int = 0
    slot_fp: int = 0
    slot_fn: int = 0
    per_intent: dict[str, "Scores"] = field(default_factory=dict)

    def add(self, gold_intent: str, pred_intent: str | None,
            gold_slots: Iterable[tuple[str, str]], pred_slots: Iterable[tuple[str, str]],
            _nested: bool = False) -> None:
        gold = Counter((name, _norm(value)) for name, value in gold_slots)
        pred = Counter((name, _norm(value)) for name, value in pred_slots)
        tp = sum((gold & pred).values())
        self.total += 1
        self.intent_correct += int(gold_intent == pred_intent)
        self.exact += int(gold_intent == pred_intent and gold == pred)
        self.slot_tp += tp
        self.slot_fp += sum(pred.values()) - tp
        self.slot_fn += sum(gold.values()) - tp
        if not _nested:
            self.per_intent.setdefault(gold_intent, Scores()).add(
                gold_intent, pred_intent, gold.elements(), pred.elements(), _nested=True)

    @property
    def intent_accuracy(self) -> float:
        return 100.0 * self.intent_correct / self.total if self.total else 0.0

    @property
    def precision(self) -> float:
        found = self.slot_tp + self.slot_fp
        return 100.0 * self.slot_tp / found if found else 100.0

    @property
    def recall(self) -> float:
        wanted = self.slot_tp + self.slot_fn
        return 100.0 * self.slot_tp / wanted if wanted else 100.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def exact_match(self) -> float:
        return 100.0 * self.exact / self.total if self.total else 0.0

    def summary(self) -> dict[str, float | int]:
        return {
            "count": self.total,
            "intent_accuracy": round(self.intent_accuracy, 2),
            "slot_precision": round(self.precision, 2),
            "slot_recall": round(self.recall, 2),
            "slot_f1": round(self.f1, 2),
            "exact_match": round(self.exact_match, 2),
        }

    def report(self) -> dict[str, object]:
        result: dict[str, object] = dict(self.summary())
        result["per_intent"] = {name: s.summary() for name, s in sorted(self.per_intent.items())}
        return result


def agreement(a: list[str], b: list[str]) -> float:
    return 100.0 * sum(x == y for x, y in zip(a, b)) / len(a) if a else 100.0


