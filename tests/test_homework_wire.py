"""The grader's channel and judge, without a kernel (issue 16): exact round trips and exact refusals."""
from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import pickle

import numpy as np
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from tempguide.homework import wire
from tempguide.homework.judge import read_names, student_names


def round_trip(value, handles=None, make_handle=None):
    tree, buffers = wire.encode(value, handles)
    json.dumps(tree)  # the tree is plain JSON
    return wire.decode(json.loads(json.dumps(tree)), buffers, make_handle)


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**100, 1.5, -0.0, "ünïcode", 1 + 2j, [], (), {},
    [1, (2.5, "x"), {"a": [None]}], {1.0: "float key", (1, 2): "tuple key", "s": 3},
])
def test_python_values_round_trip_exactly(value):
    out = round_trip(value)
    assert out == value and type(out) is type(value)
    if isinstance(value, list):
        assert [type(x) for x in out] == [type(x) for x in value]


def test_special_floats_round_trip():
    out = round_trip([math.nan, math.inf, -math.inf, 5e-324])
    assert math.isnan(out[0]) and out[1:] == [math.inf, -math.inf, 5e-324]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64,
                                   torch.int8, torch.uint8, torch.bool, torch.complex64])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 4), (2, 3, 4)])
def test_tensors_round_trip_bitwise(dtype, shape):
    x = (torch.randn(shape, dtype=torch.float64) * 10).to(dtype) if dtype != torch.bool else torch.rand(shape) > 0.5
    if dtype.is_floating_point and x.numel():
        x.view(-1)[0] = math.nan
    y = round_trip(x)
    assert y.dtype == x.dtype and y.shape == x.shape
    assert torch.equal(y.reshape(-1).view(torch.uint8), x.reshape(-1).view(torch.uint8)) if x.numel() else True


def test_non_contiguous_views_and_grad_tensors_are_sent_as_values():
    x = torch.arange(12.0).reshape(3, 4).T
    assert torch.equal(round_trip(x), x)
    w = torch.ones(2, requires_grad=True) * 3
    out = round_trip(w)
    assert torch.equal(out, torch.full((2,), 3.0)) and not out.requires_grad


def test_numpy_arrays_scalars_generators_and_dtypes():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = round_trip({"a": a, "s": np.float32(2.5), "d": torch.float16})
    assert isinstance(out["a"], np.ndarray) and out["a"].dtype == np.int32 and (out["a"] == a).all()
    assert out["s"] == 2.5 and type(out["s"]) is float and out["d"] is torch.float16
    g = torch.Generator().manual_seed(3)
    torch.randn(5, generator=g)
    h = round_trip(g)
    assert torch.equal(torch.randn(4, generator=h), torch.randn(4, generator=g))


@dataclasses.dataclass
class Summary:
    mean: float
    weights: list


Pair = collections.namedtuple("Pair", "first second")


def test_dataclasses_and_namedtuples_arrive_as_fields_only():
    out = round_trip({"s": Summary(0.5, [0.2, 0.8]), "p": Pair(1, torch.tensor([2.0]))})
    assert out["s"].mean == 0.5 and out["s"].weights == [0.2, 0.8] and "Summary(mean=0.5" in repr(out["s"])
    assert not isinstance(out["s"], Summary)  # no class of the kernel is ever instantiated
    assert out["p"].first == 1 and out["p"][1].item() == 2.0 and out["p"]._fields == ("first", "second")


def test_unsendable_objects_are_refused_by_name():
    with pytest.raises(TypeError, match="builtins.module cannot be sent"):
        wire.encode({"m": os})
    with pytest.raises(TypeError, match="object cannot be sent"):
        wire.encode(object())
    with pytest.raises(TypeError, match="cannot be sent"):
        wire.encode(np.array([object()], dtype=object))
    nested = []
    for _ in range(wire.MAX_DEPTH + 5):
        nested = [nested]
    with pytest.raises(TypeError, match="nested deeper"):
        wire.encode(nested)


def test_callables_become_handles_only_when_the_sender_allows():
    registry = []

    def handles(obj):
        registry.append(obj)
        return wire.Handle(len(registry), getattr(obj, "__name__", "?"))

    with pytest.raises(TypeError):
        wire.encode(len)
    out = round_trip([len, abs], handles, lambda h, name: ("proxy", h, name))
    assert out == [("proxy", 1, "len"), ("proxy", 2, "abs")] and registry == [len, abs]
    tree, buffers = wire.encode(len, handles)
    with pytest.raises(wire.WireError, match="unknown encoded value"):
        wire.decode(tree, buffers)  # a grader that expects no handles refuses them


