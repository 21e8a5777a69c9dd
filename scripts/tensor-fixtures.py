#!/usr/bin/python3
"""NumPy reference values for the tensor engine's tests.

Run with Debian's python3-numpy:  /usr/bin/python3 scripts/tensor-fixtures.py
Writes test/tensor/fixtures/*.json (committed). The op list and each op's NumPy expression and input
domain are read from actors/tensor/ops/specs.ts, so the fixtures follow the same specs as the kernels.
Each case names its inputs (contiguous base arrays) and a view recipe applied to them
(permute / slice / expand), so transposed, sliced and broadcast inputs are exercised without copies.
"""
import json
import math
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "tensor", "fixtures")
rng = np.random.default_rng(20240607)


def read_specs():
    src = open(os.path.join(ROOT, "actors", "tensor", "ops", "specs.ts")).read()
    starts = [m.start() for m in re.finditer(r"\{\s*name: '", src)]
    specs = []
    for i, s in enumerate(starts):
        chunk = src[s: starts[i + 1] if i + 1 < len(starts) else len(src)]
        name = re.search(r"name: '(\w+)'", chunk).group(1)
        kind = re.search(r"kind: '(\w+)'", chunk).group(1)
        numpy = re.search(r"numpy: '([^']+)'", chunk).group(1)
        dtypes = re.search(r"dtypes: (\w+)", chunk).group(1)
        spec = {"name": name, "kind": kind, "numpy": numpy, "ints": dtypes == "FI"}
        for key in ("domain", "domainA", "domainB"):
            m = re.search(key + r": \[([-\d.]+), ([-\d.]+)\]", chunk)
            if m:
                spec[key] = (float(m.group(1)), float(m.group(2)))
        out = re.search(r"out: '(\w+)'", chunk)
        spec["out"] = out.group(1) if out else "same"
        specs.append(spec)
    return specs


inputs = {}


def add_input(arr, dtype="f32"):
    key = "i%d" % len(inputs)
    flat = arr.reshape(-1)
    data = [int(v) for v in flat] if dtype == "i32" else [float("%.9g" % np.float32(v)) for v in flat]
    inputs[key] = {"shape": list(arr.shape), "dtype": dtype, "data": data}
    return key


def apply_view(x, view):
    for step in view:
        if step[0] == "permute":
            x = np.transpose(x, step[1])
        elif step[0] == "slice":
            dim, start, end, stride = step[1:]
            idx = [slice(None)] * x.ndim
            idx[dim] = slice(start, end, stride)
            x = x[tuple(idx)]
        elif step[0] == "expand":
            x = np.broadcast_to(x, step[1])
    return x


def base_for(shape, layout):
    """(base shape, view recipe) giving a view of `shape` with the requested memory layout."""
    shape = list(shape)
    if layout == "contiguous" or len(shape) == 0:
        return shape, []
    if layout == "transposed":
        return shape[::-1], [["permute", list(range(len(shape)))[::-1]]]
    if layout == "sliced":
        return [2 * shape[0] + 1] + shape[1:], [["slice", 0, 1, None, 2]]
    if layout == "broadcast":
        return shape[:-1] + [1], [["expand", shape]]
    raise ValueError(layout)


def draw(shape, lo=-2.0, hi=2.0, dtype="f32", ties=False):
    if dtype == "i32":
        return rng.integers(-5, 6, size=shape).astype(np.int32)
    a = rng.uniform(lo, hi, size=shape)
    if ties:
        a = np.round(a * 2) / 2
    return a.astype(np.float32)


def arg(shape, layout, lo=-2.0, hi=2.0, dtype="f32", ties=False):
    base_shape, view = base_for(shape, layout)
    base = draw(base_shape, lo, hi, dtype, ties)
    return {"input": add_input(base, dtype), "view": view}, apply_view(base, view)


def encode(arr, dtype):
    arr = np.asarray(arr)
    if dtype == "i32":
        data = [int(v) for v in arr.reshape(-1)]
    else:
        data = [float("%.9g" % np.float32(v)) for v in arr.reshape(-1)]
    return {"shape": list(arr.shape), "dtype": dtype, "data": data}


def f64(x):
    return x.astype(np.float64) if x.dtype == np.float32 else x


SHAPES = {0: [], 1: [7], 2: [5, 6], 3: [3, 4, 5], 4: [2, 3, 2, 3]}
LAYOUTS = ["contiguous", "transposed", "sliced", "broadcast"]


def layouts_for(rank):
    if rank == 0:
        return ["contiguous"]
    if rank == 1:
        return ["contiguous", "sliced", "broadcast"]
    return LAYOUTS


