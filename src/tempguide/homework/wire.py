"""The channel between the grader and the submission's kernel (book: "Homework"; README: "Trust model").

Messages are frames on a pipe the grader opened: a JSON header and raw byte
buffers.  The two directions are deliberately asymmetric:

- **grader -> kernel**: requests, pickled with ``cloudpickle`` (the grader is
  trusted; the kernel may unpickle what it sends, e.g. a toy mixture or a lambda).
- **kernel -> grader**: **data only**.  ``encode`` turns a value into JSON plus
  buffers and ``decode`` rebuilds it from a closed list of types (numbers,
  strings, lists, tuples, dicts, tensors and arrays of plain dtypes, generator
  states, and *handles* for callables that stay in the kernel).  Nothing the
  kernel sends is ever unpickled or executed, sizes are checked before anything
  is allocated, and a malformed frame is a ``WireError``.

This module uses only the standard library at import time (the kernel imports it
before anything else); torch and numpy are imported when a tensor is met.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import math
import os
import select
import struct
import sys
import time
import types

MAX_FRAME = 512 * 2**20  # bytes of one kernel -> grader message
MAX_DEPTH = 32  # nesting of lists / dicts
MAX_ITEMS = 1_000_000  # elements of all containers in one value
DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "complex64", "complex128")


class WireError(ValueError):
    """A frame or an encoded value that breaks the protocol (sent by the kernel: never trusted)."""


# --- frames -----------------------------------------------------------------------------------------

def write_frame(fd: int, header: dict, buffers: list[bytes] = ()) -> None:
    """One frame: u32 header length, the JSON header, u32 buffer count, then u64 length + bytes per buffer."""
    head = json.dumps(header, allow_nan=True).encode()
    parts = [struct.pack("<I", len(head)), head, struct.pack("<I", len(buffers))]
    for b in buffers:
        parts += [struct.pack("<Q", len(b)), bytes(b)]
    data = memoryview(b"".join(parts))
    while data:
        data = data[os.write(fd, data):]


def _read_exact(fd: int, n: int, budget: list[int], deadline: float | None) -> bytes:
    if n > budget[0]:
        raise WireError(f"frame larger than the {MAX_FRAME // 2**20} MB limit")
    budget[0] -= n
    chunks, left = [], n
    while left:
        if deadline is not None and not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise TimeoutError("no answer before the deadline")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the other end closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int = MAX_FRAME, deadline: float | None = None) -> tuple[dict, list[bytes]]:
    """``(header, buffers)`` of the next frame; ``EOFError`` at the end, ``WireError`` if malformed.

    ``deadline`` (a ``time.monotonic()`` value): ``TimeoutError`` if the frame is not complete by then.
    """
    budget = [limit]
    (n,) = struct.unpack("<I", _read_exact(fd, 4, budget, deadline))
    try:
        header = json.loads(_read_exact(fd, n, budget, deadline))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"unreadable header: {e}") from None
    if not isinstance(header, dict):
        raise WireError("the header is not a JSON object")
    (count,) = struct.unpack("<I", _read_exact(fd, 4, budget, deadline))
    buffers = []
    for _ in range(count):
        (size,) = struct.unpack("<Q", _read_exact(fd, 8, budget, deadline))
        buffers.append(_read_exact(fd, size, budget, deadline))
    return header, buffers


# --- values: kernel -> grader -------------------------------------------------------------------------

class Record(types.SimpleNamespace):
    """A dataclass instance of the kernel, received as its fields (attribute access, no methods)."""

    def __init__(self, type_name: str, fields: dict):
        super().__init__(**fields)
        object.__setattr__(self, "_type_name", type_name)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "_type_name")
        return f"{self._type_name}({fields})"


class Handle:
    """A callable that stays in the kernel: the grader calls it through the channel (see ``remote``)."""

    def __init__(self, id: int, name: str):
        self.id, self.name = id, name


def encode(value, handles=None) -> tuple[object, list[bytes]]:
    """``(json-able tree, buffers)`` for ``value``; ``handles(obj) -> Handle`` registers kernel callables.

    Raises ``TypeError`` naming the type of anything else (a module, an open file, ...).
    """
    buffers: list[bytes] = []
    count = [0]

    def enc(v, depth):
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise TypeError(f"the value is nested deeper than {MAX_DEPTH} or has more than {MAX_ITEMS} items")
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return {"int": str(v)}  # exact, whatever its size
        if isinstance(v, float):
            return {"float": repr(v)}  # nan and inf included
        if isinstance(v, complex):
            return {"complex": [repr(v.real), repr(v.imag)]}
        if isinstance(v, tuple) and isinstance(getattr(v, "_fields", None), tuple):  # a namedtuple
            return {"namedtuple": [[f, enc(x, depth + 1)] for f, x in zip(v._fields, v)], "type": type(v).__name__}
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {"record": [[f.name, enc(getattr(v, f.name), depth + 1)] for f in dataclasses.fields(v)],
                    "type": type(v).__qualname__}
        if isinstance(v, (list, tuple)):
            return {"list" if isinstance(v, list) else "tuple": [enc(x, depth + 1) for x in v]}
        if isinstance(v, dict):
            return {"dict": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        kind = type(v).__module__.split(".")[0]
        if kind == "torch":
            import torch
            if isinstance(v, torch.Tensor):
                t = v.detach().cpu().contiguous()
                buffers.append(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
                return {"tensor": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "buffer": len(buffers) - 1}
            if isinstance(v, torch.Generator):
                return {"generator": enc(v.get_state(), depth + 1)}
            if isinstance(v, torch.dtype):
                return {"torch_dtype": str(v).removeprefix("torch.")}
        if kind == "numpy":
            import numpy as np
            if isinstance(v, np.generic):
                return enc(v.item(), depth)
            if isinstance(v, np.ndarray) and v.dtype.kind in "biufc":
                a = np.ascontiguousarray(v)
                buffers.append(a.tobytes())
                return {"ndarray": str(a.dtype), "shape": list(a.shape), "buffer": len(buffers) - 1}
        if callable(v) and handles is not None:
            h = handles(v)
            return {"handle": h.id, "name": h.name}
        raise TypeError(f"a {type(v).__module__}.{type(v).__qualname__} cannot be sent to the grader "
                        "(numbers, strings, lists, tuples, dicts, tensors, arrays and functions can)")

    return enc(value, 0), buffers


def decode(tree, buffers: list[bytes], make_handle=None):
    """The value ``encode`` described; ``WireError`` on anything else.  ``make_handle(id, name)`` builds proxies."""
    count = [0]

    def array(dtype_name, shape, index, torch_tensor):
        if dtype_name not in DTYPES:
            raise WireError(f"dtype {dtype_name!r} is not allowed")
        if not (isinstance(shape, list) and all(isinstance(n, int) and 0 <= n < 2**40 for n in shape)):
            raise WireError("bad shape")
        if not (isinstance(index, int) and 0 <= index < len(buffers)):
            raise WireError("bad buffer index")
        import torch
        dtype = getattr(torch, dtype_name)
        n = math.prod(shape)
        data = buffers[index]
        if len(data) != n * torch.empty((), dtype=dtype).element_size():
            raise WireError(f"buffer of {len(data)} bytes for a {dtype_name} array of shape {shape}")
        t = torch.frombuffer(bytearray(data), dtype=dtype) if n else torch.empty(0, dtype=dtype)
        t = t.reshape(shape)
        return t if torch_tensor else t.numpy()

    def dec(v, depth):
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise WireError("value nested too deeply or too large")
        if v is None or isinstance(v, (bool, str)):
            return v
        if not isinstance(v, dict) or len(v) not in (1, 2, 3):
            raise WireError(f"unexpected {type(v).__name__} in an encoded value")
        try:
            if "int" in v and len(v) == 1:
                if not isinstance(v["int"], str) or len(v["int"]) > 4300:
                    raise WireError("bad int")
                return int(v["int"])
            if "float" in v and len(v) == 1:
                return float(v["float"])
            if "complex" in v and len(v) == 1:
                re, im = v["complex"]
                return complex(float(re), float(im))
            if "list" in v and len(v) == 1 and isinstance(v["list"], list):
                return [dec(x, depth + 1) for x in v["list"]]
            if "tuple" in v and len(v) == 1 and isinstance(v["tuple"], list):
                return tuple(dec(x, depth + 1) for x in v["tuple"])
            if "dict" in v and len(v) == 1 and isinstance(v["dict"], list):
                out = {}
                for pair in v["dict"]:
                    k, x = pair
                    out[dec(k, depth + 1)] = dec(x, depth + 1)
                return out
            if ("record" in v or "namedtuple" in v) and len(v) == 2 and isinstance(v["type"], str):
                kind = "record" if "record" in v else "namedtuple"
                fields = {}
                for pair in v[kind]:
                    name, x = pair
                    if not (isinstance(name, str) and name.isidentifier() and not name.startswith("_")):
                        raise WireError(f"bad field name {str(name)[:40]!r}")
                    fields[name] = dec(x, depth + 1)
                type_name = v["type"][:100] if v["type"].replace(".", "").isidentifier() else "Record"
                if kind == "record":
                    return Record(type_name, fields)
                return collections.namedtuple(type_name.split(".")[-1], list(fields))(**fields)
            if "tensor" in v and len(v) == 3:
                return array(v["tensor"], v["shape"], v["buffer"], True)
            if "ndarray" in v and len(v) == 3:
                return array(v["ndarray"], v["shape"], v["buffer"], False)
            if "generator" in v and len(v) == 1:
                import torch
                g = torch.Generator()
                g.set_state(dec(v["generator"], depth + 1))
                return g
            if "torch_dtype" in v and len(v) == 1 and v["torch_dtype"] in DTYPES:
                import torch
                return getattr(torch, v["torch_dtype"])
            if "handle" in v and len(v) == 2 and make_handle is not None:
                if not isinstance(v["handle"], int) or not isinstance(v["name"], str):
                    raise WireError("bad handle")
                return make_handle(v["handle"], v["name"][:200])
        except WireError:
            raise
        except (TypeError, ValueError, RuntimeError, KeyError) as e:  # malformed pieces, unhashable keys, ...
            raise WireError(f"malformed value: {type(e).__name__}: {e}") from None
        raise WireError(f"unknown encoded value with keys {sorted(v)[:3]}")

    return dec(tree, 0)


# --- arguments: what a call may change in place ---------------------------------------------------------

def mutable_leaves(args, kwargs) -> list:
    """Tensors and generators in ``args``/``kwargs`` (through lists, tuples and dicts), in a fixed order.

    Both ends walk their own copy the same way, so the kernel can send back their
    values after a call and the grader can apply in-place changes to its originals.
    """
    torch = sys.modules.get("torch")
    if torch is None:  # nothing was unpickled into a tensor, and importing torch here would cost seconds
        return []
    out = []

    def walk(v, depth):
        if depth > MAX_DEPTH:
            return
        if isinstance(v, (torch.Tensor, torch.Generator)):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x, depth + 1)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x, depth + 1)

    walk(list(args), 0)
    walk(dict(kwargs), 0)
    return out
