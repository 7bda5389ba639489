"""CSV text cells that a spreadsheet shows as text, never runs as a formula (OWASP's CSV injection advice)."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def spreadsheet_text(text: str) -> str:
    """A leading formula character gets a quote before it; so does a leading quote, so that reading back is exact."""
    return QUOTE + text if text.startswith((*FORMULA_STARTS, QUOTE)) else text


def spreadsheet_cell(value: Any) -> Any:
    """A text value as `spreadsheet_text` writes it; any other value as it is."""
    return spreadsheet_text(value) if isinstance(value, str) else value


def read_spreadsheet_text(cell: str) -> str:
    """The text `spreadsheet_text` was given."""
    return cell[1:] if cell.startswith(QUOTE) and cell[1:].startswith((*FORMULA_STARTS, QUOTE)) else cell
