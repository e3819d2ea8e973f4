"""``calculator``: arithmetic and math functions for a model, evaluated safely.

    from agentkit import Agent
    from agentkit_tools import calculator

    agent = Agent("openai:gpt-4o-mini", tools=[calculator])

The expression is parsed with ``ast.parse(mode="eval")`` and walked node by node against a
whitelist (numbers, ``+ - * / // % **``, parentheses, the functions in :data:`FUNCTIONS` and the
constants in :data:`CONSTANTS`); nothing is ever passed to ``eval``. Every step is bounded, so
no expression can hang or exhaust the process: integers are limited to :data:`MAX_DIGITS`
digits (checked *before* ``**``, ``factorial``, ``comb``... compute anything), nesting to
:data:`MAX_DEPTH` levels and the expression to :data:`MAX_EXPRESSION_CHARS` characters.
Anything else (names, strings, attributes, ``9**9**9``) is refused with a message that tells the
model what it can write instead.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Union

from agentkit import ModelRetry, tool

__all__ = ["calculator", "evaluate", "CalculatorError", "FUNCTIONS", "CONSTANTS", "MAX_DIGITS", "MAX_EXPRESSION_CHARS"]

Number = Union[int, float]

MAX_EXPRESSION_CHARS = 2_000
"""Longest expression accepted."""
MAX_DIGITS = 1_000
"""Largest integer magnitude a step may produce, in decimal digits."""
MAX_DEPTH = 60
"""Deepest nesting of operations accepted."""

_MAX_BITS = math.ceil(MAX_DIGITS * math.log2(10))
_LOG2_10 = math.log2(10)


class CalculatorError(ValueError):
    """An expression the calculator refuses or cannot evaluate; the message is written for the model."""


CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
"""Names an expression may use as numbers."""


# --- bounded arithmetic ----------------------------------------------------------------------


def _check(value: object) -> Number:
    """Refuse results that are not finite real numbers or that are too large."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if value.bit_length() > _MAX_BITS:
            raise CalculatorError(f"A number has more than {MAX_DIGITS} digits, which is over the calculator's limit.")
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise CalculatorError("The result is not a number (an undefined operation such as inf - inf).")
        if math.isinf(value):
            raise CalculatorError("The result overflowed (it is larger than about 1.8e308).")
        return value
    if isinstance(value, complex):
        raise CalculatorError(
            "The result is a complex number (e.g. a fractional power of a negative number); only real numbers are supported."
        )
    raise CalculatorError(f"Unsupported value of type {type(value).__name__}.")


