"""A small back-off bigram language model (ARPA text) from the bundle's domain sentences.

Biasing the recogniser to the sentences the model was trained on is what makes
"turn on the kitchen lights" come out as words rather than noise.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Iterable

DISCOUNT = 0.5


def build_arpa(sentences: Iterable[list[str]]) -> str:
    unigrams: Counter[str] = Counter()
    bigrams: Counter[tuple[str, str]] = Counter()
    for words in sentences:
        if not words:
            continue
        tokens = ["<s>", *words, "</s>"]
        unigrams.update(tokens)
        bigrams.update(zip(tokens, tokens[1:]))
    total = sum(c for w, c in unigrams.items() if w != "<s>")
    uni_p = {w: (c / total if w != "<s>" else 0.0) for w, c in unigrams.items()}
    followers: dict[str, list[tuple[str, int]]] = {}
    for (v, w), c in bigrams.items():
        followers.setdefault(v, []).append((w, c))
    backoff: dict[str, float] = {}
    bigram_lines: list[str] = []
    for v, items in sorted(followers.items()):
        count_v = sum(c for _, c in items)
        seen_mass = sum((c - DISCOUNT) / count_v for _, c in items)
        seen_uni = sum(uni_p[w] for w, _ in items)
        backoff[v] = (1.0 - seen_mass) / max(1e-9, 1.0 - seen_uni)
        for w, c in sorted(items):
            bigram_lines.append(f"{math.log10((c - DISCOUNT) / count_v):.4f} {v} {w}")
    lines = ["\\data\\", f"ngram 1={len(unigrams)}", f"ngram 2={len(bigram_lines)}", "", "\\1-grams:"]
    for w in sorted(unigrams):
        prob = -99.0 if w == "<s>" else math.log10(uni_p[w])
        bow = math.log10(backoff[w]) if w in backoff and backoff[w] > 0 else 0.0
        lines.append(f"{prob:.4f} {w} {bow:.4f}")
    lines += ["", "\\2-grams:", *bigram_lines, "", "\\end\\", ""]
    return "\n".join(lines)
