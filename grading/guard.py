"""Tamper guard: student code that replaces comparison functions must not earn points.

How it works (the sandbox runner, grading/_sandbox_runner.py, drives it):

1. Before the first cell, the runner executes :data:`FINGERPRINT_CODE` silently in the
   kernel. It imports the guarded modules (with the submission folder removed from
   ``sys.path``, so a student's ``numpy.py`` cannot stand in) and returns one fingerprint per
   guarded object: its ``id`` plus, for Python functions, the ids of ``__code__``,
   ``__defaults__``, ``__kwdefaults__`` and closure contents; for classes, a digest of their
   ``__dict__``; for lists (IPython transformers), the ids of their items. The runner keeps
   this record *outside* the kernel (the kernel cannot read or change it: the runner is a
   separate, non-dumpable process).
2. Before and after each autograded test cell (``nbgrader.grade == True`` on a code cell) it
   runs the same code again and compares (:func:`compare`). It also checks that every name a
   locked cell bound with ``import`` and that the test cell uses (``np``, ``torch``, ``F``,
   ``assert_allclose``...) still refers to the genuine module or function
   (:func:`locked_import_bindings`). A difference marks the test cell failed with the error
   "grading integrity: np.allclose was replaced by student code" and the outcome ``tampered``.

Routes closed: reassigning module attributes (``np.allclose = ...``, ``torch.testing.assert_close
= ...``, ``builtins.abs = ...``), swapping ``sys.modules`` entries, rebinding ``np``/``torch``/
imported names in the notebook namespace, in-place edits of a function's ``__code__`` /
``__defaults__`` / ``__kwdefaults__``, patching ``torch.Tensor`` methods (``__eq__``, ``all``,
``item``...), replacing ``builtins.__import__``, adding import hooks (``sys.meta_path``),
trace functions that jump over asserts (``sys.settrace``/``setprofile``/``threading.settrace``),
IPython input/AST transformers that rewrite test cells, custom exception handlers
(``set_custom_exc``), and replacing the shell's or kernel's execution methods
(``run_cell``, ``showtraceback``, ``do_execute``...). Execution failures are also decided by the
runner from the kernel's execute reply, not from what the kernel leaves in the outputs
(``clear_output`` cannot erase a failure).

What it sees: the objects in :data:`TARGETS`, the ``sys.modules`` entries of :data:`MODULES`,
every function defined in :data:`FUNCTION_MODULES` (the course modules whose functions tests
call for reference values or checks: ``helpers.checks``, ``helpers.model``, ``helpers.data``),
the names locked cells bound with ``import``, IPython's execution machinery, trace functions
and import hooks. What it cannot see is listed below and in grading/README.md ("The tamper
guard: what it sees"); nor can anything in-process keep a hidden test from the student's own
function that it calls: that function sees its arguments and its caller's frame (see
grading/README.md, "What stays possible in-process", and grading/hidden.py for the output
redaction that catches verbatim quotes).

Limits (documented, not closed): all checks run inside the student's Python process, so a
determined student who patches the primitives the check itself uses (``id``, ``getattr``,
``type.__dict__`` lookups) consistently, or who writes process memory with ``ctypes``, or who
patches a comparison *during* a test cell and restores it before the cell ends (e.g. from
inside the graded function), can defeat it. Such code is visible in the submission: the
grader's report lists no tamper, but the source shows it. Audit hooks (``sys.addaudithook``)
cannot be listed, so they are not seen either. Objects not in :data:`TARGETS`
(e.g. ``np.linalg.norm``, ``helpers.heatmap``) are not guarded; hidden tests should compare with the guarded
functions or plain ``assert`` on values computed in the test cell.
"""
from __future__ import annotations

import ast
import json

# Dotted paths of guarded objects. "module:attr" means getattr(import_module(module), attr).
TARGETS: tuple[str, ...] = (
    # numpy comparisons and the reductions hidden tests use with them
    "numpy:allclose", "numpy:isclose", "numpy:array_equal", "numpy:array_equiv",
    "numpy:all", "numpy:any", "numpy:abs", "numpy:absolute", "numpy:max", "numpy:min",
    "numpy:sum", "numpy:isfinite", "numpy:isnan", "numpy:asarray", "numpy:array",
    "numpy:testing", "numpy.testing:assert_allclose", "numpy.testing:assert_array_equal",
    "numpy.testing:assert_equal", "numpy.testing:assert_array_almost_equal",
    "numpy.testing:assert_almost_equal", "numpy.testing:assert_array_less",
    # torch comparisons and reference implementations
    "torch:allclose", "torch:equal", "torch:isclose", "torch:all", "torch:any", "torch:abs",
    "torch:max", "torch:tensor", "torch:as_tensor", "torch:from_numpy", "torch:softmax",
    "torch:testing", "torch.testing:assert_close", "torch:Tensor", "torch:nn",
    "torch.nn:functional", "torch.nn.functional:softmax",
    "torch.nn.functional:scaled_dot_product_attention",
    "math:isclose", "math:sqrt", "math:exp",
    # builtins used by asserts
    "builtins:abs", "builtins:all", "builtins:any", "builtins:isinstance", "builtins:len",
    "builtins:float", "builtins:int", "builtins:bool", "builtins:round", "builtins:max",
    "builtins:min", "builtins:sum", "builtins:range", "builtins:zip", "builtins:tuple",
    "builtins:list", "builtins:type", "builtins:getattr", "builtins:hasattr", "builtins:id",
    "builtins:callable", "builtins:__import__", "builtins:exec", "builtins:eval",
    "builtins:compile", "builtins:print", "builtins:repr", "builtins:str",
)

