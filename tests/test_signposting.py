"""bot.rules.helplines: the shipped helplines, validation with lines, and formatting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.core.errors import ConfigError, Problem
from bot.rules.helplines import Helplines, Service, load_helplines

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "rules" / "helplines.yaml"
TODAY = dt.date(2026, 11, 22)

GOOD = """\
countries:
  GB:
    name: United Kingdom
    services:
      - name: Samaritans
        phone: "116 123"
        url: https://www.samaritans.org
        hours: 24/7
        topics: [crisis, self_harm]
        source: https://www.samaritans.org
        checked: 2026-06-01
international:
  - name: Find A Helpline
    url: https://findahelpline.com
    topics: [crisis, self_harm, eating_disorders, abuse]
    source: https://findahelpline.com
    checked: 2026-06-01
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "helplines.yaml"
    path.write_text(text)
    return path


def errors(tmp_path: Path, text: str) -> list[Problem]:
    """The problems loading ``text`` reports (it must fail)."""
    with pytest.raises(ConfigError) as info:
        load_helplines(write(tmp_path, text), today=TODAY)
    return info.value.problems


def where(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    return [(p.line, p.key) for p in errors(tmp_path, text) if not p.warning]


# -- the shipped file ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Helplines:
    return load_helplines(SHIPPED)


def numbers(helplines: Helplines, country: str, topic: str = "crisis") -> str:
    return helplines.format((country,), topic)


def test_shipped_file_loads_without_warnings(shipped: Helplines) -> None:
    assert shipped.warnings == ()
    assert {"US", "GB", "IE", "CA", "AU", "NZ"} <= set(shipped.countries)


def test_shipped_numbers(shipped: Helplines) -> None:
    us = numbers(shipped, "US")
    assert "call 988" in us and "741741" in us
    gb = numbers(shipped, "GB")
    assert "Samaritans" in gb and "116 123" in gb and "85258" in gb and "Shout" in gb
    ie = numbers(shipped, "IE")
    assert "Samaritans" in ie and "116 123" in ie
    assert "988" in numbers(shipped, "CA")
    assert "13 11 14" in numbers(shipped, "AU")
    assert "1737" in numbers(shipped, "NZ")
    for code in ("US", "GB", "IE", "CA", "AU", "NZ", "FR"):
        assert "https://findahelpline.com" in numbers(shipped, code)


def test_shipped_entries_have_sources_and_dates(shipped: Helplines) -> None:
    every = [s for _, services in shipped.countries.values() for s in services]
    every += list(shipped.international)
    assert every
    for service in every:
        assert service.source.startswith("https://"), service.name
        assert service.checked.year >= 2025, service.name
        assert service.topics, service.name
        assert service.phone or service.text or service.url, service.name


# -- validation ------------------------------------------------------------------------


def test_good_file(tmp_path: Path) -> None:
    h = load_helplines(write(tmp_path, GOOD), today=TODAY)
    (name, (service,)) = h.countries["GB"]
    assert name == "United Kingdom"
    assert service == Service("Samaritans", "116 123", None, "https://www.samaritans.org", "24/7",
                              ("crisis", "self_harm"), "https://www.samaritans.org",
                              dt.date(2026, 6, 1))
    assert [s.name for s in h.international] == ["Find A Helpline"]
    assert h.warnings == ()


def test_stale_entry_is_a_warning_not_an_error(tmp_path: Path) -> None:
    h = load_helplines(write(tmp_path, GOOD.replace("2026-06-01", "2025-01-01", 1)), today=TODAY)
    (w,) = h.warnings
    assert w.warning
    assert (w.line, w.key) == (11, "countries.GB.services[0] (Samaritans).checked")
    assert "over a year ago" in w.message
    assert str(w).startswith(f"{tmp_path / 'helplines.yaml'}:11: ")
    assert ": warning: last checked 2025-01-01" in str(w)
    # Exactly a year is not yet stale.
    fresh = GOOD.replace("2026-06-01", (TODAY - dt.timedelta(days=365)).isoformat(), 1)
    assert load_helplines(write(tmp_path, fresh), today=TODAY).warnings == ()


def test_checked_in_the_future_is_a_warning(tmp_path: Path) -> None:
    h = load_helplines(write(tmp_path, GOOD.replace("2026-06-01", "2062-06-01", 1)), today=TODAY)
    (w,) = h.warnings
    assert w.warning and "in the future" in w.message


def test_checked_may_be_quoted_or_a_datetime(tmp_path: Path) -> None:
    text = GOOD.replace("checked: 2026-06-01", "checked: '2026-06-01'", 1)
    text = text.replace("checked: 2026-06-01", "checked: 2026-06-01 10:30:00", 1)
    h = load_helplines(write(tmp_path, text), today=TODAY)
    assert h.countries["GB"][1][0].checked == dt.date(2026, 6, 1)
    assert h.international[0].checked == dt.date(2026, 6, 1)


def test_missing_source_and_checked(tmp_path: Path) -> None:
    text = GOOD.replace("        source: https://www.samaritans.org\n", "").replace(
        "        checked: 2026-06-01\n", "")
    assert where(tmp_path, text) == [
        (5, "countries.GB.services[0] (Samaritans).source"),
        (5, "countries.GB.services[0] (Samaritans).checked"),
    ]


def test_bad_checked_date(tmp_path: Path) -> None:
    text = GOOD.replace("checked: 2026-06-01", "checked: last spring", 1)
    (p,) = errors(tmp_path, text)
    assert (p.line, p.key) == (11, "countries.GB.services[0] (Samaritans).checked")
    assert "YYYY-MM-DD" in p.message


def test_unknown_topic(tmp_path: Path) -> None:
    text = GOOD.replace("topics: [crisis, self_harm]", "topics:\n          - crisis\n"
                        "          - grief", 1)
    (p,) = errors(tmp_path, text)
    assert (p.line, p.key) == (11, "countries.GB.services[0] (Samaritans).topics")
    assert "unknown topic 'grief'" in p.message


def test_topics_required(tmp_path: Path) -> None:
    (p,) = errors(tmp_path, GOOD.replace("topics: [crisis, self_harm]", "topics: []", 1))
    assert (p.line, p.key) == (9, "countries.GB.services[0] (Samaritans).topics")


@pytest.mark.parametrize("code", ["gb", "GBR", "G1"])
def test_bad_country_code(tmp_path: Path, code: str) -> None:
    (p,) = errors(tmp_path, GOOD.replace("  GB:", f"  {code}:"))
    assert (p.line, p.key) == (2, f"countries.{code}")
    assert "two capital letters" in p.message


def test_norway_is_a_country_not_false(tmp_path: Path) -> None:
    h = load_helplines(write(tmp_path, GOOD.replace("  GB:", "  NO:")), today=TODAY)
    assert "NO" in h.countries


def test_service_problems(tmp_path: Path) -> None:
    text = """\
countries:
  US:
    name: United States
    services:
      - phone: "988"
      - name: Nothing to reach
        topics: [crisis]
        source: x
        checked: 2026-01-01
        fax: "123"
      - just a string
  CA: [not, a, mapping]
bogus: 1
international: {a: b}
"""
    assert where(tmp_path, text) == [
        (13, "bogus"),
        (5, "countries.US.services[0].name"),
        (10, "countries.US.services[1].fax"),
        (6, "countries.US.services[1] (Nothing to reach)"),
        (11, "countries.US.services[2]"),
        (12, "countries.CA"),
        (14, "international"),
    ]


def test_all_problems_at_once_with_warnings(tmp_path: Path) -> None:
    text = GOOD.replace("2026-06-01", "2020-01-01", 1).replace("topics: [crisis, self_harm",
                                                               "topics: [crisis, grief", 1)
    text = text.replace("    url: https://findahelpline.com\n", "")
    found = errors(tmp_path, text)
    assert [(p.line, p.warning) for p in found] == [(9, False), (13, False), (11, True)]


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    (p,) = errors(tmp_path, "- a\n")
    assert (p.line, p.key) == (1, "helplines")
    with pytest.raises(ConfigError) as info:
        load_helplines(tmp_path / "absent.yaml")
    assert info.value.problems[0].key == "file"


# -- formatting ------------------------------------------------------------------------


@pytest.fixture
def helplines() -> Helplines:
    def svc(name: str, topics: tuple[str, ...], **kw: str) -> Service:
        return Service(name, kw.get("phone"), kw.get("text"), kw.get("url"), kw.get("hours"),
                       topics, "src", dt.date(2026, 1, 1))

    return Helplines(
        countries={
            "GB": ("United Kingdom", (svc("Samaritans", ("crisis",), phone="116 123",
                                          hours="24/7"),
                                      svc("Beat", ("eating_disorders",), phone="0808"))),
            "US": ("United States", (svc("988 Lifeline", ("crisis",), phone="988", text="988"),
                                     svc("Crisis Text Line", ("crisis",),
                                         text="Text HOME to 741741"))),
        },
        international=(svc("Find A Helpline", ("crisis", "eating_disorders"),
                           url="https://findahelpline.com"),),
    )


def test_format_groups_by_country_then_international(helplines: Helplines) -> None:
    assert helplines.format(("gb", "US")) == "\n".join([
        "United Kingdom:",
        "- **Samaritans**: call 116 123 (24/7)",
        "United States:",
        "- **988 Lifeline**: call 988, text 988",
        "- **Crisis Text Line**: text HOME to 741741",
        "International:",
        "- **Find A Helpline**: https://findahelpline.com",
    ])


def test_format_filters_by_topic_and_skips_unknown_countries(helplines: Helplines) -> None:
    assert helplines.format(("GB", "FR"), "eating_disorders") == "\n".join([
        "United Kingdom:", "- **Beat**: call 0808",
        "International:", "- **Find A Helpline**: https://findahelpline.com"])
    assert helplines.format(("FR",)) == ("International:\n"
                                         "- **Find A Helpline**: https://findahelpline.com")


def test_format_lists_a_country_once(helplines: Helplines) -> None:
    assert helplines.format(("GB", "gb")).count("Samaritans") == 1


def test_format_falls_back_to_findahelpline(helplines: Helplines) -> None:
    assert helplines.format(("GB",), "abuse") == "- **Find A Helpline**: https://findahelpline.com"
    empty = Helplines({}, ())
    assert empty.format(("US",)) == "- **Find A Helpline**: https://findahelpline.com"


def test_services_pairs(helplines: Helplines) -> None:
    pairs = helplines.services(("US",))
    assert [(c, s.name) for c, s in pairs] == [("United States", "988 Lifeline"),
                                               ("United States", "Crisis Text Line"),
                                               ("International", "Find A Helpline")]
