"""calculator: exact arithmetic on a whitelisted AST; resource bombs and code injection are clean errors."""

from __future__ import annotations

import contextlib
import math
import time

import pytest
from agentkit_tools import calculator
from agentkit_tools.calculator import MAX_EXPRESSION_CHARS, CalculatorError, evaluate
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import ModelRetry
from tests.agentkit_tools.conftest import run_calls


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("2**10", "1024"),
        ("2**100", "1267650600228229401496703205376"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("-7 % 3", "2"),
        ("sqrt(16)", "4"),
        ("sqrt(2)", repr(math.sqrt(2))),
        ("sin(pi / 2)", "1"),
        ("log(8, 2)", "3"),
        ("ln(e)", "1"),
        ("log10(1000)", "3"),
        ("factorial(20)", "2432902008176640000"),
        ("comb(10, 3) + perm(5, 2)", "140"),
        ("gcd(12, 18) * lcm(4, 6)", "72"),
        ("round(2.567, 2)", "2.57"),
        ("max(1, 5, 3) - min(4, -2)", "7"),
        ("abs(-3) + floor(2.7) + ceil(2.1)", "8"),
        ("1e3 * 1.5", "1500"),
        ("1_000 + 1", "1001"),
        ("2 \u00d7 3 \u00f7 4", "1.5"),  # typographic signs
        ("cbrt(-27)", "-3"),
        ("degrees(pi)", "180"),
        ("1+" * 900 + "1", "901"),  # a long flat chain is not "deep nesting"
        ("2**-2", "0.25"),
        ("2**-10**10", "0"),
    ],
)
def test_it_computes(expression: str, expected: str) -> None:
    assert calculator.function(expression) == expected


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        # resource bombs: refused before any big number is built
        ("9**9**9", "digits"),
        ("10**10**10", "digits"),
        ("2**3**4**5", "digits"),
        ("pow(9, 9**9)", "digits"),
        ("(10**999)**(10**999)", "digits"),
        ("10**1000 * 10**1000", "digits"),
        ("factorial(10**6)", "at most"),
        ("factorial(100000)", "digits"),
        ("factorial(3000)", "digits"),
        ("comb(100000, 50000)", "digits"),
        ("perm(100000, 50000)", "digits"),
        ("lcm(10**999, 10**999 - 1)", "digits"),
        ("round(5, -10**9)", "at most"),
        ("9" * 1500, "digits"),
        ("1e308 * 10", "overflow"),
        ("exp(1000)", "overflow"),
        ("gamma(1000)", "overflow"),
        ("2.0**100000", "overflow"),
        ("10**400 + 0.5", "overflow"),
        # text, containers and code are not numbers
        ("'a' * 10**9", "Only numbers"),
        ("'a' * 10", "Only numbers"),
        ("b'x' * 10**9", "Only numbers"),
        ("[1] * 10**9", "List is not allowed"),
        ("[x for x in range(10**9)]", "not allowed"),
        ("__import__('os').system('id')", "plain function calls"),
        ("__import__('os')", "Unknown function '__import__'"),
        ("().__class__.__bases__[0].__subclasses__()", "plain function calls"),
        ("().__class__", "Attribute is not allowed"),
        ("open('/etc/passwd')", "Unknown function 'open'"),
        ("eval('1')", "Unknown function 'eval'"),
        ("(lambda: 1)()", "plain function calls"),
        ("math.sqrt(4)", "plain function calls"),
        ("sqrt(x=4)", "positional"),
        ("sqrt(*[4])", "positional"),
        ("x + 1", "Unknown name 'x'"),
        ("True + 1", "Only numbers"),
        ("None", "Only numbers"),
        ("1j * 1j", "complex"),
        ("f'{1}'", "not allowed"),
        ("(y := 5)", "not allowed"),
        ("1 if 2 else 3", "not allowed"),
        ("1 < 2", "Comparisons"),
        ("{}", "not allowed"),
        ("...", "Only numbers"),
        ("sqrt", "is a function"),
        ("sqrt(1, 2)", "takes 1 argument"),
        ("min()", "takes 1 to 64"),
        # math errors
        ("1 / 0", "Division by zero"),
        ("5 % 0", "Modulo by zero"),
        ("0**-1", "negative power"),
        ("sqrt(-1)", "math domain error"),
        ("log(0)", "math domain error"),
        ("(-8)**(1/3)", "complex"),
        ("isqrt(-1)", "cannot take"),
        ("factorial(2.5)", "whole number"),
        # operators a model may mean differently
        ("2^10", "write 2**10"),
        ("1 << 10000000", "'<<' is not supported"),
        ("~1", "'~' is not supported"),
        # malformed input
        ("", "empty"),
        ("   ", "empty"),
        ("1 +", "not valid syntax"),
        ("1\x002", "NUL"),
        ("(" * 300 + "1" + ")" * 300, "nested"),
        ("-" * 1500 + "1", "nested"),
        ("sqrt(" * 100 + "1" + ")" * 100, "nested"),
    ],
)
def test_hostile_and_invalid_expressions_are_clean_errors(expression: str, says: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ModelRetry) as info:
        calculator.function(expression)
    assert time.perf_counter() - started < 1.0
    assert says in info.value.message
    assert info.value.message.startswith("Cannot evaluate the expression:")


