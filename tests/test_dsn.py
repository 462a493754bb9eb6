"""DSNs from the environment: only unambiguous ones are accepted, and no output holds their password."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from sprintgate.dsn import (
    LIBPQ_CONNSTRING,
    REDACTED,
    Dsn,
    DsnError,
    environment_secrets,
    parse_dsn,
    scrub,
)

VARIABLE = "STAGING_DATABASE_URL"
HOST = "db.internal"
# Test secrets: none may appear in any message. Chosen to share no three characters with English text,
# and to hold each character that broke the old parser: '/', '@', space, ':', '%', non-ASCII, one letter.
PASSWORDS = ["Zq/9Kx", "J7@vQw", "Wm 8kQ", "k:Z%9v", "Ünï/cød@", "x"]
SWAP_LETTERS = str.maketrans("ЖЮжю", "ЩЯщя")
# Characters a password can have and still round-trip through libpq: no lone surrogates, no NUL.
PASSWORD_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def q(password: str) -> str:
    return quote(password, safe="")


def fragments(password: str) -> list[str]:
    """Every three characters in a row of ``password`` (the password itself if it is shorter)."""
    return [password[i : i + 3] for i in range(len(password) - 2)] or [password]


def leaks(text: str, password: str) -> bool:
    """Whether ``text`` holds a fragment of ``password`` (a short password: as a whole token)."""
    if len(password) < 3:
        return re.search(rf"(?<!\w){re.escape(password)}(?!\w)", text) is not None
    return any(fragment in text for fragment in fragments(password))


# Each is refused whatever the password: the password-dependent part is made to break the rules.
REFUSED: dict[str, Callable[[str], str]] = {
    "bare password": lambda p: p,
    "bare password with newline": lambda p: p + "\n",
    "unencoded slash": lambda p: f"postgresql://gate:{p}/x@{HOST}/app",
    "second at sign": lambda p: f"postgresql://gate:{p}@x@{HOST}/app",
    "unencoded question mark": lambda p: f"postgresql://gate:{p}?x@{HOST}/app",
    "unencoded hash": lambda p: f"postgresql://gate:{p}#x@{HOST}/app",
    "unquoted space in URL": lambda p: f"postgresql://gate:{p} x@{HOST}/app",
    "trailing newline": lambda p: f"postgresql://gate:{q(p)}@{HOST}/app\n",
    "leading space": lambda p: f" postgresql://gate:{q(p)}@{HOST}/app",
    "bidi override": lambda p: f"postgresql://gate:{p}\u202e@{HOST}/app",
    "bad percent escape": lambda p: f"postgresql://gate:{q(p)}%zz@{HOST}/app",
    "percent-encoded NUL": lambda p: f"postgresql://gate:{q(p)}%00@{HOST}/app",
    "percent-encoded non-UTF-8": lambda p: f"postgresql://gate:{q(p)}%ff@{HOST}/app",
    "non-UTF-8 environment byte": lambda p: f"postgresql://gate:{p}\udcff@{HOST}/app",
    "NUL": lambda p: f"postgresql://gate:{q(p)}\x00@{HOST}/app",
    "other scheme": lambda p: f"mysql://gate:{q(p)}@{HOST}/app",
    "uppercase scheme": lambda p: f"POSTGRESQL://gate:{q(p)}@{HOST}/app",
    "unknown query parameter": lambda p: f"postgresql://gate:{q(p)}@{HOST}/app?sslmod=require",
    "password twice in URL": lambda p: f"postgresql://gate:{q(p)}@{HOST}/app?password={q(p)}",
    "query libpq refuses": lambda p: f"postgresql://gate:{q(p)}@{HOST}/app?application_name=a=b",
    "unquoted space in conninfo": lambda p: f"host={HOST} password={p} x",
    "unterminated quote": lambda p: f"host={HOST} password='{p}",
    "unknown keyword": lambda p: f"host={HOST} passwd='{p}'",
    "control character in conninfo": lambda p: f"host={HOST} password='{p}\x1b'",
    "password twice in conninfo": lambda p: f"password=other password='{p}' host={HOST}",
    "dbname holding a URL": lambda p: f"host={HOST} dbname='postgresql://gate:{q(p)}@{HOST}/app'",
}


class TestRefusals:
    @pytest.mark.parametrize("password", PASSWORDS)
    @pytest.mark.parametrize("form", sorted(REFUSED))
    def test_refused_in_one_line_without_the_password(self, form: str, password: str) -> None:
        """Each ambiguous or broken form is refused in one line naming the variable, with no fragment of the password."""
        value = REFUSED[form](password)
        with pytest.raises(DsnError) as caught:
            parse_dsn(value, variable=VARIABLE)
        message = str(caught.value)
        assert message.startswith(f"{VARIABLE} ")
        assert message.endswith(f"({LIBPQ_CONNSTRING})")
        assert "\n" not in message
        assert "\r" not in message
        assert not leaks(message, password), message
        assert HOST not in message

    @pytest.mark.parametrize("value", ["", "   ", "\n"])
    def test_empty_is_refused(self, value: str) -> None:
        """An empty or blank value is refused with an example of what to set."""
        with pytest.raises(DsnError, match=rf"^{VARIABLE} is empty; set it to a PostgreSQL URL"):
            parse_dsn(value, variable=VARIABLE)

    def test_bare_password_says_what_to_do(self) -> None:
        """A value with no '=' is explained as possibly a bare password, with the fix."""
        with pytest.raises(DsnError, match=r"has no '='\); if it holds only the password, write a full URL"):
            parse_dsn("Zq/9Kx", variable=VARIABLE)

    def test_unencoded_slash_says_how_to_encode(self) -> None:
        """An unencoded '/' in the password (once printed in full) is refused with the escapes to use."""
        with pytest.raises(DsnError, match=r"'@' is %40, '/' is %2F"):
            parse_dsn(f"postgresql://gate:Zq/9Kx@{HOST}:5432/app", variable=VARIABLE)

    def test_no_driver_error_rides_along(self) -> None:
        """The error carries no cause or context: psycopg's parse errors quote the value."""
        with pytest.raises(DsnError) as caught:
            parse_dsn(f"postgresql://gate:{q('Zq/9Kx')}@{HOST}/app?application_name=a=b", variable=VARIABLE)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None

    def test_duplicate_names_only_the_keyword(self) -> None:
        """A keyword given twice is named (it is a known libpq keyword), its values are not."""
        with pytest.raises(DsnError, match=rf"^{VARIABLE} sets password more than once; keep one "):
            parse_dsn("password=Zq9Kx1 password=J7vQw2", variable=VARIABLE)


