"""Trim a WordPiece vocabulary to the domain, keeping a safe path for unseen words.

The embedding table is most of a small model's bytes.  The trimmed vocabulary
keeps: the special tokens; every Latin character as a word start and as a
``##`` continuation (so any unseen Latin word still splits into known pieces
and never becomes [UNK]); every piece the training text uses; and the most
common general words of the original vocabulary, so names users say that the
data never had keep their usual pieces.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# In the BERT uncased vocabulary, whole words from this id on are roughly by frequency.
FIRST_WORD_ID = 1996


def _is_latin_char_piece(token: str) -> bool:
    body = token[2:] if token.startswith("##") else token
    return len(body) == 1 and ord(body) < 0x250


def trim_vocabulary(tokenizer_json: Path, texts: Iterable[list[str]],
                    keep_general: int) -> tuple[dict, list[int]]:
    """A new tokenizer.json (as a dict) and, per new id, the original id."""
    original = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    vocab: dict[str, int] = original["model"]["vocab"]
    tokenizer = Tokenizer.from_str(json.dumps(original))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    used: set[int] = set()
    for words in texts:
        used.update(tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False).ids)
    keep: set[int] = {vocab[t] for t in SPECIALS}
    keep |= {i for t, i in vocab.items() if _is_latin_char_piece(t)}
    keep |= used
    keep |= {i for i in range(FIRST_WORD_ID, min(len(vocab), FIRST_WORD_ID + keep_general))}
    by_id = {i: t for t, i in vocab.items()}
    specials_first = [vocab[t] for t in SPECIALS]
    old_ids = specials_first + sorted(keep - set(specials_first))
    trimmed = copy.deepcopy(original)
    trimmed["model"]["vocab"] = {by_id[old]: new for new, old in enumerate(old_ids)}
    for added in trimmed.get("added_tokens", []):
        added["id"] = trimmed["model"]["vocab"][added["content"]]
    processor = trimmed.get("post_processor") or {}
    for spec in (processor.get("special_tokens") or {}).values():
        spec["ids"] = [trimmed["model"]["vocab"][t] for t in spec["tokens"]]
    # Padding and truncation are set by the runtime, per call.
    trimmed["padding"] = None
    trimmed["truncation"] = None
    return trimmed, old_ids
