"""PostgreSQL connection strings from the environment: parsed strictly, shown without secrets.

:func:`parse_dsn` accepts a DSN only if it parses one way: a ``postgresql://`` (or ``postgres://``) URL
whose special characters are percent-encoded, or libpq ``key=value`` conninfo with known keywords.
Anything else is refused with a :class:`DsnError` that names the variable and what to fix, and never
holds any part of the value: psycopg's own parse errors quote the value, so none of them is passed on.

A :class:`Dsn` shows itself as :attr:`Dsn.display` (``postgresql://user:***@host:5432/db``), hands the
real string to the driver through :meth:`Dsn.reveal`, and lists in :attr:`Dsn.secrets` every form its
password may take in output, for :func:`scrub`.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, quote_plus, unquote, unquote_to_bytes

from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from sprintgate.text import markdown_inline, terminal

__all__ = [
    "LIBPQ_CONNSTRING",
    "MIN_SECRET_ANYWHERE",
    "REDACTED",
    "Dsn",
    "DsnError",
    "environment_secrets",
    "parse_dsn",
    "scrub",
]

#: Where libpq documents both forms; every refusal points here.
LIBPQ_CONNSTRING: Final = "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING"
#: What a secret is replaced with.
REDACTED: Final = "***"
#: Secrets at least this long are replaced wherever they appear; shorter ones only as a whole token.
MIN_SECRET_ANYWHERE: Final = 6

_URL_SCHEMES = ("postgresql://", "postgres://")
_ANY_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# libpq separates key=value pairs with C isspace() characters.
_CONNINFO_SPACE = " \t\n\r\v\f"
# In a URL: no whitespace, controls, invisible format characters (bidi, zero-width) or separators.
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
# In conninfo: controls other than the separators above, and lone surrogates.
_CONNINFO_FORBIDDEN = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")
# Keywords whose values are secret even where PQconndefaults() does not mark them "*" (the SCRAM keys
# are marked "D", debug). The set from libpq itself is added at run time.
_SECRET_KEYWORDS = frozenset({"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"})
# Non-secret parameters worth showing in the display, besides user, host, port and dbname.
_DISPLAYED_PARAMETERS = ("hostaddr", "service", "sslmode", "target_session_attrs", "load_balance_hosts")


class DsnError(ValueError):
    """A DSN that was refused: one line naming the variable and what to fix, with no part of the value."""


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class Dsn:
    """A parsed connection string that never shows its secrets: ``str()`` is :attr:`display`.

    Build it with :func:`parse_dsn`. ``dataclasses.asdict()`` and pickling do carry the real string.
    """

    #: The environment variable (or other source) the value came from, for messages.
    variable: str
    #: The DSN as a URL with the password replaced by ``***``, built from the parsed parts.
    display: str
    #: Every form the secrets of this DSN may take in output, longest first, the whole DSN included.
    secrets: tuple[str, ...]
    _value: str

    def reveal(self) -> str:
        """The connection string as given, for the driver only."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with this DSN's secrets replaced by ``***``."""
        return scrub(text, self.secrets)

    def __repr__(self) -> str:
        return f"Dsn({self.display!r}, variable={self.variable!r})"

    def __str__(self) -> str:
        return self.display


