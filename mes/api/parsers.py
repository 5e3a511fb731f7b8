"""A JSON parser for input from integrations we do not control: it refuses what no plant
record means (NUL characters, NaN and Infinity, absurd nesting) as a 400 with the error body
instead of letting it reach the database or the recursion limit."""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class InvalidCharacters(exceptions.ParseError):
    default_detail = "The request contains a NUL character, which no record may hold."
    default_code = "invalid_characters"


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number a record may hold")


def check_structure(data, *, max_depth: int) -> None:
    """Walk the parsed body without recursion: depth and NUL characters in keys and values."""
    stack = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > max_depth:
            raise exceptions.ParseError(
                f"The JSON is nested more than {max_depth} levels deep (at {path or 'the top'}).")
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidCharacters(f"A NUL character is not allowed (at {path or 'the top'}).")
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise InvalidCharacters("A NUL character is not allowed in a field name.")
                stack.append((item, depth + 1, f"{path}.{key}" if path else key))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value))


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            data = json.loads(text, parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise exceptions.ParseError("The JSON is nested too deeply.") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        check_structure(data, max_depth=settings.API_MAX_JSON_DEPTH)
        return data
