"""The principal of a TLS client, as Kafka's ``DefaultKafkaPrincipalBuilder`` builds it: the subject of the
client's certificate as a distinguished name, mapped by ``ssl.principal.mapping.rules``; ``User:ANONYMOUS``
when the client sent no certificate.

**The name** is the subject exactly as Java's ``X500Principal.getName()`` prints it (RFC 2253), since the
mapping rules and ACLs written for Kafka match that text: the relative distinguished names (RDNs) in reverse
order of their encoding (``CN=alice,OU=eng,O=acme,C=US``), the attribute values of one multi-valued RDN in
encoded order joined by ``+``. Only RFC 2253's keywords are named (CN, C, L, ST, O, OU, STREET, DC, UID); any
other attribute (``emailAddress``, ``serialNumber``, ``title``…) is written as its dotted OID and ``#`` with
the lower-case hex of the value's DER encoding — as is a value that is not a string. A string value (its
bytes read as UTF-8, whatever the string type, as Java does) has ``, = + < > # ; " \\`` escaped with a
backslash, NUL as ``\\00``, and each leading and trailing space or carriage return escaped with a backslash;
other characters stay as they are. This is where ``cryptography``'s ``rfc4514_string()`` differs (it names
more attributes, such as ``1.2.840.113549.1.9.1`` as ``emailAddress=…`` with the text value, and escapes
``#`` and ``=`` only where RFC 4514 requires), so the subject is read from its DER encoding here.

**The rules** are Kafka's ``SslPrincipalMapper``: a comma-separated list of ``DEFAULT`` (the name unchanged)
and ``RULE:pattern/replacement/`` with an optional ``L`` or ``U`` after the last slash (lower or upper case
the result); ``/`` and ``\\`` are escaped with ``\\`` inside pattern and replacement. The rules are tried in
order; a rule applies when its pattern matches the whole name, and the result is the name with every match
of the pattern replaced (Java's ``String.replaceAll``: ``$n`` is group n, ``\\x`` the character x; a ``$n``
beyond the pattern's groups is kept as text, as Kafka does). The first rule that applies gives the name; if
none applies, authentication fails (:class:`NoMatchingRule`). Splitting and parsing use Kafka's regular
expressions, so odd inputs (empty entries, ``RULE://``, spaces) read as in Kafka, and a rule Kafka refuses is
refused with Kafka's message. Patterns are Java regular expressions run by Python's ``re`` in ASCII mode (so
``\\w``, ``\\d``, ``\\s`` and ``(?i)`` mean what they mean in Java); Java's named groups ``(?<name>…)`` and
``${name}`` are understood; Java-only syntax such as ``\\p{Lower}`` or ``\\Q…\\E`` is not.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..config import ConfigError
from .principal import ANONYMOUS, KafkaPrincipal

__all__ = [
    "NoMatchingRule",
    "SslPrincipalMapper",
    "distinguished_name",
    "ssl_principal",
]

PRINCIPAL_MAPPING_RULES = "ssl.principal.mapping.rules"

# --- the subject as Java's X500Principal.getName() prints it ---------------------------------------------

_RFC2253_KEYWORDS = {
    oid.dotted_string: keyword
    for oid, keyword in (
        (NameOID.COMMON_NAME, "CN"),
        (NameOID.COUNTRY_NAME, "C"),
        (NameOID.LOCALITY_NAME, "L"),
        (NameOID.STATE_OR_PROVINCE_NAME, "ST"),
        (NameOID.ORGANIZATION_NAME, "O"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "OU"),
        (NameOID.STREET_ADDRESS, "STREET"),
        (NameOID.DOMAIN_COMPONENT, "DC"),
        (NameOID.USER_ID, "UID"),
    )
}
"""The attribute keywords RFC 2253 defines: Java prints these by name, every other attribute by OID."""

_STRING_TAGS = frozenset((0x0C, 0x13, 0x14, 0x16, 0x1B, 0x1E))
"""UTF8String, PrintableString, T61String, IA5String, GeneralString, BMPString: the values Java prints as text."""

_ESCAPED = frozenset(',=+<>#;"\\')
_PADDING = (" ", "\r")

_SEQUENCE, _SET, _OID = 0x30, 0x31, 0x06


def _elements(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """The DER elements between ``start`` and ``end``: (tag, where the element starts, where its contents
    start, where it ends). Only what a ``Name`` holds: one-byte tags, definite lengths."""
    position = start
    while position < end:
        tag = data[position]
        if tag & 0x1F == 0x1F:
            raise ValueError("multi-byte ASN.1 tags do not occur in a distinguished name")
        length = data[position + 1]
        contents = position + 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(data[contents:contents + size], "big")
            contents += size
        yield tag, position, contents, contents + length
        position = contents + length


def _dotted(contents: bytes) -> str:
    """An OBJECT IDENTIFIER's contents as dotted text (``2.5.4.3``)."""
    arcs: list[int] = []
    value = 0
    for byte in contents:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def _escape(text: str) -> str:
    """A string value as Java's ``AVA.toRFC2253String`` writes it."""
    chars = ["\\" + c if c in _ESCAPED else "\\00" if c == "\0" else c for c in text]
    escaped = "".join(chars)
    lead = len(escaped) - len(escaped.lstrip("".join(_PADDING)))
    trail = len(escaped.rstrip("".join(_PADDING)))
    return "".join("\\" + c if i < lead or i >= trail else c for i, c in enumerate(escaped))