# Modules whose sys.modules entry must stay the genuine module object.
MODULES: tuple[str, ...] = ("numpy", "numpy.testing", "torch", "torch.testing", "torch.nn",
                            "torch.nn.functional", "math", "builtins", "sys", "helpers",
                            "helpers.checks", "helpers.model", "helpers.data")

# The course's own modules whose functions tests call for their reference values or checks
# (hidden tests of 06 call helpers.model.qk_weights and run_minilm; visible tests call
# helpers.checks; helpers.data makes the shared inputs): every function defined in them (and,
# for a package, in its submodules) is fingerprinted. helpers.heatmap and helpers.patches
# only draw figures and are not guarded.
FUNCTION_MODULES: tuple[str, ...] = ("helpers.checks", "helpers.model", "helpers.data")

# Human-readable names for the error message.
ALIASES = {"numpy": "np", "numpy.testing": "np.testing"}

# Code executed in the kernel. It must not leave helpers behind that student code could
# patch between checks, so each run defines everything afresh and deletes it again. The
# result is read through the execute request's user_expressions.
FINGERPRINT_CODE = r'''
def _grading_fp_run(_targets, _modules, _bindings, _function_modules):
    import sys as _s, importlib as _il, json as _j, threading as _th
    _cwd = [p for p in _s.path if p in ("", ".") or not p.startswith(("/usr", _s.base_prefix, _s.prefix))]
    _saved = list(_s.path)
    _s.path[:] = [p for p in _s.path if p not in _cwd]
    try:
        for _m in _modules:
            try:
                _il.import_module(_m)
            except Exception:
                pass
    finally:
        _s.path[:] = _saved
    def fp(o, depth=0):
        parts = [str(id(o))]
        f = getattr(o, "__func__", None)
        if f is not None:
            parts = ["m", fp(f, depth), str(id(getattr(o, "__self__", None)))]
            return ":".join(parts)
        c = getattr(o, "__code__", None)
        if c is not None:
            parts.append(str(id(c)))
            parts.append(str(tuple(id(d) for d in (getattr(o, "__defaults__", None) or ()))))
            kw = getattr(o, "__kwdefaults__", None) or {}
            parts.append(str(sorted((k, id(v)) for k, v in kw.items())))
            cl = getattr(o, "__closure__", None) or ()
            ids = []
            for cell in cl:
                try:
                    ids.append(id(cell.cell_contents))
                except ValueError:
                    ids.append(0)
            parts.append(str(ids))
        if isinstance(o, type) and depth == 0:
            parts.append(str(sorted((k, fp(v, 1)) for k, v in vars(o).items())))
        if isinstance(o, list):
            parts.append(str([fp(x, 1) for x in o]))
        return ":".join(parts)
    out = {}
    for t in _targets:
        mod, attr = t.split(":")
        m = _s.modules.get(mod)
        if m is None:
            continue
        try:
            out[t] = fp(getattr(m, attr))
        except Exception as e:
            out[t] = "missing:" + type(e).__name__
    import pkgutil as _pk
    for _fm in _function_modules:
        if _fm not in _modules or _fm not in _s.modules:
            continue
        _hc = _s.modules[_fm]
        _subs = [_fm]
        for _info in _pk.iter_modules(getattr(_hc, "__path__", None) or []):
            _subs.append(_fm + "." + _info.name)
        for _name in _subs:
            try:
                _sm = _il.import_module(_name)
            except Exception:
                continue
            out["sys.modules:" + _name] = str(id(_sm))
            for _k, _v in sorted(vars(_sm).items()):
                if callable(_v) and getattr(_v, "__module__", None) == _name:
                    out[_name + ":" + _k] = fp(_v)
    for mod in _modules:
        m = _s.modules.get(mod)
        out["sys.modules:" + mod] = str(id(m)) + ":" + str(getattr(m, "__file__", None))
    ip = get_ipython()
    for name in ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback",
                 "_showtraceback", "transform_cell", "transform_ast", "user_expressions",
                 "ex", "excepthook"):
        out["ipython:" + name] = fp(getattr(ip, name, None))
    for name in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                 "custom_exceptions", "CustomTB"):
        out["ipython:" + name] = fp(getattr(ip, name, None))
    tm = getattr(ip, "input_transformer_manager", None)
    for name in ("cleanup_transforms", "line_transforms", "token_transformers"):
        out["ipython:input_transformer_manager." + name] = fp(getattr(tm, name, None))
    out["ipython:compile"] = fp(getattr(ip, "compile", None))
    k = getattr(ip, "kernel", None)
    for name in ("do_execute", "execute_request", "run_cell"):
        out["kernel:" + name] = fp(getattr(k, name, None))
    try:
        from IPython.core.interactiveshell import ExecutionResult as _er
        out["ipython:ExecutionResult"] = fp(_er)
    except Exception:
        pass
    out["sys:gettrace"] = str(_s.gettrace() is None)
    out["sys:getprofile"] = str(_s.getprofile() is None)
    out["threading:settrace"] = str(getattr(_th, "_trace_hook", None) is None)
    out["sys:meta_path"] = fp(_s.meta_path)
    out["sys:path_hooks"] = fp(_s.path_hooks)
    bad = []
    for name, (mod, attr) in _bindings.items():
        if name not in ip.user_ns:
            continue
        m = _s.modules.get(mod)
        want = m if attr is None else getattr(m, attr, None)
        if ip.user_ns[name] is not want:
            bad.append(name)
    out["bindings"] = bad
    return _j.dumps(out)
_grading_fp_out = "%(nonce)s" + _grading_fp_run(%(targets)r, %(modules)r, %(bindings)r,
                                                %(function_modules)r)
del _grading_fp_run
'''

