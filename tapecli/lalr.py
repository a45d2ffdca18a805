"""A small LALR(1) runtime for the parse tables lark builds from grammar/expr.lark.

lark analyses the grammar and computes the tables; importing lark, though,
takes longer than all the rest of a `tapecli` call, so the tables are kept in
tapecli/grammar_tables.py, and at run time this loop executes them. The loop
follows lark's own (lark/parsers/lalr_parser_state.py) and shapes results the
way lark's tree builder does: punctuation is filtered out, `?rule`s with one
child pass it through, `_rule`s are spliced into their parent, and each
`-> alias` calls the action of that name.

Regenerate the tables after editing the grammar (a test checks they match):

    python -m tapecli.lalr > tapecli/grammar_tables.py
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping

END = "$END"
_PACKAGE = os.path.dirname(os.path.abspath(__file__))
GRAMMAR_PATH = os.path.join(_PACKAGE, "grammar", "expr.lark")  # a wheel ships it inside
if not os.path.exists(GRAMMAR_PATH):  # a source checkout: the grammar sits beside the package
    GRAMMAR_PATH = os.path.join(os.path.dirname(_PACKAGE), "grammar", "expr.lark")


class Token(str):
    """A lexed terminal: its text, `type` (terminal name) and `start_pos`."""

    __slots__ = ("type", "start_pos")

    def __new__(cls, type_: str, text: str, start_pos: int):
        token = super().__new__(cls, text)
        token.type, token.start_pos = type_, start_pos
        return token

    @property
    def end_pos(self) -> int:
        return self.start_pos + len(self)


class ParseError(Exception):
    """The text stops following the grammar at `pos`.

    `token` is the unexpected token (None for a character no terminal matches,
    or the end of the text with type "$END"); `accepts` holds the terminals
    that would have been valid there, `last` the token before.
    """

    def __init__(self, pos: int, token: Token | None, accepts: set[str], last: Token | None):
        super().__init__(f"unexpected input at {pos}")
        self.pos, self.token, self.accepts, self.last = pos, token, accepts, last


class _Splice(list):
    """Children of an inlined `_rule`, to be spliced into the parent's."""


class Parser:
    def __init__(self, tables: Mapping):
        self._states = tables["STATES"]
        self._start, self._end = tables["START"], tables["END"]
        self._rules = tables["RULES"]
        self._terminals = [name for name, _ in tables["TERMINALS"]] + [END]
        ignore = set(tables["IGNORE"])
        self._lexer = re.compile("|".join(f"(?P<{name}>{pattern})"
                                          for name, pattern in tables["TERMINALS"]))
        self._ignore = ignore

    def parse(self, text: str, actions: Mapping[str, Callable]):
        """Run the tables over `text`; each `-> alias` reduction calls actions[alias]."""
        states, rules = self._states, self._rules
        state_stack, value_stack = [self._start], []
        last = None
        for token in self._tokens(text, state_stack, lambda: last):
            # Reductions before the shift. A failure is reported from the state
            # the token met, where the full set of valid terminals is known:
            # `undo` logs what this token's reductions popped, so that state can
            # be restored. (Copying the stack per token instead made deep input
            # quadratic: 100,000 parentheses took half a minute.)
            undo = []
            while True:
                action = states[state_stack[-1]].get(token.type)
                if action is None:
                    for popped in reversed(undo):
                        state_stack.pop()
                        state_stack.extend(popped)
                    raise ParseError(token.start_pos, token, self.accepts(state_stack), last)
                if action >= 0:
                    state_stack.append(action)
                    value_stack.append(token)
                    last = token
                    break
                origin, size, kept, alias, expand1 = rules[-1 - action]
                children = value_stack[len(value_stack) - size:] if size else []
                undo.append(state_stack[len(state_stack) - size:] if size else [])
                if size:
                    del state_stack[-size:]
                    del value_stack[-size:]
                value = self._reduce(origin, children, kept, alias, expand1, actions)
                state_stack.append(states[state_stack[-1]][origin])
                value_stack.append(value)
                if token.type == END and state_stack[-1] == self._end:
                    return value

    def accepts(self, state_stack: list[int]) -> set[str]:
        """The terminals valid after `state_stack`: each one is tried on a copy."""
        return {t for t in self._terminals if self._shifts(state_stack, t)}

    def _shifts(self, state_stack: list[int], terminal: str) -> bool:
        states, stack = self._states, state_stack[:]
        while True:
            action = states[stack[-1]].get(terminal)
            if action is None:
                return False
            if action >= 0:
                return True
            origin, size, *_ = self._rules[-1 - action]
            if size:
                del stack[-size:]
            stack.append(states[stack[-1]][origin])
            if terminal == END and stack[-1] == self._end:
                return True

    def _tokens(self, text: str, state_stack: list[int], last: Callable):
        pos, n, match = 0, len(text), self._lexer.match
        while pos < n:
            m = match(text, pos)
            if m is None:
                raise ParseError(pos, None, self.accepts(state_stack), last())
            if m.lastgroup not in self._ignore:
                yield Token(m.lastgroup, m.group(), pos)
            pos = m.end()
        yield Token(END, "", n)

    @staticmethod
    def _reduce(origin, children, kept, alias, expand1, actions):
        args = []
        for i in kept:
            child = children[i]
            if type(child) is _Splice:
                if not args and origin.startswith("_"):
                    args = child  # a list growing rule by rule: extend it in place, not copy
                else:
                    args.extend(child)
            else:
                args.append(child)
        if alias is not None:
            return actions[alias](*args)
        if origin.startswith("_"):
            return args if type(args) is _Splice else _Splice(args)
        if expand1 and len(args) == 1:
            return args[0]
        raise AssertionError(f"rule {origin} has no alias and {len(args)} children")


