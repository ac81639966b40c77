"""The `filter` query parameter and PATCH paths, in IAM Identity Center's subset of RFC 7644 §3.4.2.2 and §3.5.2.

Filters: comparisons with `eq`, joined by `and`; an attribute may carry a value filter, as in the RFC's
`emails[type eq "work" and value eq "a@example.com"]` or Entra ID's `emails[type eq "work"].value eq "a@example.com"`.
Any other operator (`ne`, `co`, `sw`, `pr`, `gt`, ...), `or`, `not` or parentheses answer 400 `invalidFilter`.
Attribute names are case-insensitive and may carry their schema's URN. Which attributes a resource may be
filtered on is the views' business (serializers.USER_FILTERS and GROUP_FILTERS): this module only parses.

PATCH paths: `attr`, `attr.sub`, `attr[valFilter]` and `attr[valFilter].sub`, with the same value filters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from directory.scim.protocol import ScimError

_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<open>\[)|(?P<close>\])|(?P<paren>[()])|(?P<word>[^\s\[\]()"]+))'
)
_NAME = re.compile(r"^(?:\$ref|[A-Za-z][A-Za-z0-9_-]*)$")
_OTHER_OPERATORS = {"ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}
SUPPORTED = "only `eq` comparisons joined by `and` are supported (IAM Identity Center's subset)"


@dataclass(frozen=True)
class Comparison:
    """`attr[.sub] eq value`; names lower-cased. Inside a value filter, `attr` is the sub-attribute compared."""

    attr: str
    sub: str | None
    value: Any


@dataclass(frozen=True)
class PatchPath:
    """A PATCH path: `attr[.sub]` or `attr[value filter][.sub]`; names lower-cased, `text` as sent."""

    attr: str
    sub: str | None
    value_filter: tuple[Comparison, ...] | None
    text: str


@dataclass
class _Token:
    kind: str  # string, open, close, paren, word
    text: str


def _error(scim_type: str, detail: str) -> ScimError:
    return ScimError(400, detail, scim_type)


def _tokenize(text: str, scim_type: str) -> list[_Token]:
    tokens = []
    text = text.strip()
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _error(scim_type, f"Can't read {text[position:]!r}: a string must be in double quotes.")
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def split_attribute(word: str, schema_urn: str, scim_type: str) -> tuple[str, str | None]:
    """`[URN:]attr[.sub]` -> (attr, sub), lower-cased; an other schema's URN or a malformed name is an error."""
    name = word
    if word.lower().startswith("urn:"):
        urn, _, name = word.rpartition(":")
        if urn.lower() != schema_urn.lower():
            raise _error(scim_type, f"{word!r}: this resource has no schema {urn!r} (its schema is {schema_urn}).")
    parts = name.split(".")
    if len(parts) > 2 or not all(_NAME.match(part) for part in parts):
        raise _error(scim_type, f"{word!r} is not an attribute name.")
    return parts[0].lower(), parts[1].lower() if len(parts) == 2 else None


def _value(token: _Token | None, scim_type: str) -> Any:
    if token is None:
        raise _error(scim_type, "A comparison needs a value after `eq`.")
    if token.kind == "string" or (token.kind == "word" and token.text in ("true", "false", "null")):
        return json.loads(token.text)
    if token.kind == "word":
        try:
            return json.loads(token.text)  # a number
        except ValueError:
            pass
    raise _error(scim_type, f"{token.text!r} is not a value: put strings in double quotes.")