def _short(value: Number) -> str:
    """A number for a message: in full when short, else its size."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"({len(str(abs(value)))}-digit number)"
    return repr(value)


def _pow(base: Number, exponent: Number) -> Number:
    # |base| ** exponent has about exponent * log2|base| bits: refuse before computing it
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * (abs(base).bit_length() - 1) > _MAX_BITS
    ):
        raise CalculatorError(
            f"{_short(base)}**{_short(exponent)} has more than {MAX_DIGITS} digits, which is over the calculator's limit."
        )
    if isinstance(exponent, int) and exponent < 0 and base == 0:
        raise CalculatorError("0 cannot be raised to a negative power (division by zero).")
    try:
        return _check(base**exponent)
    except OverflowError:
        raise CalculatorError("The result overflowed (it is larger than about 1.8e308).") from None


def _mul(a: Number, b: Number) -> Number:
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > _MAX_BITS + 1:
        raise CalculatorError(f"The result has more than {MAX_DIGITS} digits, which is over the calculator's limit.")
    return _check(a * b)


def _div(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculatorError("Division by zero.")
    try:
        return _check(a / b)
    except OverflowError:
        raise CalculatorError("The result overflowed (it is larger than about 1.8e308).") from None


def _floordiv(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculatorError("Division by zero.")
    return _check(a // b)


def _mod(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculatorError("Modulo by zero.")
    return _check(a % b)


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: lambda a, b: _check(a + b),
    ast.Sub: lambda a, b: _check(a - b),
    ast.Mult: _mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_HINTS: dict[type[ast.AST], str] = {
    ast.BitXor: "'^' is not a power here: write 2**10 for 2 to the power 10.",
    ast.BitAnd: "Bitwise '&' is not supported.",
    ast.BitOr: "Bitwise '|' is not supported.",
    ast.LShift: "'<<' is not supported: write a * 2**n.",
    ast.RShift: "'>>' is not supported: write a // 2**n.",
    ast.MatMult: "'@' is not supported.",
    ast.Invert: "'~' is not supported.",
    ast.Not: "'not' is not supported: the calculator only evaluates numbers.",
}


# --- functions -------------------------------------------------------------------------------


def _small_int(value: Number, what: str, limit: int) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise CalculatorError(f"{what} must be a whole number, not {value!r}.")
        value = int(value)
    if abs(value) > limit:
        raise CalculatorError(f"{what} must be at most {limit:,} in size, not {value}.")
    return value


def _digits_of_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(10) if n > 1 else 1.0


def _factorial(x: Number) -> Number:
    n = _small_int(x, "factorial's argument", 100_000)
    if n < 0:
        raise CalculatorError("factorial is only defined for non-negative whole numbers.")
    if _digits_of_factorial(n) > MAX_DIGITS:
        raise CalculatorError(f"factorial({n}) has more than {MAX_DIGITS} digits, which is over the calculator's limit.")
    return math.factorial(n)


def _comb(n: Number, k: Number) -> Number:
    n_, k_ = _small_int(n, "comb's n", 100_000), _small_int(k, "comb's k", 100_000)
    if n_ < 0 or k_ < 0:
        raise CalculatorError("comb(n, k) needs non-negative whole numbers.")
    if k_ <= n_ and _digits_of_factorial(n_) - _digits_of_factorial(k_) - _digits_of_factorial(n_ - k_) > MAX_DIGITS:
        raise CalculatorError(f"comb({n_}, {k_}) has more than {MAX_DIGITS} digits, which is over the calculator's limit.")
    return math.comb(n_, k_)


def _perm(n: Number, k: Number | None = None) -> Number:
    n_ = _small_int(n, "perm's n", 100_000)
    k_ = n_ if k is None else _small_int(k, "perm's k", 100_000)
    if n_ < 0 or k_ < 0:
        raise CalculatorError("perm(n, k) needs non-negative whole numbers.")
    if k_ <= n_ and _digits_of_factorial(n_) - _digits_of_factorial(n_ - k_) > MAX_DIGITS:
        raise CalculatorError(f"perm({n_}, {k_}) has more than {MAX_DIGITS} digits, which is over the calculator's limit.")
    return math.perm(n_, k_)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    return round(x, _small_int(ndigits, "round's ndigits", 400))


def _log(x: Number, base: Number | None = None) -> Number:
    return math.log(x) if base is None else math.log(x, base)


def _int_args(name: str, fn: Callable[..., int]) -> Callable[..., Number]:
    def wrapped(*args: Number) -> Number:
        if any(isinstance(a, float) and not a.is_integer() for a in args):
            raise CalculatorError(f"{name} needs whole numbers.")
        return fn(*(int(a) for a in args))

    return wrapped


def _minmax(fn: Callable[..., Number], name: str) -> Callable[..., Number]:
    def wrapped(*args: Number) -> Number:
        if not args:
            raise CalculatorError(f"{name} needs at least one number.")
        return fn(*args)

    return wrapped


FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    # name: (function, fewest arguments, most arguments)
    "sqrt": (math.sqrt, 1, 1),
    "cbrt": (lambda x: math.copysign(abs(x) ** (1 / 3), x), 1, 1),
    "exp": (math.exp, 1, 1),
    "log": (_log, 1, 2),
    "ln": (math.log, 1, 1),
    "log10": (math.log10, 1, 1),
    "log2": (math.log2, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
    "asin": (math.asin, 1, 1),
    "acos": (math.acos, 1, 1),
    "atan": (math.atan, 1, 1),
    "atan2": (math.atan2, 2, 2),
    "sinh": (math.sinh, 1, 1),
    "cosh": (math.cosh, 1, 1),
    "tanh": (math.tanh, 1, 1),
    "asinh": (math.asinh, 1, 1),
    "acosh": (math.acosh, 1, 1),
    "atanh": (math.atanh, 1, 1),
    "degrees": (math.degrees, 1, 1),
    "radians": (math.radians, 1, 1),
    "hypot": (math.hypot, 1, 32),
    "abs": (abs, 1, 1),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "trunc": (math.trunc, 1, 1),
    "round": (_round, 1, 2),
    "min": (_minmax(min, "min"), 1, 64),
    "max": (_minmax(max, "max"), 1, 64),
    "pow": (_pow, 2, 2),
    "factorial": (_factorial, 1, 1),
    "comb": (_comb, 2, 2),
    "perm": (_perm, 1, 2),
    "gcd": (_int_args("gcd", math.gcd), 1, 64),
    "lcm": (_int_args("lcm", math.lcm), 1, 64),
    "isqrt": (_int_args("isqrt", math.isqrt), 1, 1),
    "gamma": (math.gamma, 1, 1),
    "lgamma": (math.lgamma, 1, 1),
    "erf": (math.erf, 1, 1),
    "erfc": (math.erfc, 1, 1),
}
"""Functions an expression may call: ``name -> (function, fewest arguments, most arguments)``."""


# --- the walk --------------------------------------------------------------------------------


def _node_name(node: ast.AST) -> str:
    return type(node).__name__


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise CalculatorError(f"The expression is nested more than {MAX_DEPTH} levels deep; split it into steps.")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float, complex)):
            kind = "text" if isinstance(value, (str, bytes)) else repr(value)
            raise CalculatorError(f"Only numbers are allowed, not {kind}. Write the arithmetic with numbers only.")
        return _check(value)
    if isinstance(node, ast.BinOp):
        # a long chain like 1 + 2 + ... + 500 is nested on its left side: walk it without recursing
        chain: list[ast.BinOp] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp):
            chain.append(current)
            current = current.left
        value = _eval(current, depth + 1)
        for link in reversed(chain):
            op = _BINARY.get(type(link.op))
            if op is None:
                raise CalculatorError(_HINTS.get(type(link.op), f"The operator {_node_name(link.op)} is not supported."))
            value = op(value, _eval(link.right, depth + 1))
        return value
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise CalculatorError(_HINTS.get(type(node.op), f"The operator {_node_name(node.op)} is not supported."))
        return _check(unary(_eval(node.operand, depth + 1)))
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in FUNCTIONS:
            raise CalculatorError(f"{node.id} is a function: call it with parentheses, e.g. {node.id}(2).")
        raise CalculatorError(f"Unknown name {node.id!r}. {_vocabulary()}")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise CalculatorError(f"Only plain function calls like sqrt(2) are allowed. {_vocabulary()}")
        name = node.func.id
        if name not in FUNCTIONS:
            raise CalculatorError(f"Unknown function {name!r}. {_vocabulary()}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise CalculatorError(f"{name}() takes plain positional numbers (no keywords, no *args).")
        fn, fewest, most = FUNCTIONS[name]
        if not fewest <= len(node.args) <= most:
            want = str(fewest) if fewest == most else f"{fewest} to {most}"
            raise CalculatorError(f"{name}() takes {want} argument(s), not {len(node.args)}.")
        args = [_eval(a, depth + 1) for a in node.args]
        try:
            return _check(fn(*args))
        except CalculatorError:
            raise
        except OverflowError:
            raise CalculatorError(f"{name}() overflowed (the result is larger than about 1.8e308).") from None
        except (ValueError, ZeroDivisionError, TypeError) as e:
            raise CalculatorError(f"{name}() cannot take these arguments ({e}).") from None
    if isinstance(node, ast.Compare):
        raise CalculatorError("Comparisons are not supported: the calculator only computes numbers.")
    raise CalculatorError(f"{_node_name(node)} is not allowed in an expression. {_vocabulary()}")


def _vocabulary() -> str:
    return (
        "Use numbers, + - * / // % ** and parentheses, the constants "
        + ", ".join(CONSTANTS)
        + " and the functions "
        + ", ".join(FUNCTIONS)
        + "."
    )


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression safely and return the number.

    Raises:
        CalculatorError: the expression is not allowed, is invalid, or its result is over the limits;
            the message says why.
    """
    if not isinstance(expression, str):
        raise CalculatorError("The expression must be text.")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(
            f"The expression is {len(expression):,} characters long; the limit is {MAX_EXPRESSION_CHARS:,}. Split it into steps."
        )
    text = expression.strip()
    if not text:
        raise CalculatorError("The expression is empty. Example: (2 + 3) * sqrt(16)")
    if "\x00" in text:
        raise CalculatorError("The expression contains a NUL character.")
    text = text.replace("×", "*").replace("÷", "/").replace("−", "-")  # noqa: RUF001 - typographic signs models write
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise CalculatorError(f"The expression is not valid syntax ({e.msg}). Example: (2 + 3) * sqrt(16)") from None
    except (RecursionError, MemoryError, ValueError):
        raise CalculatorError("The expression is too deeply nested or malformed; split it into steps.") from None
    try:
        return _eval(tree, 0)
    except RecursionError:
        raise CalculatorError(f"The expression is nested too deeply; split it into steps (at most {MAX_DEPTH} levels).") from None
    except ZeroDivisionError:
        raise CalculatorError("Division by zero.") from None
    except OverflowError:
        raise CalculatorError("The result overflowed (it is larger than about 1.8e308).") from None


def format_number(value: Number) -> str:
    """A result as text: integers in full, floats in their shortest exact form."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


@tool
def calculator(expression: str) -> str:
    """Evaluate a math expression exactly and return the result.

    Supports numbers, + - * / // (floor division) % (remainder) ** (power) and parentheses;
    constants pi, e, tau; functions sqrt, cbrt, exp, log (natural, or log(x, base)), ln, log10,
    log2, sin, cos, tan (radians), asin, acos, atan, atan2, sinh, cosh, tanh, asinh, acosh, atanh,
    degrees, radians, hypot, abs, floor, ceil, trunc, round, min, max, pow, factorial, comb, perm,
    gcd, lcm, isqrt, gamma, lgamma, erf, erfc. Integers are exact (up to 1000 digits). No units,
    variables or text.

    Args:
        expression: The expression, e.g. "(2 + 3) * sqrt(16)" or "1e6 * 1.05**10".
    """
    try:
        return format_number(evaluate(expression))
    except CalculatorError as e:
        raise ModelRetry(f"Cannot evaluate the expression: {e}") from None
