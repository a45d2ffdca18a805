"""tf.Module: a container of Variables and other Modules, found by walking its attributes.

TensorFlow's guides subclass it for models and optimizers. As in TensorFlow, a
module's `variables`, `trainable_variables` and `submodules` are not registered
anywhere: they are found on demand by walking the module's attributes (sorted by
name), into lists, tuples and dicts (dicts by sorted key) and then into the
submodules found, each object once. A subclass need not call `__init__` for the
walk to work; only `name` and `name_scope` need it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator

from .tensor import Variable, name_scope

# TensorFlow's rule: MyModel -> my_model, HTTPServer -> http_server.
_CAMEL_TO_SNAKE = re.compile(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))")


class Module:
    """The base of models and other containers of Variables (tf.Module)."""

    def __init__(self, name: str | None = None):
        if name is None:
            name = _CAMEL_TO_SNAKE.sub(r"_\1", type(self).__name__).lower()
        elif not name.isidentifier():
            raise ValueError(f"{name!r} is not a valid module name. Module names must be "
                             "valid Python identifiers (e.g. a valid class name).")
        self._name = name
        # The scope is fixed when the module is made, inside any enclosing scope.
        with name_scope(name) as full_name:
            self._name_scope = name_scope(full_name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def name_scope(self) -> name_scope:
        """The module's name scope: Variables made inside `with module.name_scope:`
        are named "module_name/..."."""
        return self._name_scope

    @property
    def variables(self) -> tuple[Variable, ...]:
        """Every Variable of this module and its submodules, each once."""
        return tuple(self._flatten(lambda x: isinstance(x, Variable)))

    @property
    def trainable_variables(self) -> tuple[Variable, ...]:
        """The trainable Variables of this module and its submodules, each once."""
        return tuple(self._flatten(lambda x: isinstance(x, Variable) and x.trainable))

    @property
    def non_trainable_variables(self) -> tuple[Variable, ...]:
        return tuple(self._flatten(lambda x: isinstance(x, Variable) and not x.trainable))

    @property
    def submodules(self) -> tuple[Module, ...]:
        """Every Module reachable from this one's attributes (itself excluded)."""
        return tuple(self._flatten(lambda x: isinstance(x, Module)))

    def _flatten(self, predicate: Callable) -> Iterator:
        return _walk(self, predicate, seen={id(self)})

    @classmethod
    def with_name_scope(cls, method: Callable) -> Callable:
        """Decorate a method to run inside the module's name scope."""
        @functools.wraps(method)
        def method_with_name_scope(self, *args, **kwargs):
            with self.name_scope:
                return method(self, *args, **kwargs)
        return method_with_name_scope


def _walk(module: Module, predicate: Callable, seen: set[int]) -> Iterator:
    """TensorFlow's order: this module's own leaves by attribute name, then each
    submodule found, depth first. `seen` (ids of what was met, the root included)
    keeps each object once and stops cycles."""
    submodules = []
    for key in sorted(vars(module)):
        for leaf in _leaves(vars(module)[key]):
            if id(leaf) in seen:
                continue
            seen.add(id(leaf))
            if predicate(leaf):
                yield leaf
            if isinstance(leaf, Module):
                submodules.append(leaf)
    for submodule in submodules:
        yield from _walk(submodule, predicate, seen)


def _leaves(value) -> Iterator:
    """The leaves of nested lists, tuples and dicts (dicts in sorted key order)."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from _leaves(value[key])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value