RESULT_EXPRESSION = "_grading_fp_out"


ALWAYS = ("math", "builtins", "sys")


def modules_for(locked_sources: list[str]) -> list[str]:
    """The guarded modules a notebook's locked cells can use: every module in MODULES whose
    top-level package a locked cell imports (anywhere in the cell), plus math/builtins/sys.
    Importing torch for a notebook that never uses it would cost seconds per submission."""
    tops = set()
    for src in locked_sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                tops.add(node.module.split(".")[0])
    return [m for m in MODULES if m in ALWAYS or m.split(".")[0] in tops]


def fingerprint_code(bindings: dict[str, tuple[str, str | None]] | None = None,
                     modules: list[str] | None = None, nonce: str = "") -> str:
    """The check to run in the kernel. ``nonce`` (fresh per run) proves the code really ran:
    an input transformer that blanks it would otherwise leave the previous answer in place."""
    return FINGERPRINT_CODE % {"targets": list(TARGETS),
                               "modules": list(MODULES if modules is None else modules),
                               "bindings": dict(bindings or {}), "nonce": nonce,
                               "function_modules": list(FUNCTION_MODULES)}


def parse_result(user_expressions: dict, nonce: str = "") -> dict | None:
    """Decode the user_expressions reply; None if the kernel did not answer properly."""
    try:
        res = user_expressions[RESULT_EXPRESSION]
        if res.get("status") != "ok":
            return None
        text = ast.literal_eval(res["data"]["text/plain"])
        if not text.startswith(nonce):
            return None
        return json.loads(text[len(nonce):])
    except Exception:  # noqa: BLE001
        return None


def display_name(key: str) -> str:
    """'numpy:allclose' -> 'np.allclose'; 'builtins:abs' -> 'abs'."""
    if ":" not in key:
        return key
    mod, attr = key.split(":", 1)
    if mod == "builtins":
        return attr
    if mod in ("sys.modules", "ipython", "kernel", "sys", "threading"):
        return f"{mod}.{attr}" if mod != "sys.modules" else f"sys.modules[{attr!r}]"
    return f"{ALIASES.get(mod, mod)}.{attr}"


def compare(before: dict, after: dict | None) -> list[str]:
    """Names of guarded objects that changed (display form). ``after`` None means the kernel
    did not return a fingerprint (itself a sign of tampering with the shell)."""
    if after is None:
        return ["the grader's integrity check (kernel did not answer it)"]
    changed = []
    for key, value in before.items():
        if key == "bindings":
            continue
        if after.get(key) != value:
            changed.append(display_name(key))
    for name in after.get("bindings", []):
        changed.append(f"the notebook name {name!r} (bound by a locked import)")
    return changed


def message(changed: list[str]) -> str:
    what = ", ".join(changed[:10]) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
    verb = "was" if len(changed) == 1 else "were"
    return f"grading integrity: {what} {verb} replaced by student code"


def locked_import_bindings(sources: list[str]) -> dict[str, tuple[str, str | None]]:
    """Names bound by top-level imports in locked cells: {name: (module, attr or None)}.

    ``import numpy as np`` -> {"np": ("numpy", None)}; ``import torch.nn.functional as F`` ->
    {"F": ("torch.nn.functional", None)}; ``import torch.nn`` -> {"torch": ("torch", None)};
    ``from numpy.testing import assert_allclose`` -> {"assert_allclose": ("numpy.testing",
    "assert_allclose")}. Only names resolvable to a module or module attribute are kept.
    """
    out: dict[str, tuple[str, str | None]] = {}
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        out[a.asname] = (a.name, None)
                    else:
                        top = a.name.split(".")[0]
                        out[top] = (top, None)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for a in node.names:
                    if a.name == "*":
                        continue
                    out[a.asname or a.name] = (node.module, a.name)
    return out


def names_used(source: str) -> set[str]:
    """Global names a cell reads (best effort; the whole cell if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