def test_a_10_mb_expression_is_refused_without_parsing() -> None:
    started = time.perf_counter()
    for text in ("1" * 10_000_000, "1+" * 5_000_000 + "1", "(" * 10_000_000):
        with pytest.raises(CalculatorError, match="characters long"):
            evaluate(text)
    assert time.perf_counter() - started < 1.0
    assert evaluate("1" + "+1" * ((MAX_EXPRESSION_CHARS - 1) // 2)) == (MAX_EXPRESSION_CHARS - 1) // 2 + 1


def test_error_messages_stay_short_for_huge_operands() -> None:
    with pytest.raises(CalculatorError) as info:
        evaluate("(10**900)**(10**900)")
    assert len(str(info.value)) < 200 and "901-digit number" in str(info.value)


def test_unknown_names_list_what_is_available() -> None:
    with pytest.raises(CalculatorError) as info:
        evaluate("foo(2)")
    message = str(info.value)
    assert "sqrt" in message and "pi" in message and "**" in message


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # ast.parse warns about things like "1sqrt"
@settings(max_examples=300, deadline=2000)
@given(st.text(alphabet="0123456789+-*/%().,e^ sqrtpilogfacbmx'_[]", max_size=60))
def test_any_input_gives_a_number_or_a_calculator_error(text: str) -> None:
    try:
        value = evaluate(text)
    except CalculatorError:
        return
    assert isinstance(value, (int, float)) and not isinstance(value, bool)
    assert not (isinstance(value, float) and (math.isinf(value) or math.isnan(value)))


@settings(max_examples=200, deadline=2000)
@given(
    st.recursive(
        st.integers(-99, 99).map(str),
        lambda inner: st.tuples(inner, st.sampled_from("+-*/%") | st.just("**"), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
        max_leaves=12,
    )
)
def test_random_arithmetic_is_bounded_and_exact(text: str) -> None:
    started = time.perf_counter()
    with contextlib.suppress(CalculatorError):
        evaluate(text)
    assert time.perf_counter() - started < 0.5


def test_in_an_agent_bad_expressions_become_tool_messages() -> None:
    result, messages = run_calls(
        [calculator],
        [
            ("calculator", {"expression": "9**9**9"}),
            ("calculator", {"expression": "__import__('os').system('echo pwned')"}),
            ("calculator", {"expression": "'a' * 10**9"}),
            ("calculator", {"expression": "2 + 2"}),
            ("calculator", {"expression": "x" * 100_000}),
        ],
    )
    assert result.output == "done"
    assert [m.is_error for m in messages] == [True, True, True, False, True]
    assert "digits" in messages[0].content
    assert "Only plain function calls" in messages[1].content
    assert "Only numbers" in messages[2].content
    assert messages[3].content == "4"
    assert "characters long" in messages[4].content