def _attribute(data: bytes, start: int, end: int) -> str:
    """One AttributeTypeAndValue (a SEQUENCE of an OID and a value) as ``TYPE=value``."""
    (oid_tag, _, oid_start, oid_end), (tag, value_start, contents, value_end) = _elements(data, start, end)
    if oid_tag != _OID:
        raise ValueError("malformed distinguished name: attribute type is not an OID")
    dotted = _dotted(data[oid_start:oid_end])
    keyword = _RFC2253_KEYWORDS.get(dotted)
    if keyword is None or tag not in _STRING_TAGS:
        return f"{keyword or dotted}=#{data[value_start:value_end].hex()}"
    return f"{keyword}={_escape(data[contents:value_end].decode('utf-8', errors='replace'))}"


def distinguished_name(name: x509.Name) -> str:
    """``name`` as Java's ``X500Principal.getName()`` (RFC 2253) prints it: what Kafka's rules and ACLs see."""
    data = name.public_bytes()
    [(tag, _, start, end)] = list(_elements(data, 0, len(data)))
    if tag != _SEQUENCE:
        raise ValueError("malformed distinguished name: not a SEQUENCE")
    rdns = []
    for rdn_tag, _, rdn_start, rdn_end in _elements(data, start, end):
        if rdn_tag != _SET:
            raise ValueError("malformed distinguished name: an RDN is not a SET")
        rdns.append("+".join(_attribute(data, s, e) for _, _, s, e in _elements(data, rdn_start, rdn_end)))
    return ",".join(reversed(rdns))


# --- ssl.principal.mapping.rules, as Kafka's SslPrincipalMapper ------------------------------------------

_RULE = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)"
_RULE_SPLITTER = re.compile(r"\s*(" + _RULE + r")\s*(,\s*|$)", re.ASCII)
_RULE_PARSER = re.compile(_RULE, re.ASCII)
_BACK_REFERENCE = re.compile(r"\$(\d+)", re.ASCII)
_JAVA_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z])")
_JAVA_BACK_REFERENCE = re.compile(r"\\k<([A-Za-z][A-Za-z0-9]*)>")
_JAVA_FLAGS = re.compile(r"\(\?([idmsuxU]*)(?:-([idmsuxU]*))?([:)])")


class NoMatchingRule(ValueError):
    """No rule maps the name (Kafka's ``SslPrincipalMapper.NoMatchingRule``): the client is not authenticated."""


def _java_trim(text: str) -> str:
    """Java's ``String.trim()``: strips every character up to U+0020 at both ends."""
    return text.strip("".join(map(chr, range(0x21))))


