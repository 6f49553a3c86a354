"""The Service Bus SQL-92 subset as a lark grammar, and parse errors worded like the service's.

One LALR parser has two start symbols: ``filter`` (a predicate) and ``actions`` (``SET`` and
``REMOVE`` statements, separated by an optional ``;`` or ``,``). The grammar accepts a value
wherever a predicate may stand and the reverse (``(a) + 1`` and ``(a = 1)`` share the
parenthesis rule); the compiler then rejects a value used as a predicate and vice versa, so
both mistakes get a syntax error at rule creation.
"""

from __future__ import annotations

from functools import cache, lru_cache

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from adapters.servicebus.filters.errors import RuleSyntaxError

GRAMMAR = r"""
?filter: or_expr

actions: statement ((";" | ",")? statement)* (";" | ",")?
?statement: _SET property EQ sum -> set_action
          | _REMOVE property -> remove_action

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> not_expr
         | predicate
?predicate: sum (EQ | COMPARE) sum -> compare
          | sum _IS _NULL -> is_null
          | sum _IS _NOT _NULL -> is_not_null
          | sum _IN "(" sum ("," sum)* ")" -> in_list
          | sum _NOT _IN "(" sum ("," sum)* ")" -> not_in_list
          | sum _LIKE sum (_ESCAPE sum)? -> like
          | sum _NOT _LIKE sum (_ESCAPE sum)? -> not_like
          | _EXISTS "(" property ")" -> exists
          | sum

?sum: product
    | sum (PLUS | MINUS) product -> arithmetic
?product: unary
        | product MUL_OP unary -> arithmetic
?unary: MINUS unary -> negative
      | PLUS unary -> positive
      | atom
?atom: INTEGER -> integer
     | DECIMAL -> decimal
     | FLOAT -> decimal
     | STRING -> string
     | _TRUE -> true
     | _FALSE -> false
     | _NULL -> null
     | PARAMETER -> parameter
     | NAME "(" [sum ("," sum)*] ")" -> function
     | property
     | "(" or_expr ")"

property: _name ("." _name)?
_name: NAME | DELIMITED | QUOTED

_AND.5: /and\b/i
_OR.5: /or\b/i
_NOT.5: /not\b/i
_IS.5: /is\b/i
_NULL.5: /null\b/i
_IN.5: /in\b/i
_LIKE.5: /like\b/i
_ESCAPE.5: /escape\b/i
_EXISTS.5: /exists\b/i
_TRUE.5: /true\b/i
_FALSE.5: /false\b/i
_SET.5: /set\b/i
_REMOVE.5: /remove\b/i

EQ: "="
COMPARE: /<>|!=|>=|<=|>|</
PLUS: "+"
MINUS: "-"
MUL_OP: /[*\/%]/
FLOAT.4: /(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+/
DECIMAL.3: /\d+\.\d*|\.\d+/
INTEGER.2: /\d+/
STRING: /'(?:[^']|'')*'/
DELIMITED: /\[(?:[^\]]|\]\])*\]/
QUOTED: /"(?:[^"]|"")*"/
PARAMETER: /@\w+/
NAME.1: /[^\W\d_]\w*/

%ignore /\s+/
"""


@cache
def _parser() -> Lark:
    """Built on first use: building it takes ~0.1 s, which a start with no SQL rules skips."""
    return Lark(
        GRAMMAR,
        parser="lalr",
        lexer="basic",
        start=["filter", "actions"],
        maybe_placeholders=True,
        propagate_positions=True,
    )


MAX_EXPRESSION_LENGTH = 1024
"""The service's limit on a filter or an action string."""

_PREFIX = "There was an error parsing the SQL expression."
_UNCLOSED = {
    "'": "The string constant is not closed with a single quote.",
    '"': "The quoted identifier is not closed with a double quote.",
    "[": "The delimited identifier is not closed with a right square bracket.",
}


def syntax_error(line: int, column: int, token: str, details: str) -> RuleSyntaxError:
    """A creation-time error pointing at a place in the expression, in the service's format."""
    return RuleSyntaxError(
        f"{_PREFIX} [Token line={line}, column={column}, Token in error= {token}, Additional details= {details}]",
        line,
        column,
    )


def _end(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


@lru_cache(maxsize=512)
def parse(text: str, start: str) -> Tree:
    """The parse tree of a filter (``start="filter"``) or action (``start="actions"``);
    RuleSyntaxError when the text is too long or not in the grammar."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise RuleSyntaxError(
            f"The SQL expression is {len(text)} characters long; at most {MAX_EXPRESSION_LENGTH} are allowed."
        )
    try:
        return _parser().parse(text, start=start)
    except UnexpectedCharacters as error:
        char = error.char
        details = _UNCLOSED.get(char, f"Unrecognized character. '{char}'")
        raise syntax_error(error.line, error.column, char, details) from None
    except UnexpectedToken as error:
        if error.token.type == "$END":
            line, column = _end(text)
            raise syntax_error(line, column, "", "Unexpected end of the expression.") from None
        token = str(error.token)
        raise syntax_error(error.line, error.column, token, f"Unexpected token '{token}'.") from None
