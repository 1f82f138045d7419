"""``sasl.jaas.config`` parsing. Every line here was also given to Kafka 3.9.2's ``JaasContext`` (over a small
Java bridge): the same lines are accepted with the same module, flag and options, the same lines refused (but
for ``12=v``, an option named by a number, which Kafka keeps under a null name), with Kafka's messages wherever
Kafka's are meaningful."""

from __future__ import annotations

import pytest

from kafka_broker.security.jaas import (
    DIGEST_LOGIN_MODULE,
    PLAIN_LOGIN_MODULE,
    SCRAM_LOGIN_MODULE,
    JaasEntry,
    parse_jaas_config,
    parse_jaas_file,
    plain_users,
)

P = PLAIN_LOGIN_MODULE


@pytest.mark.parametrize(("line", "flag", "options"), [
    (f'{P} required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";',
     "required", {"username": "admin", "password": "admin-secret", "user_admin": "admin-secret",
                  "user_alice": "alice-secret"}),
    (f'{P} required username="a\\"b c" password=\'x y\';', "required", {"username": 'a"b c', "password": "x y"}),
    (f"{P} REQUIRED username=admin password=pw-1.2_$x;", "required", {"username": "admin", "password": "pw-1.2_$x"}),
    (f'{P} required username="a@b" // comment\n password="p";', "required", {"username": "a@b", "password": "p"}),
    (f'{P} required /* c */ username="u" password="p"; /* trailing */', "required",
     {"username": "u", "password": "p"}),
    (f'{P} required u="\\101\\60\\0101\\477\\n\\q";', "required", {"u": "A0\x081'7\nq"}),
    (f'"{P}" "optional" "k"="v";', "optional", {"k": "v"}),
    (f"{P} sufficient k=v k=w;", "sufficient", {"k": "w"}),
    (f"{P} requisite key=välue;", "requisite", {"key": "välue"}),
    (f"{P} required k=a-b.c;", "required", {"k": "a-b.c"}),
    (f"{P} required k='';", "required", {"k": ""}),
    (f'{P} required k="a\\\\";', "required", {"k": "a\\"}),
    (f"\n  {P}\n  required\n  k=v\n  ;\n", "required", {"k": "v"}),
    (f"{P} required;", "required", {}),
])
def test_good_lines(line: str, flag: str, options: dict[str, str]) -> None:
    entry = parse_jaas_config(line)
    assert (entry.module, entry.flag, dict(entry.options)) == (P, flag, options)


