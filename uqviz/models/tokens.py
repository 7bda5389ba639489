"""The exact bytes behind a tokenizer's tokens, for the run format's `token_bytes` (docs/methods.md §0.1)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

BYTE_FALLBACK_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@functools.cache
def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet, character → byte: printable bytes stand for themselves, the rest are shifted
    to the characters from U+0100 on, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    shifted = [byte for byte in range(256) if byte not in printable]
    return {chr(byte): byte for byte in printable} | {chr(256 + index): byte for index, byte in enumerate(shifted)}


def _decoder_types(tokenizer: Any) -> set[str]:
    """The types of a fast tokenizer's decoder and of the decoders in its sequence; empty for slow tokenizers."""
    try:
        state = json.loads(tokenizer.backend_tokenizer.decoder.__getstate__())
    except (AttributeError, TypeError, ValueError):
        return set()
    return {state.get("type")} | {inner.get("type") for inner in state.get("decoders") or []}


def token_byte_pieces(tokenizer: Any, token_ids: Sequence[int]) -> list[bytes | None]:
    """Each token's exact bytes where the tokenizer's vocabulary says them (byte-level BPE, SentencePiece byte
    fallback), else None (the token decodes to whole characters, so its text carries its bytes)."""
    types = _decoder_types(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(token_ids))
    if "ByteLevel" in types:
        alphabet = _byte_level_alphabet()
        return [bytes(alphabet[c] for c in piece) if piece and all(c in alphabet for c in piece) else None for piece in pieces]
    if "ByteFallback" in types:
        return [bytes([int(match.group(1), 16)]) if (match := BYTE_FALLBACK_PIECE.match(piece or "")) else None for piece in pieces]
    return [None] * len(pieces)