class _Parser:
    def __init__(self, text: str, schema_urn: str, scim_type: str):
        self.text = text
        self.schema_urn = schema_urn
        self.scim_type = scim_type
        self.tokens = _tokenize(text, scim_type)
        self.position = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token | None:
        token = self.peek()
        self.position += token is not None
        return token

    def unsupported(self, what: str) -> ScimError:
        return _error("invalidFilter", f"Unsupported filter {self.text!r}: {SUPPORTED}; it has {what}.")

    def operator(self, subject: str) -> None:
        """Consume `eq`; anything else is unsupported or malformed."""
        token = self.take()
        word = token.text.lower() if token is not None and token.kind == "word" else None
        if word == "eq":
            return
        if word in _OTHER_OPERATORS:
            raise self.unsupported(f"the operator `{token.text}`")  # type: ignore[union-attr]
        found = repr(token.text) if token is not None else "nothing"
        raise _error(self.scim_type, f"Expected `eq` after {subject!r}, found {found}.")

    def logical(self) -> bool:
        """After a comparison: True for `and`, False at the end (or before `]`); `or` and `not` are unsupported."""
        token = self.peek()
        if token is None or token.kind == "close":
            return False
        word = token.text.lower() if token.kind == "word" else ""
        if word == "and":
            self.take()
            return True
        if word in ("or", "not"):
            raise self.unsupported(f"`{token.text}`")
        raise _error(self.scim_type, f"Expected `and` or the end of the filter, found {token.text!r}.")

    def value_filter(self, attr: str) -> tuple[Comparison, ...]:
        """The comparisons inside `attr[...]`, on sub-attribute names; the `[` is consumed already."""
        comparisons = []
        while True:
            token = self.take()
            if token is None or token.kind != "word":
                if token is not None and token.kind == "paren":
                    raise self.unsupported("parentheses")
                raise _error(self.scim_type, f"Expected a sub-attribute of {attr!r} inside [...].")
            if token.text.lower() == "not":
                raise self.unsupported("`not`")
            sub, deeper = split_attribute(token.text, self.schema_urn, self.scim_type)
            if deeper is not None:
                raise _error(self.scim_type, f"{token.text!r}: name a sub-attribute of {attr!r} inside [...].")
            self.operator(token.text)
            comparisons.append(Comparison(sub, None, _value(self.take(), self.scim_type)))
            if not self.logical():
                break
        closing = self.take()
        if closing is None or closing.kind != "close":
            raise _error(self.scim_type, f"A value filter of {attr!r} is missing its closing `]`.")
        return tuple(comparisons)

    def sub_after_filter(self, attr: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.startswith("."):
            self.take()
            name = token.text[1:]
            if not _NAME.match(name):
                raise _error(self.scim_type, f"{token.text!r} is not a sub-attribute of {attr!r}.")
            return name.lower()
        return None

    def comparisons(self) -> list[Comparison]:
        found: list[Comparison] = []
        while True:
            token = self.take()
            if token is None:
                raise _error(self.scim_type, "The filter is empty or ends with `and`.")
            if token.kind == "paren":
                raise self.unsupported("parentheses")
            if token.kind != "word":
                raise _error(self.scim_type, f"Expected an attribute name, found {token.text!r}.")
            if token.text.lower() == "not":
                raise self.unsupported("`not`")
            attr, sub = split_attribute(token.text, self.schema_urn, self.scim_type)
            following = self.peek()
            if following is not None and following.kind == "open":
                if sub is not None:
                    raise _error(self.scim_type, f"{token.text!r}: a value filter goes after the attribute name.")
                self.take()
                inner = self.value_filter(attr)
                found += [Comparison(attr, c.attr, c.value) for c in inner]
                sub = self.sub_after_filter(attr)
                after = self.peek()
                if after is None or (after.kind == "word" and after.text.lower() in ("and", "or", "not")):
                    if sub is not None:
                        raise _error(self.scim_type, f"Expected `eq` after {attr}[...].{sub}.")
                    if not self.logical():
                        return found
                    continue
            self.operator(token.text)
            found.append(Comparison(attr, sub, _value(self.take(), self.scim_type)))
            if not self.logical():
                if self.peek() is not None:
                    raise _error(self.scim_type, f"Unexpected {self.peek().text!r}.")  # type: ignore[union-attr]
                return found


def parse_filter(text: str, schema_urn: str) -> list[Comparison]:
    """The comparisons of a `filter` parameter (all must hold), or ScimError 400 `invalidFilter`."""
    if len(text) > 2000:
        raise _error("invalidFilter", "The filter is too long.")
    return _Parser(text, schema_urn, "invalidFilter").comparisons()


def parse_path(text: str, schema_urn: str) -> PatchPath:
    """A PATCH operation's `path`, or ScimError 400 `invalidPath`."""
    if not isinstance(text, str) or not text.strip() or len(text) > 1000:
        raise _error("invalidPath", "A PATCH `path` must be a non-empty string.")
    parser = _Parser(text, schema_urn, "invalidPath")
    token = parser.take()
    if token is None or token.kind != "word":
        raise _error("invalidPath", f"{text!r} does not start with an attribute name.")
    attr, sub = split_attribute(token.text, schema_urn, "invalidPath")
    value_filter = None
    following = parser.peek()
    if following is not None and following.kind == "open":
        if sub is not None:
            raise _error("invalidPath", f"{text!r}: a value filter goes right after the attribute name.")
        parser.take()
        value_filter = parser.value_filter(attr)
        sub = parser.sub_after_filter(attr)
    if parser.peek() is not None:
        raise _error("invalidPath", f"{text!r} is not a valid path: unexpected {parser.peek().text!r}.")  # type: ignore[union-attr]
    return PatchPath(attr, sub, value_filter, text)
