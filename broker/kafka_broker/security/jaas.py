"""Kafka's ``sasl.jaas.config`` value: one JAAS login module entry,
``<LoginModule class> <required|requisite|sufficient|optional> key="value" key2=value ... ;``.

The value is tokenized as Kafka's ``JaasConfig`` does with Java's ``StreamTokenizer``:

- characters up to the space are whitespace; ``//`` and a lone ``/`` comment to the end of the line,
  ``/* ... */`` comments a block;
- a *word* starts with a letter, ``_``, ``$`` or a non-ASCII letter and goes on through those, digits,
  ``.`` and ``-`` (so a class name is one word);
- a *quoted string* is ``"..."`` or ``'...'`` up to the same quote or the line's end, with Java's backslash
  escapes (``\\"``, ``\\\\``, ``\\n``, octal ``\\012``, ...; any other escaped character stands for itself);
- a digit, ``.`` or ``-`` before a digit starts a *number*, which is no value at all: an unquoted value
  must be a word (quote ``"4096"``, ``"a@b"``);
- anything else is a single-character token (``=``, ``;``).

Then: a module name (word or quoted string), its control flag (case-insensitive), options ``key=value``
until ``;`` (a repeated key keeps its last value). Kafka's ``JaasContext`` allows exactly one entry in
``sasl.jaas.config``. Every error is a ValueError worded as Kafka words it (more plainly where Kafka's would
name ``null``: a missing module name or option name); the caller names the key.

For PLAIN, a broker's ``PlainLoginModule`` entry also lists the users it accepts as ``user_<name>`` options
(:func:`plain_users`); any login module's ``username``/``password`` are the broker's own credentials on its
inter-broker connections (:attr:`JaasEntry.username`, :attr:`JaasEntry.password`).

**JAAS files.** The file that ``-Djava.security.auth.login.config`` names (Java's ``ConfigFile`` format) holds
named sections, ``Name { entry; entry; ... };``, each entry as above; :func:`parse_jaas_file` returns them by
name, read with the same tokenizer (Java's file reader differs only in corners no real file uses: it takes
``*`` as part of a word, and no single-quoted strings). A name may be given once. Errors name the line. Java's
``${property}`` expansion in values is not done. The broker logs in to ZooKeeper with the ``Client`` section's
``DigestLoginModule`` (:data:`DIGEST_LOGIN_MODULE`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "DIGEST_LOGIN_MODULE",
    "FLAGS",
    "PLAIN_LOGIN_MODULE",
    "SCRAM_LOGIN_MODULE",
    "JaasEntry",
    "parse_jaas_config",
    "parse_jaas_file",
    "plain_users",
]

PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
DIGEST_LOGIN_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
"""ZooKeeper's login module for SASL DIGEST-MD5: ``username``/``password`` on a client, ``user_<name>`` on a server."""
FLAGS = ("required", "requisite", "sufficient", "optional")
"""JAAS control flags, as :attr:`JaasEntry.flag` spells them."""
USER_PREFIX = "user_"
"""A PlainLoginModule option naming a user the broker accepts (Kafka's ``JAAS_USER_PREFIX``)."""


@dataclass(frozen=True, slots=True)
class JaasEntry:
    """One login module with its control flag and options (kept out of ``repr``: they hold passwords)."""

    module: str
    flag: str
    options: Mapping[str, str] = field(repr=False)

    @property
    def username(self) -> str | None:
        return self.options.get("username")

    @property
    def password(self) -> str | None:
        return self.options.get("password")


def plain_users(entry: JaasEntry) -> Mapping[str, str]:
    """The users (name → password) a broker's PLAIN login module accepts: its ``user_<name>`` options. Kafka's
    ``PlainServerCallbackHandler`` reads them only from a ``PlainLoginModule``: any other module has none."""
    if entry.module != PLAIN_LOGIN_MODULE:
        return MappingProxyType({})
    return MappingProxyType({key[len(USER_PREFIX):]: value for key, value in entry.options.items()
                             if key.startswith(USER_PREFIX)})


def parse_jaas_config(text: str) -> JaasEntry:
    """The one login module entry of a ``sasl.jaas.config`` value; ValueError if it is malformed."""
    tokens = _tokens(text)
    entries: list[JaasEntry] = []
    for token in tokens:
        entries.append(_entry(token, tokens))
    if not entries:
        raise ValueError("Login module not specified in JAAS config")
    if len(entries) != 1:
        raise ValueError(f"JAAS config property contains {len(entries)} login modules, should be 1 module")
    return entries[0]


def parse_jaas_file(text: str) -> dict[str, tuple[JaasEntry, ...]]:
    """The sections of a JAAS login configuration file, by name, each with its entries in order; ValueError
    naming the line of what is malformed."""
    tokens = _tokens(text)
    sections: dict[str, tuple[JaasEntry, ...]] = {}
    for name_token in tokens:
        name = name_token.value
        if name is None:
            raise _expected(text, "section name", name_token)
        _expect(text, _OPEN_BRACE, next(tokens, None))
        entries: list[JaasEntry] = []
        for token in tokens:
            if token == _CLOSE_BRACE:
                break
            try:
                entries.append(_entry(token, tokens))
            except ValueError as exc:
                raise ValueError(f"line {_line(text, token)}: {exc} (section {name})") from None
        else:
            raise _expected(text, _CLOSE_BRACE.text, None)
        _expect(text, _SEMICOLON, next(tokens, None))
        if name in sections:
            raise ValueError(f"line {_line(text, name_token)}: can not specify multiple entries for {name}")
        sections[name] = tuple(entries)
    return sections


