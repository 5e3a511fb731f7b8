"""Calculated data fields: formulas over other fields' keys, evaluated with simpleeval
(a safe expression evaluator: no attribute access, no imports, no ``eval``)."""

from __future__ import annotations

import ast
import math
from decimal import ROUND_HALF_UP, Decimal

import simpleeval

from mes.errors import DomainError


def _round_half_up(value, digits=0):
    """round() as people and dose tables do it (2.5 -> 3), not Python's half-to-even."""
    return float(Decimal(str(value)).quantize(Decimal(1).scaleb(-int(digits)), ROUND_HALF_UP))


# Arithmetic only, plus a few functions a process formula needs. No random, no str().
FUNCTIONS = {"min": min, "max": max, "abs": abs, "round": _round_half_up, "sqrt": math.sqrt}
# A power's exponent must be a number written in the formula, at most this large: an
# exponent from a field, or 9**3999999, would tie a worker up for seconds.
MAX_EXPONENT = 10
# Results are floats inside; what is stored keeps this many significant digits, so that
# 0.1 + 0.2 is 0.3 and not 0.30000000000000004.
SIGNIFICANT_DIGITS = 12


# Arithmetic only: no attributes, subscripts, strings, comparisons or comprehensions.
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Call,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.Mod,
    ast.FloorDiv,
    ast.USub,
    ast.UAdd,
)


def _allowed(node) -> bool:
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS and not node.keywords
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    return isinstance(node, _ALLOWED_NODES)


class FormulaRefused(DomainError):
    code = "invalid_formula"


def names_in(formula: str) -> set[str]:
    """The field keys a formula reads (refused if it does not parse)."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise FormulaRefused(
            f"The formula “{formula}” is not a valid expression.",
            fields={"formula": ["Not a valid expression."]},
        ) from exc
    for node in ast.walk(tree):
        if not _allowed(node):
            raise FormulaRefused(
                f"The formula “{formula}” may use only numbers, field keys, arithmetic and "
                f"{', '.join(sorted(FUNCTIONS))}.",
                fields={"formula": ["Only arithmetic over field keys."]},
            )
    for node in ast.walk(tree):
        if isinstance(node, ast.Pow) or not isinstance(node, ast.BinOp) or not isinstance(
                node.op, ast.Pow):
            continue
        exponent = node.right
        if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub | ast.UAdd):
            exponent = exponent.operand
        if not (isinstance(exponent, ast.Constant) and abs(exponent.value) <= MAX_EXPONENT):
            raise FormulaRefused(
                f"The formula “{formula}” raises to a power other than a number up to "
                f"{MAX_EXPONENT}.", fields={"formula": [f"Exponents up to {MAX_EXPONENT}."]})
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - called


def check_formula(formula: str, known_keys: set[str]) -> set[str]:
    """Refuse a formula that names unknown fields or uses anything but arithmetic; return
    the keys it reads. Checked when the field is authored, not when the batch runs."""
    formula = (formula or "").strip()
    if not formula:
        raise FormulaRefused(
            "A calculated field needs a formula.",
            fields={"formula": ["Required for a calculated field."]},
        )
    names = names_in(formula)
    unknown = sorted(names - known_keys)
    if unknown:
        raise FormulaRefused(
            f"The formula “{formula}” names unknown fields: {', '.join(unknown)}.",
            fields={"formula": [f"Unknown field: {name}" for name in unknown]},
        )
    try:
        evaluate(formula, {name: Decimal(1) for name in names})
    except ZeroDivisionError:
        pass  # the trial values, not the formula, divided by zero
    except FormulaRefused:
        raise
    return names


def evaluate(formula: str, values: dict[str, Decimal]) -> Decimal:
    """The formula's value for the recorded values (floats inside, a Decimal out)."""
    evaluator = simpleeval.SimpleEval(
        names={k: float(v) for k, v in values.items()}, functions=FUNCTIONS
    )
    try:
        result = evaluator.eval(formula)
    except ZeroDivisionError:
        raise
    except (simpleeval.InvalidExpression, SyntaxError, TypeError, ValueError, ArithmeticError,
            RecursionError, MemoryError) as exc:
        if isinstance(exc, ZeroDivisionError):
            raise
        raise FormulaRefused(
            f"The formula “{formula}” cannot be used: {exc}", fields={"formula": [str(exc)]}
        ) from exc
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise FormulaRefused(
            f"The formula “{formula}” does not give a number.",
            fields={"formula": ["Does not give a number."]},
        )
    if not math.isfinite(result):
        raise FormulaRefused(
            f"The formula “{formula}” gives no finite number for these values.",
            fields={"formula": ["No finite result."]},
        )
    return Decimal(format(result, f".{SIGNIFICANT_DIGITS}g"))