# (value, display, password as libpq reads it)
ACCEPTED = [
    (f"postgresql://gate:{q('Zq/9Kx')}@{HOST}:5432/app", f"postgresql://gate:***@{HOST}:5432/app", "Zq/9Kx"),
    (
        f"postgres://gate:{q('J7@vQw')}@{HOST}/app?sslmode=verify-full",
        f"postgresql://gate:***@{HOST}/app?sslmode=verify-full",
        "J7@vQw",
    ),
    (
        f"postgresql://gate:{q('Wm 8kQ')}@h1.internal:5432,h2.internal:5433/app?target_session_attrs=read-write",
        "postgresql://gate:***@h1.internal:5432,h2.internal:5433/app?target_session_attrs=read-write",
        "Wm 8kQ",
    ),
    (
        f"postgresql://gate:{q('k:Z%9v')}@%2Fvar%2Frun%2Fpostgresql/app",
        "postgresql://gate:***@/app?host=/var/run/postgresql",
        "k:Z%9v",
    ),
    (f"postgresql://gate:{q('Ünï/cød@')}@{HOST}/app", f"postgresql://gate:***@{HOST}/app", "Ünï/cød@"),
    (f"postgresql://gate:Ünï@{HOST}/app", f"postgresql://gate:***@{HOST}/app", "Ünï"),
    (f"postgresql://gate:x@{HOST}/app", f"postgresql://gate:***@{HOST}/app", "x"),
    (f"postgresql://gate:a:b@{HOST}/app", f"postgresql://gate:***@{HOST}/app", "a:b"),
    ("postgresql://gate@[::1]:5432/app", "postgresql://gate@[::1]:5432/app", None),
    ("postgresql:///app?host=/tmp/sg&port=5433", "postgresql:///app?host=/tmp/sg&port=5433", None),
    (
        "postgresql://h1.internal,h2.internal/app?port=5432",
        "postgresql:///app?host=h1.internal,h2.internal&port=5432",
        None,
    ),
    (
        f"host={HOST} port=5432 user=gate dbname=app password='Wm 8kQ'",
        f"postgresql://gate:***@{HOST}:5432/app",
        "Wm 8kQ",
    ),
    (
        "host=/tmp/sg port=5433 user=gate dbname=app password=x",
        "postgresql://gate:***@/app?host=/tmp/sg&port=5433",
        "x",
    ),
    (
        "\n  host=h1,h2 port=5432 dbname=app password='it\\'s \\\\ Zq'\n",
        "postgresql://:***@/app?host=h1,h2&port=5432",
        "it's \\ Zq",
    ),
    (f"hostaddr=10.0.0.5 dbname=app password={q('k:Z%9v')}", "postgresql://:***@/app?hostaddr=10.0.0.5", "k%3AZ%259v"),
]


