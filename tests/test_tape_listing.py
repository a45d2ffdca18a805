"""tapecli.tape_listing (`tapecli trace`): the recorded tape and its backward pass, checked against calculus."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapecli
from tapecli.errors import DataError, UsageError
from tapecli.tape_listing import list_tape, listing_json, listing_text


def test_forward_and_backward_of_a_polynomial():
    # x**2 + 3*x + 1 at 3: values 3, 9, 9, 18, 19; df/dx = 2x + 3 = 9
    trace = list_tape(tapecli.parse("x**2+3*x+1"), {"x": 3.0})
    assert [(n.id, n.op, n.inputs, n.value) for n in trace.nodes] == [
        ("%1", "variable", (), 3.0),
        ("%2", "pow", ("%1", 2.0), 9.0),
        ("%3", "multiply", (3.0, "%1"), 9.0),
        ("%4", "add", ("%2", "%3"), 18.0),
        ("%5", "add", ("%4", 1.0), 19.0),
    ]
    assert trace.output == "%5" and trace.value == 19.0
    assert [n.adjoint for n in trace.nodes] == [9.0, 1.0, 1.0, 1.0, 1.0]
    # pow sends 2x = 6 to x and nothing to its constant exponent; 3*x sends 3
    assert trace.nodes[1].vjp == (6.0, None)
    assert trace.nodes[2].vjp == (None, 3.0)


def test_expression_method_delegates_here():
    trace = tapecli.parse("x*x").trace({"x": 3.0})
    assert trace.nodes[1].vjp == (3.0, 3.0)  # both factors get x; together d(x²)/dx = 6
    assert trace.nodes[0].adjoint == 6.0


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(-3, 3))
def test_adjoints_are_the_gradient_and_the_sum_of_what_is_sent(x, y):
    # f = xy + sin(x) e^y: df/dx = y + cos(x) e^y, df/dy = x + sin(x) e^y
    trace = list_tape(tapecli.parse("x*y + sin(x)*exp(y)"), {"x": x, "y": y})
    by_name = {n.name: n.adjoint for n in trace.nodes if n.op == "variable"}
    assert by_name["x"] == pytest.approx(y + math.cos(x) * math.exp(y), rel=1e-12, abs=1e-12)
    assert by_name["y"] == pytest.approx(x + math.sin(x) * math.exp(y), rel=1e-12, abs=1e-12)
    # the chain rule: a node's adjoint is what the ops that use it send to it
    received: dict[str, float] = {}
    for node in trace.nodes:
        for source, sent in zip(node.inputs, node.vjp):
            if sent is not None:
                received[source] = received.get(source, 0.0) + sent
    for node in trace.nodes:
        if node.id != trace.output:
            assert node.adjoint == pytest.approx(received[node.id], rel=1e-12, abs=1e-15)
    assert trace.value == pytest.approx(x * y + math.sin(x) * math.exp(y), rel=1e-12, abs=1e-12)


def test_wrt_leaves_nodes_that_do_not_depend_on_it_without_adjoint():
    # with respect to y only: sin(x) does not depend on y; d(xy + sin x)/dy = x = 2
    trace = list_tape(tapecli.parse("x*y + sin(x)"), {"x": 2.0, "y": 5.0}, ["y"])
    adjoints = {n.op if n.op != "variable" else n.name: n.adjoint for n in trace.nodes}
    assert adjoints == {"x": None, "y": 2.0, "multiply": 1.0, "sin": None, "add": 1.0}


def test_constant_expression_records_nothing():
    trace = list_tape(tapecli.parse("2*pi"), {})
    assert trace.nodes == () and trace.output is None and trace.value == 2 * math.pi
    assert "nothing recorded" in listing_text(trace)


def test_errors():
    with pytest.raises(DataError, match="'y' has no value"):
        list_tape(tapecli.parse("x*y"), {"x": 1.0})
    with pytest.raises(UsageError, match="--wrt z"):
        list_tape(tapecli.parse("x*y"), {"x": 1.0, "y": 2.0}, ["z"])


def test_text_reads_like_a_jaxpr():
    text = listing_text(list_tape(tapecli.parse("x*y"), {"x": 2.0, "y": 3.0}))
    lines = [line.split() for line in text.splitlines()]
    assert ["%3", "=", "multiply", "%1", "%2", "->", "6.0", "(f)"] in lines
    # d(xy)/dx = y = 3, d(xy)/dy = x = 2
    assert ["%3", "multiply", "adjoint", "1.0", "->", "%1", "+=", "3.0", "%2", "+=", "2.0"] \
        == [w.rstrip(",") for w in lines[-3]]
    assert lines[-2:] == [["%2", "y", "adjoint", "2.0", "=", "df/dy"],
                          ["%1", "x", "adjoint", "3.0", "=", "df/dx"]]


def test_json_is_a_strict_list_of_nodes():
    # log(x) at 0: -inf, and d/dx log x = inf: both null in strict JSON
    nodes = json.loads(listing_json(list_tape(tapecli.parse("log(x)"), {"x": 0.0})))
    assert nodes == [
        {"id": "%1", "op": "variable", "name": "x", "inputs": [], "value": 0.0, "adjoint": None},
        {"id": "%2", "op": "log", "inputs": ["%1"], "value": None, "adjoint": 1.0,
         "vjp": [None], "output": True},
    ]