def unary_cases(specs):
    cases = []
    for s in specs:
        if s["kind"] != "unary":
            continue
        lo, hi = s.get("domain", (-2.0, 2.0))
        for rank, shape in SHAPES.items():
            for layout in layouts_for(rank):
                a, x = arg(shape, layout, lo, hi)
                y = eval(s["numpy"], {"np": np, "x": f64(x)})
                cases.append({"op": s["name"], "args": [a], "layout": layout, "expected": encode(y, "f32")})
        if s["ints"]:
            a, x = arg([4, 5], "transposed", dtype="i32")
            y = eval(s["numpy"], {"np": np, "x": x})
            cases.append({"op": s["name"], "args": [a], "layout": "transposed", "expected": encode(y, "i32")})
    return cases


BROADCAST_PAIRS = [
    ([], []), ([], [5]), ([7], [7]), ([5, 6], [6]), ([5, 1], [1, 6]), ([3, 1, 5], [4, 1]),
    ([2, 1, 4, 1], [3, 1, 5]), ([2, 3, 4, 5], [2, 3, 4, 5]), ([1, 3, 1, 5], [2, 1, 4, 1]),
]


def binary_cases(specs):
    cases = []
    for s in specs:
        if s["kind"] != "binary":
            continue
        la, ha = s.get("domainA", (-2.0, 2.0))
        lb, hb = s.get("domainB", (-2.0, 2.0))
        ties = s["out"] == "i32" or s["name"] in ("maximum", "minimum")
        for sa, sb in BROADCAST_PAIRS:
            for la_, lb_ in [("contiguous", "contiguous"), ("transposed", "sliced"), ("sliced", "transposed")]:
                if (len(sa) < 2 and la_ == "transposed") or (len(sb) < 2 and lb_ == "transposed"):
                    continue
                if (len(sa) < 1 and la_ == "sliced") or (len(sb) < 1 and lb_ == "sliced"):
                    continue
                a, x = arg(sa, la_, la, ha, ties=ties)
                b, y = arg(sb, lb_, lb, hb, ties=ties)
                r = eval(s["numpy"], {"np": np, "a": f64(x), "b": f64(y)})
                out = "i32" if s["out"] == "i32" else "f32"
                cases.append({"op": s["name"], "args": [a, b], "layout": la_ + "/" + lb_,
                              "expected": encode(np.asarray(r).astype(np.int32) if out == "i32" else r, out)})
        if s["ints"]:
            a, x = arg([3, 4], "transposed", dtype="i32")
            b, y = arg([4], "contiguous", dtype="i32")
            r = eval(s["numpy"], {"np": np, "a": x, "b": y})
            cases.append({"op": s["name"], "args": [a, b], "layout": "i32", "expected": encode(np.asarray(r).astype(np.int32), "i32")})
    # where(cond, a, b) with a 4-D broadcast
    c, cv = arg([2, 1, 4, 1], "contiguous", dtype="i32")
    cv_bool = cv > 0
    inputs[c["input"]]["data"] = [1 if v > 0 else 0 for v in inputs[c["input"]]["data"]]
    a, x = arg([3, 1, 5], "sliced")
    b, y = arg([4, 5], "transposed")
    cases.append({"op": "where", "args": [c, a, b], "layout": "broadcast4d",
                  "expected": encode(np.where(cv_bool, f64(x), f64(y)), "f32")})
    return cases


def reduce_cases(specs):
    cases = []
    for s in specs:
        if s["kind"] != "reduction":
            continue
        fn = eval(s["numpy"], {"np": np})
        lo, hi = (0.5, 1.5) if s["name"] == "prod" else (-2.0, 2.0)
        for rank in (1, 2, 3, 4):
            shape = SHAPES[rank]
            for layout in ("contiguous", "transposed", "sliced"):
                if layout == "transposed" and rank < 2:
                    continue
                a, x = arg(shape, layout, lo, hi)
                dims = [[d] for d in range(rank)] + [None]
                if rank >= 3:
                    dims.append([0, rank - 1])
                for dim in dims:
                    for keepdim in (False, True):
                        if s["name"].startswith("arg"):
                            if dim is not None and len(dim) > 1:
                                continue
                            if dim is None and keepdim:
                                continue
                            r = fn(x, axis=None if dim is None else dim[0], keepdims=keepdim)
                            out = "i32"
                        else:
                            r = fn(f64(x), axis=None if dim is None else tuple(dim), keepdims=keepdim)
                            out = "f32"
                        cases.append({"op": s["name"], "args": [a], "attrs": {"dim": dim, "keepdim": keepdim},
                                      "layout": layout, "expected": encode(np.asarray(r).astype(np.int32) if out == "i32" else r, out)})
        if s["ints"]:
            a, x = arg([4, 5], "transposed", dtype="i32")
            r = fn(x, axis=1)
            cases.append({"op": s["name"], "args": [a], "attrs": {"dim": [1], "keepdim": False}, "layout": "i32",
                          "expected": encode(np.asarray(r).astype(np.int32), "i32")})
    for rank in (2, 3):
        a, x = arg(SHAPES[rank], "transposed")
        for dim in range(rank):
            cases.append({"op": "var", "args": [a], "attrs": {"dim": [dim], "keepdim": False}, "layout": "transposed",
                          "expected": encode(np.var(f64(x), axis=dim, ddof=1), "f32")})
            cases.append({"op": "std", "args": [a], "attrs": {"dim": [dim], "keepdim": True}, "layout": "transposed",
                          "expected": encode(np.std(f64(x), axis=dim, ddof=1, keepdims=True), "f32")})
    return cases