@pytest.mark.parametrize("tree, buffers, match", [
    ({"tensor": "object", "shape": [1], "buffer": 0}, [b"x" * 8], "dtype 'object' is not allowed"),
    ({"tensor": "float64", "shape": [2], "buffer": 0}, [b"x" * 8], "buffer of 8 bytes"),
    ({"tensor": "float64", "shape": [-1], "buffer": 0}, [b""], "bad shape"),
    ({"tensor": "float64", "shape": [1], "buffer": 3}, [b"x" * 8], "bad buffer index"),
    ({"pickle": "gASVAAAAAAAAAAB9lC4="}, [], "unknown encoded value"),
    ({"int": "1" * 5000}, [], "bad int"),
    ({"record": [["__class__", 1]], "type": "X"}, [], "bad field name"),
    ([1, 2], [], "unexpected list"),
    ({"dict": [[{"list": []}, {"int": "1"}]]}, [], "malformed value"),  # an unhashable key
])
def test_malformed_values_from_the_kernel_are_wire_errors(tree, buffers, match):
    with pytest.raises(wire.WireError, match=match):
        wire.decode(tree, buffers)


def test_frames_round_trip_and_refuse_oversize_and_garbage():
    r, w = os.pipe()
    wire.write_frame(w, {"id": 3, "x": [1, 2]}, [b"abc", b""])
    assert wire.read_frame(r) == ({"id": 3, "x": [1, 2]}, [b"abc", b""])
    wire.write_frame(w, {"big": True}, [b"x" * 1000])
    with pytest.raises(wire.WireError, match="larger than"):
        wire.read_frame(r, limit=500)
    os.close(w)
    r, w = os.pipe()
    os.write(w, (5).to_bytes(4, "little") + b"nope!")
    with pytest.raises(wire.WireError, match="unreadable header"):
        wire.read_frame(r)
    os.close(w)
    with pytest.raises(EOFError):
        wire.read_frame(r)


def test_reading_stops_at_the_deadline_on_a_half_sent_frame():
    import time
    r, w = os.pipe()
    os.write(w, (100).to_bytes(4, "little") + b'{"a"')  # the kernel stalls in the middle of a frame
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        wire.read_frame(r, deadline=start + 0.3)
    assert time.monotonic() - start < 2


def test_the_kernel_never_sends_pickles():
    tree, buffers = wire.encode({"t": torch.ones(2), "v": [1.5]})
    blob = json.dumps(tree).encode() + b"".join(buffers)
    assert pickle.PROTO not in blob[:2] and b"\x80\x04" not in blob and b"\x80\x05" not in blob


def test_mutable_leaves_walk_both_sides_in_the_same_order():
    a, b, g = torch.zeros(1), torch.ones(2), torch.Generator()
    leaves = wire.mutable_leaves((a, [1, {"k": b}], "s"), {"gen": g, "n": 3})
    assert leaves[0] is a and leaves[1] is b and leaves[2] is g and len(leaves) == 3


# --- the judge: which names the submission supplies ---------------------------------------------------------

def _solution(*sources):
    return new_notebook(cells=[new_code_cell(s) for s in sources])


def test_student_names_are_the_names_bound_by_statements_with_a_solution_region():
    nb = _solution(
        "import math\nbetas = [0.5, 1.0]\n",
        "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\ndef helper():\n    return 1\n",
        "n = 10\nresults, closed = {}, {}\n### BEGIN SOLUTION\nfor w in betas:\n    results[w] = f(w)\n"
        "    closed[w].attr = 2\ntotal = sum(results.values())\nimport numpy as np\n### END SOLUTION\n"
        "print(total)",
        "x = 1\n### BEGIN SOLUTION\n# HINT: nothing here\n### END SOLUTION\ny = 2\n",
    )
    assert student_names(nb) == {"f", "w", "results", "closed", "total", "np"}


def test_read_names_sees_names_inside_functions_lambdas_and_comprehensions():
    source = "assert all(kl[b] > 0 for b in betas)\ng = lambda z: D(z) + c\ndef h():\n    return greedy\nq = 1"
    assert read_names(source) == {"all", "kl", "b", "betas", "D", "z", "c", "greedy"}


def test_a_module_imported_in_a_solution_region_is_the_graders_own(tmp_path):
    """A region's ``import numpy as np`` makes ``np`` a student name; it cannot cross the wire, so the judge keeps its own."""
    import nbformat
    from nbformat.v4 import new_notebook as nb_
    from tempguide.homework import grade
    solution = nb_(cells=[
        new_code_cell("### BEGIN SOLUTION\nimport math as m\nvalue = m.sqrt(16.0)\n### END SOLUTION", metadata={
            "nbgrader": {"grade": False, "solution": True, "grade_id": "sqrt", "locked": False}}),
        new_code_cell("assert m.isclose(value, 4.0)", metadata={"nbgrader": {
            "grade": True, "solution": False, "grade_id": "ex", "points": 1}}),
    ], metadata={"tempguide": {"assignment": "mod"}})
    (tmp_path / "key").mkdir()
    nbformat.write(solution, tmp_path / "key" / "mod.ipynb")
    nbformat.write(solution, tmp_path / "mod.ipynb")
    environment = dict(os.environ)
    assert grade(tmp_path / "mod.ipynb", hidden=True, solutions=tmp_path / "key", timeout=30)["score"] == 1
    # Grading in-process leaves the environment alone: an MPLBACKEND=Agg left behind once reached every
    # notebook kernel started later by the same test session (their figures vanished).
    assert dict(os.environ) == environment