@pytest.mark.parametrize(("line", "message"), [
    ("", "Login module not specified in JAAS config"),
    ("   ", "Login module not specified in JAAS config"),
    ("// only a comment", "Login module not specified in JAAS config"),
    (P, "Login module control flag not specified in JAAS config"),
    (f"{P} mandatory;", "Invalid login module control flag 'mandatory' in JAAS config"),
    (f"{P} 1;", "Login module control flag is not available in the JAAS config"),
    (f'{P} required username="u" password="p"', "JAAS config entry not terminated by semi-colon"),
    (f'{P} required k="a\\";', "JAAS config entry not terminated by semi-colon"),
    (f"{P} required; {P} required;", "JAAS config property contains 2 login modules, should be 1 module"),
    (f"{P} required username=4096;", "Value not specified for key 'username' in JAAS config"),
    (f"{P} required username=1abc;", "Value not specified for key 'username' in JAAS config"),
    (f"{P} required username=-abc;", "Value not specified for key 'username' in JAAS config"),
    (f"{P} required k=.5;", "Value not specified for key 'k' in JAAS config"),
    (f"{P} required username;", "Value not specified for key 'username' in JAAS config"),
    (f"{P} required username=;", "Value not specified for key 'username' in JAAS config"),
    (f"{P} required a/b=c;", "Value not specified for key 'a' in JAAS config"),
    (f'{P} required u="unterminated\n" p="x";', "Value not specified for key ' p=' in JAAS config"),
    (f"{P} required username=a@b;", "Option name expected in JAAS config, found '@'"),
    (f"{P} required 12=v;", "Option name expected in JAAS config, found '12'"),
    (f"; {P} required;", "Login module class name expected in JAAS config, found ';'"),
    ('"" required;', "Login module class name expected in JAAS config, found ''"),
    (f'{P} required k="v";;', "Login module class name expected in JAAS config, found ';'"),
])
def test_bad_lines(line: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_jaas_config(line)
    assert str(exc.value) == message


def test_plain_users_and_the_brokers_own_credentials() -> None:
    entry = parse_jaas_config(f'{P} required username="admin" password="admin-secret" user_admin="admin-secret" '
                              'user_alice="alice secret" user_="nobody";')
    assert dict(plain_users(entry)) == {"admin": "admin-secret", "alice": "alice secret", "": "nobody"}
    assert (entry.username, entry.password) == ("admin", "admin-secret")


def test_only_a_plain_login_module_defines_plain_users() -> None:
    """Kafka's PlainServerCallbackHandler reads ``user_*`` from a PlainLoginModule entry only."""
    entry = parse_jaas_config(f'{SCRAM_LOGIN_MODULE} required username="admin" password="pw" user_alice="x";')
    assert dict(plain_users(entry)) == {}
    assert (entry.username, entry.password) == ("admin", "pw")


def test_without_credentials() -> None:
    entry = parse_jaas_config(f"{P} required;")
    assert (entry.username, entry.password, dict(plain_users(entry))) == (None, None, {})


def test_passwords_stay_out_of_repr_and_the_entry_is_read_only() -> None:
    entry = parse_jaas_config(f'{P} required username="admin" password="s3cret" user_admin="s3cret";')
    assert "s3cret" not in repr(entry) and "s3cret" not in str(entry)
    with pytest.raises(TypeError):
        entry.options["password"] = "x"  # type: ignore[index]
    assert isinstance(entry, JaasEntry)


# --- JAAS files (java.security.auth.login.config) ---------------------------------------------------------------

DIGEST = DIGEST_LOGIN_MODULE


def test_a_file_holds_named_sections_each_with_its_entries_in_order() -> None:
    text = f"""// the broker's login to ZooKeeper
Client {{
  {DIGEST} required username="kafka" password="kafka-secret";
}};

/* the listeners' */
KafkaServer {{
  {P} required user_admin="admin-secret";
  {SCRAM_LOGIN_MODULE} sufficient;
}};
"Quoted Name" {{ }};
"""
    sections = parse_jaas_file(text)
    assert list(sections) == ["Client", "KafkaServer", "Quoted Name"]
    (client,) = sections["Client"]
    assert (client.module, client.flag, client.username, client.password) == (
        DIGEST_LOGIN_MODULE, "required", "kafka", "kafka-secret")
    assert [(e.module, e.flag) for e in sections["KafkaServer"]] == [(P, "required"), (SCRAM_LOGIN_MODULE,
                                                                                        "sufficient")]
    assert sections["Quoted Name"] == ()
    assert parse_jaas_file("") == {} and parse_jaas_file("// nothing\n") == {}


@pytest.mark.parametrize(("text", "message"), [
    ("Client", "expected [{], read [end of file]"),
    (f"Client {DIGEST} required;", f"line 1: expected [{{], found [{DIGEST}]"),
    (f"Client {{\n  {DIGEST} required;\n", "expected [}], read [end of file]"),
    (f"Client {{\n  {DIGEST} required;\n}}", "expected [;], read [end of file]"),
    (f"Client {{ {DIGEST} required; }}\nServer {{ }};", "line 2: expected [;], found [Server]"),
    ("= { };", "line 1: expected [section name], found [=]"),
    ("Client { };\n\nClient { };", "line 3: can not specify multiple entries for Client"),
    (f"Client {{\n  {DIGEST} mandatory;\n}};", "line 2: Invalid login module control flag 'mandatory' in JAAS "
                                               "config (section Client)"),
    (f"Client {{\n\n  {DIGEST} required username;\n}};", "line 3: Value not specified for key 'username' in "
                                                        "JAAS config (section Client)"),
])
def test_malformed_files_are_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_jaas_file(text)
    assert str(raised.value) == message