@dataclass(frozen=True, slots=True)
class _Rule:
    """``DEFAULT`` (``pattern`` None), or ``RULE:pattern/replacement/[LU]``."""

    pattern: str | None = None
    replacement: str = ""
    case: str = ""
    """``L`` (lower case the result), ``U`` (upper case) or empty."""

    def compiled(self) -> re.Pattern[str]:
        assert self.pattern is not None
        return _compile(self.pattern)

    def apply(self, name: str) -> str | None:
        if self.pattern is None:
            return name
        pattern = self.compiled()
        if pattern.fullmatch(name) is None:
            return None
        replacement = _kafka_escaped_replacement(self.replacement, pattern.groups)
        result = pattern.sub(lambda match: _java_replacement(replacement, match), name)
        if self.case == "L":
            return result.lower()
        if self.case == "U":
            return result.upper()
        return result

    def __str__(self) -> str:
        if self.pattern is None:
            return "DEFAULT"
        return f"RULE:{self.pattern}/{self.replacement}" + (f"/{self.case}" if self.case else "")


def _python_regex(java: str) -> str:
    """A Java regular expression in Python's syntax, where the two differ in what rules use: named groups
    ``(?<name>…)`` and ``\\k<name>``; inline flags such as ``(?i)`` past the start (Java applies them up to the
    end of the enclosing group; Python takes them only at the start, so they become a scoped ``(?i:…)`` closed
    where that group closes); Java's flags d, u and U, which Python lacks, are dropped."""
    out: list[str] = []
    scoped = [0]  # per open group (the whole pattern first): how many (?flags: it must close when it closes
    in_class = False
    i = 0
    while i < len(java):
        char = java[i]
        named_group = _JAVA_NAMED_GROUP.match(java, i)
        back_reference = _JAVA_BACK_REFERENCE.match(java, i)
        flags = _JAVA_FLAGS.match(java, i)
        if back_reference and not in_class:
            out.append(f"(?P={back_reference.group(1)})")
            i = back_reference.end()
            continue
        if char == "\\":
            out.append(java[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            opening = "[^" if java.startswith("[^", i) else "["
            if java.startswith("]", i + len(opening)):  # a ']' first in a class is a member
                opening += "]"
            out.append(opening)
            i += len(opening)
            in_class = True
            continue
        elif named_group:
            out.append("(?P<")
            scoped.append(0)
            i = named_group.end()
            continue
        elif flags:
            on, off = (re.sub("[duU]", "", f or "") for f in flags.group(1, 2))
            if flags.group(3) == ":":
                out.append(f"(?{on}{'-' + off if off else ''}:")
                scoped.append(0)
            elif i == 0:
                out.append(f"(?{on})" if on else "")
            elif on or off:
                out.append(f"(?{on}{'-' + off if off else ''}:")
                scoped[-1] += 1
            i = flags.end()
            continue
        elif char == "(":
            scoped.append(0)
        elif char == ")" and len(scoped) > 1:
            out.append(")" * scoped.pop())
        out.append(char)
        i += 1
    return "".join(out) + ")" * scoped[0]


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(_python_regex(pattern), re.ASCII)
    except re.error as exc:
        raise ConfigError(f"{PRINCIPAL_MAPPING_RULES}: Invalid rule pattern `{pattern}`: {exc}") from None


def _kafka_escaped_replacement(replacement: str, groups: int) -> str:
    """Kafka's ``escapeLiteralBackReferences``: a ``$n`` that names no group of the pattern (after dropping
    trailing digits while that helps, as Java's own reading of ``$nn`` does) gets a backslash, so it is
    text. Like Kafka, the positions come from the original text while the escapes go into the edited one."""
    if groups == 0:
        return replacement
    value = replacement
    for match in _BACK_REFERENCE.finditer(replacement):
        digits = match.group(1)
        if digits.startswith("0"):
            continue
        index = int(digits)
        while index > groups and index >= 10:
            index //= 10
        if index > groups:
            start = match.start(1)
            value = value[:start - 1] + "\\" + value[start - 1:]
    return value


def _java_replacement(replacement: str, match: re.Match[str]) -> str:
    """``replacement`` expanded for ``match`` as Java's ``Matcher.appendReplacement`` does."""
    out: list[str] = []
    groups = match.re.groups
    cursor = 0
    while cursor < len(replacement):
        char = replacement[cursor]
        cursor += 1
        if char == "\\":
            if cursor == len(replacement):
                raise ValueError("character to be escaped is missing")
            out.append(replacement[cursor])
            cursor += 1
        elif char == "$":
            if cursor == len(replacement):
                raise ValueError("Illegal group reference: group index is missing")
            group: int | str
            if replacement[cursor] == "{":
                close = replacement.find("}", cursor)
                name = replacement[cursor + 1:close] if close > 0 else ""
                if not name.isalnum() or not name.isascii() or name[0].isdigit():
                    raise ValueError(f"Illegal named group reference in {replacement!r}")
                if name not in match.re.groupindex:
                    raise ValueError(f"No group with name {{{name}}}")
                group, cursor = name, close + 1
            else:
                if not replacement[cursor].isdigit() or not replacement[cursor].isascii():
                    raise ValueError("Illegal group reference")
                number = int(replacement[cursor])
                cursor += 1
                while cursor < len(replacement) and "0" <= replacement[cursor] <= "9":
                    longer = number * 10 + int(replacement[cursor])
                    if longer > groups:
                        break
                    number, cursor = longer, cursor + 1
                if number > groups:
                    raise ValueError(f"No group {number}")
                group = number
            out.append(match.group(group) or "")
        else:
            out.append(char)
    return "".join(out)


class SslPrincipalMapper:
    """``ssl.principal.mapping.rules``, parsed: :meth:`name` maps a distinguished name to a principal name."""

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self.rules = tuple(rules)

    @classmethod
    def from_rules(cls, text: str | None) -> SslPrincipalMapper:
        """The rules in ``text`` (None: ``DEFAULT``); ConfigError with Kafka's message for a rule Kafka refuses."""
        pieces = [m.group(1) for m in _RULE_SPLITTER.finditer(_java_trim("DEFAULT" if text is None else text))]
        rules: list[_Rule] = []
        for piece in pieces:
            match = _RULE_PARSER.match(piece)
            if match is None:  # never: the last alternative matches anything
                raise ConfigError(f"{PRINCIPAL_MAPPING_RULES}: Invalid rule: {piece}")
            if match.end() != len(piece):
                raise ConfigError(f"{PRINCIPAL_MAPPING_RULES}: Invalid rule: `{piece}`, unmatched substring: "
                                  f"`{piece[match.end():]}`")
            if match.group(1) is not None:
                rules.append(_Rule())
            elif match.group(2) is not None:
                rule = _Rule(match.group(2), match.group(4), match.group(6))
                rule.compiled()  # a bad pattern fails now, as Pattern.compile does in Kafka
                rules.append(rule)
            # an empty piece is no rule
        return cls(rules)

    def name(self, distinguished_name: str) -> str:
        """The principal name of ``distinguished_name``: the first rule that applies; NoMatchingRule if none."""
        for rule in self.rules:
            result = rule.apply(distinguished_name)
            if result is not None:
                return result
        raise NoMatchingRule(f"No rules apply to {distinguished_name}, rules [{', '.join(map(str, self.rules))}]")

    def __str__(self) -> str:
        return f"SslPrincipalMapper(rules = [{', '.join(map(str, self.rules))}])"


def ssl_principal(ssl_object: ssl.SSLObject | ssl.SSLSocket, mapper: SslPrincipalMapper) -> KafkaPrincipal:
    """The principal of the client at the other end of ``ssl_object`` (handshake done): ``User:`` and the mapped
    subject of its certificate, ``User:ANONYMOUS`` without one. NoMatchingRule when no rule maps the subject."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return ANONYMOUS
    subject = distinguished_name(x509.load_der_x509_certificate(der).subject)
    return KafkaPrincipal.user(mapper.name(subject))