def _line(text: str, token: _Token) -> int:
    return text.count("\n", 0, token.pos) + 1


def _expected(text: str, what: str, found: _Token | None) -> ValueError:
    """Java's ``ConfigFile`` message for a token that is not the one expected (None: the end of the file)."""
    if found is None:
        return ValueError(f"expected [{what}], read [end of file]")
    return ValueError(f"line {_line(text, found)}: expected [{what}], found [{found.text}]")


def _expect(text: str, expected: _Token, found: _Token | None) -> None:
    if found != expected:
        raise _expected(text, expected.text, found)


Kind = Literal["word", "quoted", "number", "char"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: Kind
    text: str
    pos: int = field(default=0, compare=False)
    """Where the token starts in the text (for messages)."""

    @property
    def value(self) -> str | None:
        """What Java's ``StreamTokenizer.sval`` holds: a word's or a quoted string's text, else nothing."""
        return self.text if self.kind in ("word", "quoted") else None


def _entry(first: _Token, tokens: Iterator[_Token]) -> JaasEntry:
    module = first.value
    if not module:
        raise ValueError(f"Login module class name expected in JAAS config, found '{first.text}'")
    flag_token = next(tokens, None)
    if flag_token is None:
        raise ValueError("Login module control flag not specified in JAAS config")
    if flag_token.value is None:
        raise ValueError("Login module control flag is not available in the JAAS config")
    flag = flag_token.value.lower()
    if flag not in FLAGS:
        raise ValueError(f"Invalid login module control flag '{flag_token.value}' in JAAS config")
    options: dict[str, str] = {}
    for token in tokens:
        if token == _SEMICOLON:
            return JaasEntry(module, flag, MappingProxyType(options))
        key = token.value
        if key is None:
            raise ValueError(f"Option name expected in JAAS config, found '{token.text}'")
        equals, value = next(tokens, None), next(tokens, None)  # an error either way if the first is no "="
        if equals != _EQUALS or value is None or value.value is None:
            raise ValueError(f"Value not specified for key '{key}' in JAAS config")
        options[key] = value.value
    raise ValueError("JAAS config entry not terminated by semi-colon")


_SEMICOLON = _Token("char", ";")
_EQUALS = _Token("char", "=")
_OPEN_BRACE = _Token("char", "{")
_CLOSE_BRACE = _Token("char", "}")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_DIGITS = "0123456789"


def _is_word_start(c: str) -> bool:
    """Java's default word characters plus the three ``JaasConfig`` adds (``-`` is a number's first)."""
    return (c.isascii() and (c.isalpha() or c in "_$")) or c >= "\u00a0"


def _is_word_part(c: str) -> bool:
    return _is_word_start(c) or c in _DIGITS or c in ".-"


def _tokens(text: str) -> Iterator[_Token]:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c <= " ":
            i += 1
        elif c == "/":
            if text.startswith("/*", i):
                end = text.find("*/", i + 2)
                i = n if end < 0 else end + 2
            else:
                while i < n and text[i] not in "\r\n":
                    i += 1
        elif c in "\"'":
            start = i
            value, i = _quoted(text, i + 1, c)
            yield _Token("quoted", value, start)
        elif c in _DIGITS or c == "." or (c == "-" and i + 1 < n and (text[i + 1] in _DIGITS or text[i + 1] == ".")):
            start, i = i, i + 1
            seen_dot = c == "."
            while i < n and (text[i] in _DIGITS or (text[i] == "." and not seen_dot)):
                seen_dot = seen_dot or text[i] == "."
                i += 1
            yield _Token("number", text[start:i], start)
        elif _is_word_start(c):
            start = i
            while i < n and _is_word_part(text[i]):
                i += 1
            yield _Token("word", text[start:i], start)
        else:
            i += 1
            yield _Token("char", c, i - 1)


def _quoted(text: str, i: int, quote: str) -> tuple[str, int]:
    """A quoted string's text from just after its opening quote; the index after its end."""
    out: list[str] = []
    n = len(text)
    while i < n and text[i] != quote and text[i] not in "\r\n":
        c = text[i]
        i += 1
        if c == "\\" and i < n:
            c = text[i]
            i += 1
            if "0" <= c <= "7":
                digits = 3 if c <= "3" else 2
                end = i
                while end < n and end - i < digits - 1 and "0" <= text[end] <= "7":
                    end += 1
                c, i = chr(int(text[i - 1:end], 8)), end
            else:
                c = _ESCAPES.get(c, c)
        out.append(c)
    if i < n and text[i] == quote:
        i += 1
    return "".join(out), i