# ---- building the tables with lark (development time, or a stale table file) -------------
def build_tables(grammar: str) -> dict:
    """The parse tables of `grammar`, computed by lark's LALR analysis."""
    import lark

    parser = lark.Lark(grammar, parser="lalr")
    table = parser.parser.parser._parse_table
    conf = parser.lexer_conf
    # lark's lexer order: priority, then longest literal first, so `**` beats `*`.
    terminals = sorted(conf.terminals, key=lambda t: (-t.priority, -t.pattern.max_width,
                                                      -len(t.pattern.value), t.name))
    rules, rule_index = [], {}
    states = []
    for state in range(len(table.states)):
        row = {}
        for symbol, (action, arg) in sorted(table.states[state].items()):
            symbol = str(symbol)
            if action.name == "Shift":
                row[symbol] = arg
            else:
                if arg not in rule_index:
                    rule_index[arg] = len(rules)
                    kept = tuple(i for i, s in enumerate(arg.expansion)
                                 if not (s.is_term and s.filter_out))
                    rules.append((str(arg.origin.name), len(arg.expansion), kept,
                                  None if arg.alias is None else str(arg.alias),
                                  bool(arg.options.expand1)))
                row[symbol] = -1 - rule_index[arg]
        states.append(row)
    return {
        "GRAMMAR": grammar,
        "TERMINALS": [(str(t.name), t.pattern.to_regexp()) for t in terminals],
        "IGNORE": sorted(str(name) for name in conf.ignore),
        "START": table.start_states["start"],
        "END": table.end_states["start"],
        "RULES": rules,
        "STATES": states,
    }


def render(tables: dict) -> str:
    lines = ['"""Parse tables of grammar/expr.lark, computed by lark. Generated by',
             "`python -m tapecli.lalr > tapecli/grammar_tables.py`: do not edit.\"\"\"", ""]
    for key, value in tables.items():
        lines.append(f"{key} = {value!r}")
    return "\n".join(lines) + "\n"


def load_parser() -> Parser:
    """The parser for the grammar file, from the generated tables while they match it."""
    with open(GRAMMAR_PATH, encoding="utf-8") as f:
        grammar = f.read()
    from . import grammar_tables

    if grammar_tables.GRAMMAR == grammar:
        return Parser(vars(grammar_tables))
    return Parser(build_tables(grammar))  # edited grammar, tables not yet regenerated


if __name__ == "__main__":
    with open(GRAMMAR_PATH, encoding="utf-8") as f:
        sys.stdout.write(render(build_tables(f.read())))