MATMUL = [
    ([1, 1], [1, 1]), ([17, 31], [31, 17]), ([129, 65], [65, 33]), ([31], [31, 17]), ([17, 31], [31]),
    ([31], [31]), ([2, 17, 31], [31, 5]), ([2, 1, 5, 7], [3, 7, 4]), ([64, 32], [32, 48]),
    ([3, 16, 8], [3, 8, 12]), ([1, 65], [65, 9]), ([40, 24], [24, 1]),
]


def matmul_cases():
    cases = []
    for sa, sb in MATMUL:
        for la, lb in [("contiguous", "contiguous"), ("transposed", "transposed"), ("sliced", "contiguous")]:
            if (len(sa) < 2 and la == "transposed") or (len(sb) < 2 and lb == "transposed"):
                continue
            a, x = arg(sa, la)
            b, y = arg(sb, lb)
            cases.append({"op": "matmul", "args": [a, b], "layout": la + "/" + lb, "expected": encode(np.matmul(f64(x), f64(y)), "f32")})
    return cases


def softmax64(x, dim):
    m = x.max(axis=dim, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=dim, keepdims=True)


def composite_cases():
    cases = []
    for rank in (1, 2, 3, 4):
        for layout in ("contiguous", "transposed"):
            if layout == "transposed" and rank < 2:
                continue
            a, x = arg(SHAPES[rank], layout, -3.0, 3.0)
            for dim in range(-1, -rank - 1, -1):
                cases.append({"op": "softmax", "args": [a], "attrs": {"dim": dim}, "layout": layout,
                              "expected": encode(softmax64(f64(x), dim), "f32")})
                cases.append({"op": "log_softmax", "args": [a], "attrs": {"dim": dim}, "layout": layout,
                              "expected": encode(np.log(softmax64(f64(x), dim)), "f32")})
    for shape, k in (([4, 6], 1), ([2, 3, 5], 1), ([2, 3, 5], 2)):
        a, x = arg(shape, "transposed")
        w, wv = arg(shape[-k:], "contiguous")
        b, bv = arg(shape[-k:], "contiguous")
        axes = tuple(range(len(shape) - k, len(shape)))
        xx = f64(x)
        mean = xx.mean(axis=axes, keepdims=True)
        var = xx.var(axis=axes, keepdims=True)
        y = (xx - mean) / np.sqrt(var + 1e-5) * f64(wv) + f64(bv)
        cases.append({"op": "layer_norm", "args": [a, w, b], "attrs": {"normalized_shape": shape[-k:], "eps": 1e-5},
                      "layout": "transposed", "expected": encode(y, "f32")})
    for rank in (1, 2, 3, 4):
        shape = SHAPES[rank]
        for dim in range(rank):
            parts = []
            vals = []
            for i, layout in enumerate(["contiguous", "transposed" if rank >= 2 else "sliced", "sliced"]):
                s = list(shape)
                s[dim] = i + 1
                p, v = arg(s, layout)
                parts.append(p)
                vals.append(v)
            cases.append({"op": "cat", "args": parts, "attrs": {"dim": dim}, "layout": "mixed",
                          "expected": encode(np.concatenate(vals, axis=dim), "f32")})
    return cases


def write(name, cases):
    global inputs
    used = {a["input"] for c in cases for a in c["args"]}
    doc = {"generator": "scripts/tensor-fixtures.py", "numpy": np.__version__,
           "inputs": {k: v for k, v in inputs.items() if k in used}, "cases": cases}
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    inputs = {}
    print("%s: %d cases" % (name, len(cases)))


def main():
    os.makedirs(OUT, exist_ok=True)
    specs = read_specs()
    write("unary.json", unary_cases(specs))
    write("binary.json", binary_cases(specs))
    write("reduce.json", reduce_cases(specs))
    write("matmul.json", matmul_cases())
    write("composite.json", composite_cases())


if __name__ == "__main__":
    main()