@dataclass(frozen=True, slots=True)
class _Parsed:
    parts: dict[str, str]
    raw_secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Why a value was refused: the end of a DsnError message, after the variable name."""

    reason: str


_EMPTY = _Refusal(
    "is empty; set it to a PostgreSQL URL such as postgresql://user:password@host:5432/dbname, or to key=value conninfo"
)
_NOT_UTF8 = _Refusal(
    "holds bytes that are not UTF-8 text; export it as UTF-8, and percent-encode the password's bytes in a URL"
)
_NUL = _Refusal("contains a NUL character, which libpq cannot pass on; remove it")
_OTHER_SCHEME = _Refusal("is a URL but not a PostgreSQL one; start it with postgresql:// or postgres:// (lowercase)")
_URL_SPACE = _Refusal(
    "is a URL containing whitespace, a control character or an invisible formatting character; "
    "percent-encode any in the password (a space is %20) and remove a trailing newline"
)
_URL_HASH = _Refusal(
    "is a URL containing '#', which libpq and URL parsers read differently; percent-encode '#' as %23 in the password"
)
_URL_AT = _Refusal(
    "is a URL with more than one '@' or an '@' after the host, so the password's end is ambiguous; "
    "percent-encode special characters in the user name and password ('@' is %40, '/' is %2F, '?' is %3F)"
)
_URL_PERCENT = _Refusal(
    "is a URL with a '%' not followed by two hex digits; write a literal '%' in the password as %25"
)
_URL_DECODED = _Refusal(
    "is a URL whose percent-escapes decode to NUL or to bytes that are not UTF-8; percent-encode the UTF-8 bytes of the password"
)
_URL_PARAMETER = _Refusal(
    "is a URL with a query parameter that is not a libpq keyword; use only the keywords libpq documents"
)
_URL_INVALID = _Refusal(
    "is not a valid PostgreSQL URL (libpq refuses it); check the host list, the port numbers and the query parameters"
)
_BARE = _Refusal(
    "is not a PostgreSQL URL or key=value conninfo (it has no '='); if it holds only the password, "
    "write a full URL with the password percent-encoded"
)
_CONNINFO_CONTROL = _Refusal(
    "contains a control character; remove it, or for a password that needs one write a URL with it percent-encoded"
)
_CONNINFO_SYNTAX = _Refusal(
    "is not a PostgreSQL URL or valid key=value conninfo; write keyword=value pairs, single-quote values "
    "with spaces (password='my secret') and backslash-escape ' and \\ inside the quotes"
)
_CONNINFO_KEYWORD = _Refusal(
    "is key=value conninfo with a keyword libpq does not know; check the spelling against libpq's list of keywords"
)
_NESTED = _Refusal("sets dbname to a connection string, which libpq may expand; give the database name alone")


def _duplicate(keyword: str) -> _Refusal:
    # Only ever called with a known libpq keyword, never with text taken from an unchecked value.
    return _Refusal(f"sets {keyword} more than once; keep one")


def parse_dsn(value: str, *, variable: str) -> Dsn:
    """``value`` (read from ``variable``) as a :class:`Dsn`, or a :class:`DsnError` saying what to fix."""
    parsed = _parse(value)
    if isinstance(parsed, _Refusal):
        # Raised here, outside any except block, so no parse error quoting the value rides along as context.
        raise DsnError(f"{variable} {parsed.reason} ({LIBPQ_CONNSTRING})")
    # The value itself, each secret as written in it, and each secret as libpq reads it in every form.
    secrets: set[str] = {value, value.strip(), *parsed.raw_secrets}
    for keyword, secret in parsed.parts.items():
        if keyword in _secret_keywords():
            secrets |= _forms(secret)
    return Dsn(variable=variable, display=_display(parsed.parts), secrets=_ordered(secrets), _value=value)


def _parse(value: str) -> _Parsed | _Refusal:
    if not value.strip():
        return _EMPTY
    if _SURROGATE.search(value):
        return _NOT_UTF8
    if "\x00" in value:
        return _NUL
    if value.lstrip().startswith(_URL_SCHEMES):
        return _parse_url(value)
    if _ANY_SCHEME.match(value.lstrip()):
        return _OTHER_SCHEME
    return _parse_conninfo(value)


def _libpq(value: str) -> dict[str, str] | None:
    """What psycopg (libpq's parser) makes of ``value``, or ``None`` if it refuses it."""
    try:
        parts = conninfo_to_dict(value)
    except Exception:  # psycopg's messages quote the value: only the fact of failure may be used
        return None
    return {keyword: str(setting) for keyword, setting in parts.items()}


def _parse_url(value: str) -> _Parsed | _Refusal:
    rest = value.split("://", 1)[1]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    decoded = unquote_to_bytes(value)
    # In this order: the first rule broken is the one reported.
    for broken, refusal in (
        (_URL_FORBIDDEN.search(value) is not None, _URL_SPACE),
        ("#" in rest, _URL_HASH),
        (authority.count("@") > 1 or "@" in tail, _URL_AT),
        (_BAD_PERCENT.search(value) is not None, _URL_PERCENT),
        (b"\x00" in decoded or not _is_utf8(decoded), _URL_DECODED),
    ):
        if broken:
            return refusal
    settings = _url_settings(authority.rpartition("@")[0], tail.partition("?")[2])
    if isinstance(settings, _Refusal):
        return settings
    return _settled(value, settings, invalid=_URL_INVALID)


def _url_settings(userinfo: str, query: str) -> list[tuple[str, str]] | _Refusal:
    """``(keyword, value as written)`` for the user name, the password and each query parameter of a URL."""
    user, has_password, password = userinfo.partition(":")
    settings = [("user", user)] if user else []
    settings += [("password", password)] if has_password else []
    for pair in query.split("&") if query else ():
        key, _, setting = pair.partition("=")
        keyword = unquote(key)
        # libpq also takes ssl=true in a URL, for sslmode=require.
        if keyword not in _known_keywords() | {"ssl"}:
            return _URL_PARAMETER
        settings.append((keyword, setting))
    return settings


def _parse_conninfo(value: str) -> _Parsed | _Refusal:
    if "=" not in value:
        return _BARE
    if _CONNINFO_FORBIDDEN.search(value):
        return _CONNINFO_CONTROL
    pairs = _conninfo_pairs(value)
    if pairs is None:
        return _CONNINFO_SYNTAX
    if not {keyword for keyword, _, _ in pairs} <= _known_keywords():
        return _CONNINFO_KEYWORD
    settings = [(keyword, raw) for keyword, raw, _ in pairs]
    # Our reading must agree with libpq's, or the value does not parse one way.
    expected = {keyword: setting for keyword, _, setting in pairs}
    return _settled(value, settings, invalid=_CONNINFO_SYNTAX, expected=expected)


def _settled(
    value: str, settings: list[tuple[str, str]], *, invalid: _Refusal, expected: dict[str, str] | None = None
) -> _Parsed | _Refusal:
    """Refuses a keyword set twice, a value libpq refuses or reads otherwise than ``expected``, and a nested dbname."""
    keywords = [keyword for keyword, _ in settings]
    twice = next((keyword for keyword in keywords if keywords.count(keyword) > 1), None)
    if twice is not None:
        return _duplicate(twice)
    parts = _libpq(value)
    if parts is None or (expected is not None and parts != expected):
        return invalid
    dbname = parts.get("dbname", "")
    # libpq expands a dbname holding "=" or a URI prefix into connection settings (PQconnectdbParams).
    if "=" in dbname or dbname.startswith(_URL_SCHEMES):
        return _NESTED
    raw_secrets = tuple(raw for keyword, raw in settings if keyword in _secret_keywords())
    return _Parsed(parts=parts, raw_secrets=raw_secrets)


def _conninfo_pairs(value: str) -> list[tuple[str, str, str]] | None:
    """``(keyword, value as written, value)`` per pair, read as libpq's conninfo_parse() reads them."""
    pairs: list[tuple[str, str, str]] = []
    i = _skip_space(value, 0)
    while i < len(value):
        start = i
        while i < len(value) and value[i] != "=" and value[i] not in _CONNINFO_SPACE:
            i += 1
        keyword = value[start:i]
        i = _skip_space(value, i)
        if not value.startswith("=", i):
            return None
        i = _skip_space(value, i + 1)
        read = _conninfo_value(value, i)
        if read is None:
            return None
        setting, end = read
        pairs.append((keyword, value[i:end], setting))
        i = _skip_space(value, end)
    return pairs


def _skip_space(value: str, i: int) -> int:
    while i < len(value) and value[i] in _CONNINFO_SPACE:
        i += 1
    return i


def _conninfo_value(value: str, i: int) -> tuple[str, int] | None:
    """The value starting at ``i`` with its backslash escapes undone, and where it ends; ``None`` if a quote is unclosed."""
    quoted = value.startswith("'", i)
    i += quoted
    chars: list[str] = []
    while i < len(value):
        char = value[i]
        if char == "\\":
            chars.append(value[i + 1 : i + 2])  # libpq drops a backslash at the very end
            i += 2
        elif quoted and char == "'":
            return "".join(chars), i + 1
        elif not quoted and char in _CONNINFO_SPACE:
            break
        else:
            chars.append(char)
            i += 1
    return None if quoted else ("".join(chars), min(i, len(value)))


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@functools.cache
def _known_keywords() -> frozenset[str]:
    """The keywords of the libpq psycopg loaded (PQconndefaults()), so a newer libpq's keywords are known."""
    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


@functools.cache
def _secret_keywords() -> frozenset[str]:
    """The keywords libpq marks as passwords ("*"), and ours."""
    marked = {option.keyword.decode() for option in pq.Conninfo.get_defaults() if option.dispchar == b"*"}
    return _SECRET_KEYWORDS | marked


def _display(parts: Mapping[str, str]) -> str:
    user = quote(parts.get("user", ""), safe="")
    password = ":" + REDACTED if parts.get("password") else ""
    userinfo = f"{user}{password}@" if user or password else ""
    hosts = parts["host"].split(",") if parts.get("host") else []
    ports = parts["port"].split(",") if parts.get("port") else []
    query: list[tuple[str, str]] = []
    authority = ""
    if any(host.startswith(("/", "@")) for host in hosts) or (ports and len(ports) != len(hosts)):
        # Unix-socket directories (and a port list that does not pair with the hosts) read best as parameters.
        query += [("host", ",".join(hosts))] if hosts else []
        query += [("port", ",".join(ports))] if ports else []
    else:
        authority = ",".join(
            _display_host(host) + (f":{port}" if port else "")
            for host, port in zip(hosts, ports or [""] * len(hosts), strict=True)
        )
    query += [(keyword, parts[keyword]) for keyword in _DISPLAYED_PARAMETERS if parts.get(keyword)]
    dbname = parts.get("dbname", "")
    path = "/" + quote(dbname, safe="") if dbname or query else ""
    parameters = "&".join(f"{keyword}={quote(setting, safe='/,:@')}" for keyword, setting in query)
    return f"postgresql://{userinfo}{authority}{path}{'?' if parameters else ''}{parameters}"


def _display_host(host: str) -> str:
    return f"[{quote(host, safe=':')}]" if ":" in host else quote(host, safe="")


def _forms(secret: str) -> set[str]:
    """``secret`` in every form it may take in our output: as given, decoded, and as each output escapes it."""
    if not secret:
        return set()
    found = {secret}
    if not _BAD_PERCENT.search(secret) and _is_utf8(unquote_to_bytes(secret)):
        found.add(unquote(secret))
    for plain in tuple(found):
        encoded = quote(plain, safe="")
        found |= {
            encoded,
            _HEX_ESCAPE.sub(lambda match: match.group().lower(), encoded),
            quote(plain),
            quote_plus(plain, safe=""),
            plain.replace("\\", "\\\\").replace("'", "\\'"),  # libpq conninfo, as psycopg's make_conninfo writes it
            json.dumps(plain)[1:-1],
            json.dumps(plain, ensure_ascii=False)[1:-1],
            repr(plain)[1:-1],
            html.escape(plain),
            html.escape(plain, quote=False),
            markdown_inline(plain),
            terminal(plain),
        }
    return {form for form in found if form}


def _ordered(secrets: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({secret for secret in secrets if secret}, key=lambda secret: (-len(secret), secret)))


def environment_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The forms of ``PGPASSWORD`` in ``environ`` (libpq reads it when the DSN has no password), for :func:`scrub`."""
    return _ordered(_forms(environ.get("PGPASSWORD", "")))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``.

    A secret of :data:`MIN_SECRET_ANYWHERE` or more characters is replaced wherever it appears; a
    shorter one only where it is not part of a longer word or number, so a one-letter password does
    not garble the output while ``password=x`` and ``:x@`` are still scrubbed.
    """
    pattern = _pattern(_ordered(secrets))
    return text if pattern is None else pattern.sub(REDACTED, text)


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    if not secrets:
        return None
    # Longest first: at a given position the regex takes the first alternative that matches.
    alternatives = [
        re.escape(secret) if len(secret) >= MIN_SECRET_ANYWHERE else rf"(?<!\w){re.escape(secret)}(?!\w)"
        for secret in secrets
    ]
    return re.compile("|".join(alternatives))
