"""A small back-off trigram language model (ARPA text) from the bundle's domain sentences.

Biasing the recogniser to the sentences the model was trained on is what makes
"turn on the kitchen lights" come out as words rather than noise.  Absolute
discounting with back-off; plenty for a closed domain of a few thousand sentences.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable

DISCOUNT = 0.5


def _log(p: float) -> float:
    return math.log10(p) if p > 0 else -99.0


def build_arpa(sentences: Iterable[list[str]]) -> str:
    grams: list[Counter[tuple[str, ...]]] = [Counter(), Counter(), Counter()]
    for words in sentences:
        if not words:
            continue
        tokens = ["<s>", *words, "</s>"]
        for n in range(3):
            grams[n].update(tuple(tokens[i:i + n + 1]) for i in range(len(tokens) - n))
    total = sum(c for (w,), c in grams[0].items() if w != "<s>")
    p1 = {w: (0.0 if w == "<s>" else c / total) for (w,), c in grams[0].items()}

    def conditional(order: int) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], list[str]]]:
        context_total: Counter[tuple[str, ...]] = Counter()
        followers: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for gram, count in grams[order].items():
            context_total[gram[:-1]] += count
            followers[gram[:-1]].append(gram[-1])
        probs = {gram: (count - DISCOUNT) / context_total[gram[:-1]] for gram, count in grams[order].items()}
        return probs, followers

    p2, after1 = conditional(1)
    p3, after2 = conditional(2)
    bow1 = {}
    for (v,), words in after1.items():
        seen = sum(p2[(v, w)] for w in words)
        bow1[v] = (1.0 - seen) / max(1e-9, 1.0 - sum(p1[w] for w in words))

    def backed_off_bigram(v: str, w: str) -> float:
        return p2.get((v, w), bow1.get(v, 1.0) * p1[w])

    bow2 = {}
    for (u, v), words in after2.items():
        seen = sum(p3[(u, v, w)] for w in words)
        bow2[(u, v)] = (1.0 - seen) / max(1e-9, 1.0 - sum(backed_off_bigram(v, w) for w in words))

    lines = ["\\data\\", f"ngram 1={len(grams[0])}", f"ngram 2={len(grams[1])}", f"ngram 3={len(grams[2])}",
             "", "\\1-grams:"]
    for (w,) in sorted(grams[0]):
        lines.append(f"{(-99.0 if w == '<s>' else _log(p1[w])):.4f} {w} {_log(bow1.get(w, 1.0)):.4f}")
    lines += ["", "\\2-grams:"]
    for gram in sorted(grams[1]):
        bow = f" {_log(bow2[gram]):.4f}" if gram in bow2 else ""
        lines.append(f"{_log(p2[gram]):.4f} {' '.join(gram)}{bow}")
    lines += ["", "\\3-grams:"]
    for gram in sorted(grams[2]):
        lines.append(f"{_log(p3[gram]):.4f} {' '.join(gram)}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)
