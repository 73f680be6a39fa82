"""The one id rule: a correlation id or job name is exactly one safe path component."""

from __future__ import annotations

import pytest

from ztbkit.errors import UsageError
from ztbkit.ids import check_component, problem_with_component, safe_repr


@pytest.mark.parametrize(
    "good", ["20250929T120000Z", "run-1_a.b", "日本語のラン", "x" * 200, "CONSOLE", "nul-ish", "a.b.c"]
)
def test_single_components_pass(good: str) -> None:
    assert check_component(good, "--correlation-id") == good


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("", "empty"),
        ("..", "relative"),
        (".", "relative"),
        ("../../outside", "separator"),
        ("/abs/path", "separator"),
        ("a\\b", "separator"),
        ("x\nDoctor Summary: OK=9", "control"),
        ("a\x00b", "control"),
        ("C:evil", "':'"),
        ("a?b", "Windows forbids"),
        ("a*b", "Windows forbids"),
        ('a"b', "Windows forbids"),
        ("a|b", "Windows forbids"),
        ("a<b>", "Windows forbids"),
        ("CON", "device"),
        ("nul.txt", "device"),
        ("com1", "device"),
        ("LPT9.log", "device"),
        ("trailing.", "dot or space"),
        ("trailing ", "dot or space"),
        ("x" * 201, "longer"),
        ("\udcff", "Unicode"),
    ],
)
def test_unsafe_components_are_refused_naming_the_flag(bad: str, why: str) -> None:
    assert why in (problem_with_component(bad) or "")
    with pytest.raises(UsageError) as err:
        check_component(bad, "--correlation-id")
    message = str(err.value)
    assert message.startswith("--correlation-id ")
    assert "\n" not in message


def test_safe_repr_escapes_control_characters() -> None:
    assert safe_repr("a\nb\x1b[31m") == "a\\x0ab\\x1b[31m"
    assert safe_repr("日本") == "日本"