class TestAccepted:
    @pytest.mark.parametrize(("value", "display", "password"), ACCEPTED)
    def test_display_is_built_from_the_parts(self, value: str, display: str, password: str | None) -> None:
        """The display is a URL with the password as ***, host lists and socket directories included."""
        assert parse_dsn(value, variable=VARIABLE).display == display

    @pytest.mark.parametrize(("value", "display", "password"), ACCEPTED)
    def test_reveal_connects_to_the_same_place(self, value: str, display: str, password: str | None) -> None:
        """reveal() gives libpq the same settings as the value, the password included."""
        revealed = conninfo_to_dict(parse_dsn(value, variable=VARIABLE).reveal())
        assert revealed == conninfo_to_dict(value)
        assert revealed.get("password") == password

    @pytest.mark.parametrize(("value", "display", "password"), ACCEPTED)
    def test_display_with_the_password_back_is_the_same_target(
        self, value: str, display: str, password: str | None
    ) -> None:
        """Putting the password back into the display gives libpq the same user, password, hosts, ports and database."""
        shown = display.replace(f":{REDACTED}@", f":{q(password)}@") if password else display
        kept = {"user", "password", "host", "port", "dbname", "hostaddr", "sslmode", "target_session_attrs"}
        expected = {key: setting for key, setting in conninfo_to_dict(value).items() if key in kept}
        assert conninfo_to_dict(shown) == expected

    @pytest.mark.parametrize(("value", "display", "password"), ACCEPTED)
    def test_str_repr_and_format_are_redacted(self, value: str, display: str, password: str | None) -> None:
        """str(), repr() and f-strings show the display and variable, never the password."""
        dsn = parse_dsn(value, variable=VARIABLE)
        shown = f"{dsn} {dsn!r} {dsn!s} {[dsn]} {dsn.display}"
        assert display in shown
        assert VARIABLE in repr(dsn)
        if password:
            assert not leaks(shown, password)

    @pytest.mark.parametrize(("value", "display", "password"), ACCEPTED)
    def test_secrets_hold_every_form(self, value: str, display: str, password: str | None) -> None:
        """The secrets hold the password as written, decoded and encoded, and the whole DSN."""
        secrets = parse_dsn(value, variable=VARIABLE).secrets
        assert value in secrets
        assert list(secrets) == sorted(secrets, key=lambda secret: (-len(secret), secret))
        if password:
            assert {password, q(password), json.dumps(password)[1:-1]} <= set(secrets)

    def test_user_info_password_is_a_secret_as_written(self) -> None:
        """The password exactly as it stands in the URL is a secret, whatever encoding the writer chose."""
        secrets = parse_dsn(f"postgresql://gate:Zq%2f9K%78@{HOST}/app", variable=VARIABLE).secrets
        assert {"Zq%2f9K%78", "Zq/9Kx", "Zq%2F9Kx"} <= set(secrets)

    def test_dsn_is_frozen(self) -> None:
        """A Dsn cannot be changed after parsing."""
        dsn = parse_dsn(ACCEPTED[0][0], variable=VARIABLE)
        with pytest.raises(dataclasses.FrozenInstanceError):
            dsn.display = "postgresql://elsewhere"  # type: ignore[misc]  # the assignment is the point of the test


