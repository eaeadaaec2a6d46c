"""Validation of untrusted reference lists in the shape of Microsoft's endpoint web service."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.config.drift import Limits
from exporter.reference.items import MAX_PORT_RANGE, parse_ports, parse_reference, shorten
from exporter.reference.types import (
    FetchFailure,
    InvalidEntry,
    ParsedReference,
    ReferenceFetchError,
    ReferenceItem,
)

LIMITS = Limits()


def parse(*items: object, limits: Limits = LIMITS) -> ParsedReference:
    return parse_reference(list(items), limits)


def item(**fields: Any) -> dict[str, Any]:
    return {"id": 163, "serviceArea": "MEM", **fields}


def only_item(raw: object, limits: Limits = LIMITS) -> tuple[ReferenceItem, list[InvalidEntry]]:
    parsed = parse(raw, limits=limits)
    assert len(parsed.items) == 1
    return parsed.items[0], list(parsed.invalid)


def fields(invalid: list[InvalidEntry] | tuple[InvalidEntry, ...]) -> list[tuple[str, str, str]]:
    return [(entry.item, entry.field, entry.value) for entry in invalid]


# --- top level and whole items ---


@pytest.mark.parametrize("data", [{"value": []}, "[]", None, 5, b"[]", ({"id": 1},)])
def test_top_level_that_is_not_a_list_is_bad_shape(data: object) -> None:
    with pytest.raises(ReferenceFetchError) as caught:
        parse_reference(data, LIMITS)
    assert caught.value.reason is FetchFailure.BAD_SHAPE
    assert type(data).__name__ in caught.value.detail


def test_empty_list_parses_to_no_items() -> None:
    assert parse() == ParsedReference(items=(), invalid=())


def test_microsoft_shaped_item_is_read_whole() -> None:
    raw = {
        "id": 163,
        "serviceArea": "MEM",
        "serviceAreaDisplayName": "Microsoft Intune",
        "urls": ["*.manage.microsoft.com", "EnterpriseEnrollment.manage.microsoft.com"],
        "ips": ["104.46.162.96/27", "2603:1006:2000:0:0:0:0:0/48"],
        "tcpPorts": "80,443",
        "udpPorts": "3478-3481",
        "expressRoute": False,
        "category": "Allow",
        "required": True,
        "notes": "Intune client and host service",
        "someFutureKey": {"ignored": True},
    }
    parsed, invalid = only_item(raw)
    assert invalid == []
    assert parsed == ReferenceItem(
        id="163",
        service_area="MEM",
        urls=("*.manage.microsoft.com", "enterpriseenrollment.manage.microsoft.com"),
        ips=("104.46.162.96/27", "2603:1006:2000::/48"),
        tcp_ports=frozenset({80, 443}),
        udp_ports=frozenset({3478, 3479, 3480, 3481}),
        category="Allow",
        required=True,
        express_route=False,
        notes="Intune client and host service",
    )


def test_absent_and_null_fields_are_empty() -> None:
    absent, invalid = only_item({"id": "asu-na", "serviceArea": "MEM"})
    assert invalid == []
    assert absent == ReferenceItem(id="asu-na", service_area="MEM")
    nulls = {key: None for key in ("urls", "ips", "tcpPorts", "udpPorts", "category", "required", "notes")}
    null, invalid = only_item({"id": "asu-na", "serviceArea": "MEM", "expressRoute": None, **nulls})
    assert invalid == []
    assert null == absent


@pytest.mark.parametrize("raw", ["163", 163, None, [163, "MEM"], True])
def test_item_that_is_not_an_object_is_skipped(raw: object) -> None:
    parsed = parse(raw, item(id=170))
    assert [i.id for i in parsed.items] == ["170"]
    assert [(e.item, e.field) for e in parsed.invalid] == [("#0", "item")]
    assert parsed.invalid[0].value == shorten(raw)


def test_items_keep_their_order() -> None:
    parsed = parse(item(id=170), item(id="asu-na"), item(id=56, serviceArea="Common"))
    assert [(i.id, i.service_area) for i in parsed.items] == [
        ("170", "MEM"),
        ("asu-na", "MEM"),
        ("56", "Common"),
    ]


# --- id and serviceArea: a bad one drops the item ---


@pytest.mark.parametrize("value", [0, 163, 10**63, "163", "asu-na", "A1", "x" * 64, "win32-cache"])
def test_valid_ids(value: object) -> None:
    parsed, invalid = only_item(item(id=value))
    assert invalid == []
    assert parsed.id == str(value)


@pytest.mark.parametrize(
    "value",
    [
        [163],
        {"id": 163},
        True,
        163.0,
        -1,
        10**64,
        "",
        "-x",
        "a b",
        "x" * 65,
        "163\n",
        "asu_na",
        "ü",
        'x" 1',
    ],
)
def test_bad_id_skips_the_item(value: object) -> None:
    parsed = parse(item(id=value), item(id=170))
    assert [i.id for i in parsed.items] == ["170"]
    assert len(parsed.invalid) == 1
    entry = parsed.invalid[0]
    assert (entry.item, entry.field, entry.value) == ("#0", "id", shorten(value))
    assert entry.problem.endswith("item skipped")


def test_missing_id_says_so() -> None:
    parsed = parse({"serviceArea": "MEM"})
    assert parsed.items == ()
    assert [(e.item, e.field, e.problem) for e in parsed.invalid] == [("#0", "id", "missing; item skipped")]


@pytest.mark.parametrize("value", [None, 5, "", "M E M", "MEM1", "x" * 33, "É", "MEM\n", ["MEM"]])
def test_bad_service_area_skips_the_item(value: object) -> None:
    raw = item(serviceArea=value) if value is not None else {"id": 163}
    parsed = parse(raw, item(id=170))
    assert [i.id for i in parsed.items] == ["170"]
    assert fields(parsed.invalid) == [("163", "serviceArea", shorten(value))]


@pytest.mark.parametrize("value", ["MEM", "Common", "Exchange", "SharePoint", "Skype", "x" * 32])
def test_valid_service_areas(value: str) -> None:
    assert only_item(item(serviceArea=value))[0].service_area == value


def test_duplicate_id_keeps_the_first_item() -> None:
    parsed = parse(item(urls=["a.example.com"]), item(id="163", urls=["b.example.com"]), item(id=170))
    assert [(i.id, i.urls) for i in parsed.items] == [("163", ("a.example.com",)), ("170", ())]
    assert [(e.item, e.field, e.problem) for e in parsed.invalid] == [
        ("163", "id", "duplicate id; the first item is kept")
    ]


def test_a_skipped_item_does_not_claim_its_id() -> None:
    parsed = parse(item(serviceArea="M E M"), item(urls=["b.example.com"]))
    assert [(i.id, i.urls) for i in parsed.items] == [("163", ("b.example.com",))]
    assert [e.field for e in parsed.invalid] == ["serviceArea"]


# --- urls ---

MALICIOUS_HOSTS = [
    "evil.com/../x",
    "a b.com",
    "https://x.com",
    "x.com\n# HELP",
    "*.com",
    "*.*.x.com",
    "1.2.3.4",
    "é.com",
    "x" * 300 + ".com",
    "-x.com",
    "x-.com",
    "x..com",
    ".x.com",
    "x.com.",
    "*x.com",
    "x.*.com",
    "*",
    "*.",
    "com",
    "localhost",
    "x.com:443",
    "2001:db8::1",
    "[::1]",
    "x.c0m",
    "x.c",
    "x.com\x00",
    "x.com\r",
    "\u212a.com",  # KELVIN SIGN, lower-cases to ASCII 'k'
    "x.com\u2028y",
    "",
    "a" * 64 + ".com",
    "x.com%0a",
    "x.com\t",
    "x;rm -rf.com",
    'x".com',
]


@pytest.mark.parametrize("host", MALICIOUS_HOSTS)
def test_malicious_host_is_rejected_and_logged_on_one_line(host: str) -> None:
    parsed, invalid = only_item(item(urls=[host, "ok.example.com"]))
    assert parsed.urls == ("ok.example.com",)
    assert fields(invalid) == [("163", "urls", shorten(host))]
    value = invalid[0].value
    assert len(value) <= 80
    assert value.isprintable()
    assert "\n" not in value


def test_host_problems_are_specific() -> None:
    hosts = ["x" * 300 + ".com", "é.com", "https://x.com", "a b.com"]
    _, invalid = only_item(item(urls=hosts))
    assert [e.problem for e in invalid] == [
        "longer than 253 characters",
        "not ASCII (international names must be written in punycode)",
        "a URL, path or address, not a host name",
        "not a host name or '*.' wildcard",
    ]


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("*.Manage.Microsoft.COM", "*.manage.microsoft.com"),
        ("AMSUA0101-RemoteAssistService-pubsub.webpubsub.azure.com", None),
        ("_dmarc.example.com", None),
        ("xn--bcher-kva.example.com", None),
        ("a.b.c.d.e.example.com", None),
        ("1.example.com", None),
        ("a" * 63 + ".com", None),
        ("x.co", None),
    ],
)
def test_valid_hosts_are_lower_cased(host: str, stored: str | None) -> None:
    parsed, invalid = only_item(item(urls=[host]))
    assert invalid == []
    assert parsed.urls == (stored or host.lower(),)


def test_host_length_limit_is_the_configured_one() -> None:
    host = ("a" * 60 + ".") * 4 + "com"  # 247 characters
    assert only_item(item(urls=[host]))[0].urls == (host,)
    parsed, invalid = only_item(item(urls=[host]), Limits(max_text_length=100))
    assert parsed.urls == ()
    assert [e.problem for e in invalid] == ["longer than 100 characters"]


def test_duplicate_hosts_are_kept_once() -> None:
    parsed, invalid = only_item(item(urls=["a.example.com", "A.Example.com", "b.example.com"]))
    assert invalid == []
    assert parsed.urls == ("a.example.com", "b.example.com")


@pytest.mark.parametrize("value", ["a.example.com", {"url": "a.example.com"}, 5, True])
def test_urls_that_are_not_a_list_are_dropped(value: object) -> None:
    parsed, invalid = only_item(item(urls=value, ips=["192.0.2.0/24"]))
    assert parsed.urls == ()
    assert parsed.ips == ("192.0.2.0/24",)
    assert [(e.field, e.problem) for e in invalid] == [("urls", "not a list")]


def test_url_elements_that_are_not_strings_are_dropped() -> None:
    parsed, invalid = only_item(item(urls=[5, None, ["a.example.com"], {"a": 1}, "b.example.com"]))
    assert parsed.urls == ("b.example.com",)
    assert [(e.field, e.value, e.problem) for e in invalid] == [
        ("urls", "5", "not a string"),
        ("urls", "None", "not a string"),
        ("urls", "['a.example.com']", "not a string"),
        ("urls", "{'a': 1}", "not a string"),
    ]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("manage.microsoft.com", True),
        ("microsoft.com", True),
        ("*.microsoft.com", True),
        ("*.manage.microsoft.com", True),
        ("x.azureedge.net", True),
        ("evilmicrosoft.com", False),
        ("microsoft.com.evil.net", False),
        ("azureedge.net.example.com", False),
        ("*.com", False),
        ("example.com", False),
    ],
)
def test_allowed_suffixes(host: str, allowed: bool) -> None:
    limits = Limits(allowed_suffixes=(".Microsoft.com", "azureedge.net"))
    parsed, invalid = only_item(item(urls=[host]), limits)
    assert parsed.urls == ((host,) if allowed else ())
    assert [e.field for e in invalid] == ([] if allowed else ["urls"])


def test_disallowed_suffix_problem() -> None:
    _, invalid = only_item(item(urls=["example.org"]), Limits(allowed_suffixes=("microsoft.com",)))
    assert [e.problem for e in invalid] == ["not under an allowed domain"]


# --- ips ---


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("13.67.13.176/28", "13.67.13.176/28"),
        ("13.67.13.180/28", "13.67.13.176/28"),
        ("2603:1006:2000:0000:0000:0000:0000:0000/48", "2603:1006:2000::/48"),
        ("2603:1006:2000::/48", "2603:1006:2000::/48"),
        ("2603:1006:2000::1/48", "2603:1006:2000::/48"),
        ("2620:1EC:4::/46", "2620:1ec:4::/46"),
        ("192.0.2.1", "192.0.2.1/32"),
        ("192.0.2.0/255.255.255.0", "192.0.2.0/24"),
    ],
)
def test_ips_are_canonical(value: str, stored: str) -> None:
    parsed, invalid = only_item(item(ips=[value]))
    assert invalid == []
    assert parsed.ips == (stored,)


@pytest.mark.parametrize(
    "value",
    [
        "1.2.3.4/33",
        "256.1.1.1/8",
        "not-an-ip",
        "example.com",
        "fe80::1%eth0/64",
        " 192.0.2.0/24",
        "192.0.2.0/24\n",
        "01.2.3.4/24",
        "192.0.2.0/24,198.51.100.0/24",
        "",
        "\u0663.2.3.4/32",  # ARABIC-INDIC DIGIT THREE
        "1" * 300,
    ],
)
def test_bad_ips_are_rejected(value: str) -> None:
    parsed, invalid = only_item(item(ips=[value, "192.0.2.0/24"]))
    assert parsed.ips == ("192.0.2.0/24",)
    assert fields(invalid) == [("163", "ips", shorten(value))]


def test_equal_networks_are_kept_once() -> None:
    parsed, _ = only_item(item(ips=["13.67.13.176/28", "13.67.13.180/28", "2001:DB8::/32", "2001:db8::/32"]))
    assert parsed.ips == ("13.67.13.176/28", "2001:db8::/32")


@pytest.mark.parametrize("value", [{"ip": "192.0.2.0/24"}, "192.0.2.0/24", 3221225984])
def test_ips_that_are_not_a_list_are_dropped(value: object) -> None:
    parsed, invalid = only_item(item(ips=value))
    assert parsed.ips == ()
    assert [(e.field, e.problem) for e in invalid] == [("ips", "not a list")]


def test_ip_elements_that_are_not_strings_are_dropped() -> None:
    parsed, invalid = only_item(item(ips=[3221225984, "192.0.2.0/24"]))
    assert parsed.ips == ("192.0.2.0/24",)
    assert [(e.value, e.problem) for e in invalid] == [("3221225984", "not a string")]


# --- ports ---


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        ("", set()),
        ("443", {443}),
        ("80,443", {80, 443}),
        ("443,80,443", {80, 443}),
        (" 80 , 443 ", {80, 443}),
        ("3478-3481", {3478, 3479, 3480, 3481}),
        ("80,3478-3480,5223", {80, 3478, 3479, 3480, 5223}),
        ("1", {1}),
        ("65535", {65535}),
        ("443-443", {443}),
        ("0443", {443}),
        ("1-1024", set(range(1, 1025))),
        ("64512-65535", set(range(64512, 65536))),
    ],
)
def test_parse_ports(text: str, ports: set[int]) -> None:
    assert parse_ports(text) == (frozenset(ports), [])


@pytest.mark.parametrize(
    ("text", "ports", "bad"),
    [
        ("0", set(), ["0"]),
        ("65536", set(), ["65536"]),
        ("80,x,443", {80, 443}, ["x"]),
        ("80,,443", {80, 443}, [""]),
        ("80,", {80}, [""]),
        ("80-", set(), ["80-"]),
        ("-80", set(), ["-80"]),
        ("443-80", set(), ["443-80"]),
        ("1-65535", set(), ["1-65535"]),
        ("1-1025", set(), ["1-1025"]),
        ("80-81-82", set(), ["80-81-82"]),
        ("+80", set(), ["+80"]),
        ("80.0", set(), ["80.0"]),
        ("\u0663", set(), ["\u0663"]),
        ("80;443", set(), ["80;443"]),
        ("80 443", set(), ["80 443"]),
        ("443\n", set(), ["443\n"]),
        ("1000000", set(), ["1000000"]),
        ("tcp/443", set(), ["tcp/443"]),
    ],
)
def test_parse_ports_reports_bad_tokens(text: str, ports: set[int], bad: list[str]) -> None:
    assert parse_ports(text) == (frozenset(ports), bad)


def test_item_ports_keep_good_tokens_and_log_bad_ones() -> None:
    parsed, invalid = only_item(item(tcpPorts="80,http,443", udpPorts="123,0"))
    assert parsed.tcp_ports == {80, 443}
    assert parsed.udp_ports == {123}
    assert [(e.field, e.value, e.problem) for e in invalid] == [
        ("tcpPorts", "http", "not a port (1-65535) or port range 'a-b'"),
        ("udpPorts", "0", "not a port (1-65535) or port range 'a-b'"),
    ]


def test_wide_port_range_is_rejected_not_expanded() -> None:
    parsed, invalid = only_item(item(udpPorts="50000-59999,3478"))
    assert parsed.udp_ports == {3478}
    assert [(e.value, e.problem) for e in invalid] == [
        ("50000-59999", f"port range spans 10000 ports, more than {MAX_PORT_RANGE}")
    ]


@pytest.mark.parametrize("value", [443, [80, 443], {"tcp": 443}, True, 443.0])
def test_ports_that_are_not_a_string_are_dropped(value: object) -> None:
    parsed, invalid = only_item(item(tcpPorts=value, udpPorts="123"))
    assert parsed.tcp_ports == frozenset()
    assert parsed.udp_ports == {123}
    assert [(e.field, e.value) for e in invalid] == [("tcpPorts", shorten(value))]


def test_overlong_port_string_is_dropped_whole() -> None:
    text = ",".join(["443"] * 100)  # 399 characters
    parsed, invalid = only_item(item(tcpPorts=text))
    assert parsed.tcp_ports == frozenset()
    assert [(e.field, e.problem) for e in invalid] == [("tcpPorts", "longer than 253 characters")]
    assert len(invalid[0].value) <= 80


# --- attributes ---


@pytest.mark.parametrize("value", ["Optimize", "Allow", "Default"])
def test_categories(value: str) -> None:
    assert only_item(item(category=value)) == (ReferenceItem("163", "MEM", category=value), [])


@pytest.mark.parametrize("value", ["allow", "Block", "", 1, ["Allow"], True])
def test_bad_category_is_none(value: object) -> None:
    parsed, invalid = only_item(item(category=value, urls=["a.example.com"]))
    assert parsed.category is None
    assert parsed.urls == ("a.example.com",)
    assert [(e.field, e.value, e.problem) for e in invalid] == [
        ("category", shorten(value), "not one of Optimize, Allow, Default")
    ]


@pytest.mark.parametrize(("key", "attribute"), [("required", "required"), ("expressRoute", "express_route")])
@pytest.mark.parametrize("value", [True, False])
def test_flags(key: str, attribute: str, value: bool) -> None:
    parsed, invalid = only_item(item(**{key: value}))
    assert invalid == []
    assert getattr(parsed, attribute) is value


@pytest.mark.parametrize(("key", "attribute"), [("required", "required"), ("expressRoute", "express_route")])
@pytest.mark.parametrize("value", ["true", 1, 0, "false", [True]])
def test_flag_of_wrong_type_is_none(key: str, attribute: str, value: object) -> None:
    parsed, invalid = only_item(item(**{key: value}))
    assert getattr(parsed, attribute) is None
    assert [(e.field, e.value, e.problem) for e in invalid] == [(key, shorten(value), "not true or false")]


def test_notes_are_truncated() -> None:
    parsed, invalid = only_item(item(notes="n" * 5000))
    assert invalid == []
    assert parsed.notes == "n" * 1000


@pytest.mark.parametrize("value", [5, ["note"], {"text": "note"}, False])
def test_notes_of_wrong_type_are_empty(value: object) -> None:
    parsed, invalid = only_item(item(notes=value))
    assert parsed.notes == ""
    assert [(e.field, e.problem) for e in invalid] == [("notes", "not a string")]


# --- caps ---


def test_items_beyond_max_items_are_dropped_with_one_entry() -> None:
    parsed = parse(*(item(id=n) for n in range(5)), limits=Limits(max_items=3))
    assert [i.id for i in parsed.items] == ["0", "1", "2"]
    assert [(e.item, e.field, e.value) for e in parsed.invalid] == [("#3", "items", "5 items")]
    assert parsed.invalid[0].problem == "more than 3 items; only the first 3 are used"


def test_exactly_max_items_is_fine() -> None:
    parsed = parse(*(item(id=n) for n in range(3)), limits=Limits(max_items=3))
    assert len(parsed.items) == 3
    assert parsed.invalid == ()


def test_values_beyond_the_cap_are_cut_in_order_with_one_entry() -> None:
    raw = item(
        urls=["a.example.com", "b.example.com"],
        ips=["192.0.2.0/24", "198.51.100.0/24"],
        tcpPorts="443,80,8080",
        udpPorts="123",
    )
    parsed, invalid = only_item(raw, Limits(max_values_per_item=6))
    assert parsed.urls == ("a.example.com", "b.example.com")
    assert parsed.ips == ("192.0.2.0/24", "198.51.100.0/24")
    assert parsed.tcp_ports == {80, 443}
    assert parsed.udp_ports == frozenset()
    assert [(e.field, e.value) for e in invalid] == [("values", "8 urls, ips and ports")]
    assert "more than 6 values" in invalid[0].problem


def test_value_cap_cuts_urls_first() -> None:
    raw = item(urls=[f"h{n}.example.com" for n in range(10)], ips=["192.0.2.0/24"], tcpPorts="443")
    parsed, invalid = only_item(raw, Limits(max_values_per_item=4))
    assert parsed.urls == tuple(f"h{n}.example.com" for n in range(4))
    assert (parsed.ips, parsed.tcp_ports) == ((), frozenset())
    assert len(invalid) == 1


def test_values_at_the_cap_are_kept_whole() -> None:
    raw = item(urls=["a.example.com"], ips=["192.0.2.0/24"], tcpPorts="80,443")
    parsed, invalid = only_item(raw, Limits(max_values_per_item=4))
    assert invalid == []
    assert parsed.tcp_ports == {80, 443}


def test_invalid_values_do_not_count_towards_the_cap() -> None:
    raw = item(urls=["bad host", "a.example.com"], tcpPorts="x,443")
    parsed, invalid = only_item(raw, Limits(max_values_per_item=2))
    assert parsed.urls == ("a.example.com",)
    assert parsed.tcp_ports == {443}
    assert [e.field for e in invalid] == ["urls", "tcpPorts"]


def test_many_items_with_many_values_stay_bounded() -> None:
    raw = [item(id=n, urls=[f"h{m}.example.com" for m in range(50)], tcpPorts="1-1024") for n in range(20)]
    parsed = parse_reference(raw, Limits(max_items=10, max_values_per_item=100))
    assert len(parsed.items) == 10
    assert all(len(i.urls) + len(i.ips) + len(i.tcp_ports) + len(i.udp_ports) == 100 for i in parsed.items)
    assert [e.field for e in parsed.invalid] == ["items"] + ["values"] * 10


# --- shortened values ---


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("x.com\n# HELP", "x.com\\n# HELP"),
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("tab\there", "tab\\there"),
        ("é.com", "é.com"),
        ("x\u2028y", "x\\u2028y"),
        (443, "443"),
        (None, "None"),
        (True, "True"),
    ],
)
def test_shorten_escapes(value: object, shown: str) -> None:
    assert shorten(value) == shown


@pytest.mark.parametrize("value", ["x" * 1000, "\n" * 1000, list(range(10_000)), {"k" * 500: "v" * 500}])
def test_shorten_is_bounded(value: object) -> None:
    shown = shorten(value)
    assert len(shown) <= 80
    assert shown.isprintable()