class TestScrub:
    def test_long_secret_is_replaced_anywhere(self) -> None:
        """A secret of six or more characters is replaced even inside a longer word."""
        assert scrub("xxSup3r-s3cret_pwyy and Sup3r-s3cret_pw", ["Sup3r-s3cret_pw"]) == "xx***yy and ***"

    def test_one_letter_secret_does_not_garble_output(self) -> None:
        """A one-letter password is scrubbed where it stands alone, not in every word holding the letter."""
        line = 'FATAL: password authentication failed for user "gate" at 10.0.0.5: password=e, "e", :e@'
        assert (
            scrub(line, ["e"])
            == 'FATAL: password authentication failed for user "gate" at 10.0.0.5: password=***, "***", :***@'
        )

    @pytest.mark.parametrize(
        ("text", "expected"), [("42", "***"), ("port 42,", "port ***,"), ("4242 420 x42", "4242 420 x42")]
    )
    def test_short_secret_is_not_replaced_inside_a_number(self, text: str, expected: str) -> None:
        """A short numeric password is replaced as a whole number, not as digits of another."""
        assert scrub(text, ["42"]) == expected

    def test_longest_secret_wins(self) -> None:
        """Where secrets overlap, the longest is replaced whole, leaving no tail of it."""
        assert scrub("[abcdefghij]", ["abcdefgh", "abcdefghij"]) == "[***]"

    def test_replacement_is_not_scrubbed_again(self) -> None:
        """The *** put in is not itself matched by a secret made of asterisks."""
        assert scrub("a * b", ["*"]) == "a *** b"

    def test_secrets_are_literal_text(self) -> None:
        """Regex metacharacters in a secret match only themselves."""
        assert scrub("a.b*c(d axbbbc(d", ["a.b*c(d"]) == "*** axbbbc(d"

    def test_no_secrets_leave_text_unchanged(self) -> None:
        """With no or only empty secrets the text comes back as it is."""
        assert scrub("text", []) == "text"
        assert scrub("text", [""]) == "text"

    def test_dsn_scrubs_escaped_forms(self) -> None:
        """A Dsn scrubs its password as written, as JSON and HTML escape it, and percent-encoded."""
        password = 'Ünï<&>"pw'
        dsn = parse_dsn(f"postgresql://gate:{q(password)}@{HOST}/app", variable=VARIABLE)
        forms = [password, json.dumps(password)[1:-1], html.escape(password), q(password)]
        assert dsn.scrub(" | ".join(forms)) == " | ".join([REDACTED] * len(forms))


class TestEnvironmentSecrets:
    def test_pgpassword_forms(self) -> None:
        """PGPASSWORD is a secret as given and percent-encoded."""
        secrets = environment_secrets({"PGPASSWORD": "Zq/9Kx", "HOME": "/root"})
        assert {"Zq/9Kx", "Zq%2F9Kx"} <= set(secrets)
        assert "/root" not in secrets

    @pytest.mark.parametrize("environ", [{}, {"PGPASSWORD": ""}])
    def test_no_pgpassword_no_secrets(self, environ: dict[str, str]) -> None:
        """Without PGPASSWORD (or with it empty) there is nothing to scrub."""
        assert environment_secrets(environ) == ()


def outcome(value: str) -> Dsn | str:
    """The Dsn parsed from ``value``, or the message of the DsnError refusing it."""
    try:
        return parse_dsn(value, variable=VARIABLE)
    except DsnError as error:
        return str(error)


def assume_not_in_scaffold(password: str, scaffold: str) -> None:
    # A password that happens to be part of the fixed text around it (the host name, say) is not a leak.
    assume(password not in scaffold)


class TestProperties:
    @given(st.text(PASSWORD_CHARS, min_size=1))
    def test_encoded_password_never_shows_and_round_trips(self, password: str) -> None:
        """Any percent-encoded password parses, reaches libpq unchanged, and is absent from display, repr and scrubbed text."""
        value = f"postgresql://gate:{q(password)}@{HOST}:5432/app"
        dsn = parse_dsn(value, variable=VARIABLE)
        assert conninfo_to_dict(dsn.reveal())["password"] == password
        assert dsn.display == f"postgresql://gate:***@{HOST}:5432/app"
        if len(password) >= 6:
            assume_not_in_scaffold(password, f"postgresql://gate:***@{HOST}:5432/app Dsn(, variable={VARIABLE!r})")
            assert password not in repr(dsn)
            assert password not in str(dsn)
            assert password not in dsn.scrub(f"error: {password}; {value}; {json.dumps(password)}")

    @given(st.text(st.characters(exclude_categories=()), min_size=6))
    def test_raw_password_is_refused_or_hidden(self, password: str) -> None:
        """A password pasted into a URL unencoded is either refused without being quoted or parsed and hidden."""
        value = f"postgresql://gate:{password}@{HOST}:5432/app"
        scaffold = f"postgresql://gate:***@{HOST}:5432/app Dsn(, variable={VARIABLE!r})"
        assume_not_in_scaffold(password, scaffold)
        result = outcome(value)
        if isinstance(result, str):
            assert password not in result
            assert "\n" not in result
            return
        read = str(conninfo_to_dict(result.reveal())["password"])
        for secret in {password, read}:
            if len(secret) >= 6 and secret not in scaffold:
                assert secret not in repr(result)
                assert secret not in result.scrub(f"error: {secret}")

    @given(
        st.sampled_from(["", "postgresql://", "postgres://gate:", "host=db password=", "password='"]),
        st.text(st.sampled_from("postgresql:/@?#%&=' \\\n\t\x00\udcffx1AЖЮжю") | st.characters(exclude_categories=())),
    )
    def test_any_value_gives_a_dsn_or_a_message_blind_to_its_letters(self, prefix: str, rest: str) -> None:
        """Any value gives a Dsn or a one-line ASCII DsnError that stays the same when letters in the value change."""
        result = outcome(prefix + rest)
        if isinstance(result, Dsn):
            assert result.reveal() == prefix + rest
            return
        assert "\n" not in result
        assert result.isascii()
        # Cyrillic letters change nothing in how a DSN parses; had the message quoted any, it would differ.
        assert outcome(prefix + rest.translate(SWAP_LETTERS)) == result

    @given(st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1))
    def test_quoted_conninfo_password_round_trips(self, password: str) -> None:
        """Any password single-quoted and escaped in key=value conninfo parses and reaches libpq unchanged."""
        escaped = password.replace("\\", "\\\\").replace("'", "\\'")
        dsn = parse_dsn(f"host={HOST} user=gate dbname=app password='{escaped}'", variable=VARIABLE)
        assert conninfo_to_dict(dsn.reveal())["password"] == password
        assert dsn.display == f"postgresql://gate:***@{HOST}/app"
