"""Fair verdicts, per assignment, through both graders (tests/course/verdicts.py).

For every catalogue ``tests/course/answers/aNN_*.py`` (an assignment without one is not
collected): the source solution gets full marks, also handed in slim; the blank release
gets 0; each wrong answer loses points in exactly the cells it names and keeps full marks
everywhere else; each correct answer in another style gets full marks. Each assignment is
graded once per grader (``product``: ``python -m grading autograde``; ``stock``: stock
nbgrader), the first time a test needs it.

    .venv/bin/python -m pytest tests/course/test_verdicts.py -k 03-softmax -q
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.course import verdicts
from tests.course.answers import Answer

ANSWERS_DIR = Path(__file__).parent / "answers"
CATALOGUES = {m.ASSIGNMENT: m for m in (
    importlib.import_module(f"tests.course.answers.{p.stem}")
    for p in sorted(ANSWERS_DIR.glob("a[0-9][0-9]_*.py")))}
MIN_WRONG, MIN_RIGHT = 4, 3


def _params(with_answers: bool, graders: tuple[str, ...] = verdicts.GRADERS):
    out = []
    for assignment, mod in CATALOGUES.items():
        for grader in graders:
            names = sorted(mod.ANSWERS) if with_answers else [None]
            out += [pytest.param(assignment, grader, name,
                                 id="-".join(filter(None, (assignment, grader, name))))
                    for name in names]
    return out


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """graded(assignment, grader) -> verdicts.Run, computed once per test process (a failure
    is kept too). Session scope: a module fixture is torn down whenever pytest moves to
    another file, and would grade the same catalogue again if tests were ever interleaved."""
    cache: dict[tuple[str, str], verdicts.Run | Exception] = {}

    def get(assignment: str, grader: str) -> verdicts.Run:
        key = (assignment, grader)
        if key not in cache:
            mod = CATALOGUES[assignment]
            fn = {"product": verdicts.grade_product, "stock": verdicts.grade_stock}[grader]
            try:
                cache[key] = fn(mod.ASSIGNMENT, mod.NOTEBOOK, mod.ANSWERS,
                                tmp_path_factory.mktemp(f"{assignment}-{grader}"))
                run = cache[key]
                print(f"\n{assignment} {run.cost()}")
            except Exception as exc:  # every test of this pair reports the same cause
                cache[key] = exc
        if isinstance(cache[key], Exception):
            raise RuntimeError(f"{grader} grading of {assignment} failed") from cache[key]
        return cache[key]

    return get


def verdict_errors(run: verdicts.Run, name: str, full: dict[str, float],
                   loses: frozenset[str], what: str) -> list[str]:
    """Every cell whose score differs from the expected verdict, as one readable line each.

    ``loses``: cells that must score below their maximum; every other cell the grader
    reported for this answer must score exactly its maximum (a stock bundle reports only
    the answer's own cells and those no partner owns)."""
    where = f"{run.grader} grader, {what} {name!r}"
    if name not in run.scores:
        return [f"{where}: no grades ({run.problems.get(name, 'not in the gradebook')})"]
    got = run.scores[name]
    note = ""
    if name in run.problems:
        note += f" [grader reported: {run.problems[name]}]"
    if name in run.bundled:
        note += f" [graded in one stock submission with {run.bundled[name]}]"
    errors = [f"{where}: {cell} was not graded, expected it to lose points{note}"
              for cell in sorted(loses - set(got))]
    for cell in sorted(set(full) & set(got)):
        score, points = got[cell], full[cell]
        if cell in loses and score >= points:
            errors.append(f"{where}: {cell} kept full marks, got {score:g}/{points:g}; "
                          f"expected fewer (the catalogue says it loses points here){note}")
        elif cell not in loses and score != points:
            cause = run.why.get(name, {}).get(cell)
            errors.append(f"{where}: {cell} got {score:g}/{points:g}; expected full marks "
                          f"{points:g}/{points:g}{f' ({cause})' if cause else ''}{note}")
    return errors


@pytest.mark.parametrize("assignment", list(CATALOGUES))
def test_catalogue_is_complete_and_well_formed(assignment):
    mod = CATALOGUES[assignment]
    nb = verdicts.COURSE / mod.ASSIGNMENT / mod.NOTEBOOK
    assert nb.is_file(), f"{mod.__name__}: ASSIGNMENT/NOTEBOOK point at {nb}, which does not exist"
    functions = verdicts.graded_functions(mod.ASSIGNMENT, mod.NOTEBOOK)
    full = verdicts.max_points(mod.ASSIGNMENT, mod.NOTEBOOK)
    solutions = {g for g, m in verdicts.grade_cells(mod.ASSIGNMENT, mod.NOTEBOOK).items()
                 if m["cell_type"] == "code" and m.get("solution")}
    problems = []
    for name, answer in mod.ANSWERS.items():
        if not isinstance(answer, Answer):
            problems.append(f"{name}: not an Answer (use wrong(...) or right(...))")
            continue
        if name in verdicts.CONTROLS or "/" not in name or name.split("/")[0] not in solutions:
            problems.append(f"{name}: name it '<function>/<what>' with a solution grade_id "
                            f"of the notebook ({sorted(solutions)})")
        if set(answer.cells) - solutions:
            problems.append(f"{name}: replaces {sorted(set(answer.cells) - solutions)}, "
                            f"not solution code cells ({sorted(solutions)})")
        if answer.loses - set(full):
            problems.append(f"{name}: loses {sorted(answer.loses - set(full))}, not autograded "
                            f"cells of the notebook ({sorted(full)})")
    for fn in functions:
        mine = [a for n, a in mod.ANSWERS.items() if n.split("/")[0] == fn]
        n_wrong = sum(1 for a in mine if a.loses)
        n_right = sum(1 for a in mine if not a.loses)
        if n_wrong < MIN_WRONG or n_right < MIN_RIGHT:
            problems.append(f"{fn}: {n_wrong} wrong and {n_right} right answers; at least "
                            f"{MIN_WRONG} wrong and {MIN_RIGHT} right are required")
    assert not problems, f"{mod.__name__}:\n  " + "\n  ".join(problems)


def grading_tests(graders: tuple[str, ...]):
    """The three grading tests, parametrised for ``graders``. Each grader's half lives in
    its own file (this one: product; test_verdicts_stock.py: stock), so that pytest-xdist
    with --dist loadfile grades the two halves on different workers."""

    @pytest.mark.slow
    @pytest.mark.parametrize("control", [verdicts.SOLUTION, verdicts.SLIM_SOLUTION])
    @pytest.mark.parametrize("assignment,grader,_", _params(with_answers=False, graders=graders))
    def test_solution_gets_full_marks(graded, assignment, grader, _, control):
        mod = CATALOGUES[assignment]
        full = verdicts.max_points(mod.ASSIGNMENT, mod.NOTEBOOK)
        run = graded(assignment, grader)
        what = "source solution" if control == verdicts.SOLUTION else (
            "source solution handed in without its demo cells (if only this fails, a graded "
            "cell needs state that only an ungraded cell makes)")
        errors = verdict_errors(run, control, full, frozenset(), what)
        if not errors:
            assert set(full) <= set(run.scores[control]), (
                f"{grader} grader: {control} has no grade for {sorted(set(full) - set(run.scores[control]))}")
            assert run.scores[control]["_total"] == sum(full.values()), (
                f"{grader} grader: {control} total {run.scores[control]['_total']:g}, expected "
                f"{sum(full.values()):g}")
        assert not errors, "\n".join(errors)


    @pytest.mark.slow
    @pytest.mark.parametrize("assignment,grader,_", _params(with_answers=False, graders=graders))
    def test_blank_release_gets_zero(graded, assignment, grader, _):
        mod = CATALOGUES[assignment]
        run = graded(assignment, grader)
        got = run.scores.get(verdicts.BLANK)
        assert got is not None, f"{grader} grader: the blank release was not graded: {run.problems}"
        scored = {c: s for c, s in got.items() if s != 0}
        assert not scored, f"{grader} grader: the blank release of {assignment} scored {scored}; " \
                           f"expected 0 everywhere"


    @pytest.mark.slow
    @pytest.mark.parametrize("assignment,grader,name", _params(with_answers=True, graders=graders))
    def test_answer_gets_its_verdict(graded, assignment, grader, name):
        mod = CATALOGUES[assignment]
        answer = mod.ANSWERS[name]
        full = verdicts.max_points(mod.ASSIGNMENT, mod.NOTEBOOK)
        what = "wrong answer" if answer.loses else f"correct answer (style of {answer.source})"
        errors = verdict_errors(graded(assignment, grader), name, full, answer.loses, what)
        assert not errors, "\n".join(errors)

    return test_solution_gets_full_marks, test_blank_release_gets_zero, test_answer_gets_its_verdict


test_solution_gets_full_marks, test_blank_release_gets_zero, test_answer_gets_its_verdict = \
    grading_tests(("product",))


# ---------------------------------------------------------------- the harness's own pieces

def test_student_ids_are_valid_and_unique():
    ids = verdicts.student_ids(["softmax/no max", "solution/slim", "softmax/x+y"])
    assert ids == {"softmax/no max": "softmax.no-max", "solution/slim": "solution.slim",
                   "softmax/x+y": "softmax.x+y"}
    with pytest.raises(ValueError, match="same student id"):
        verdicts.student_ids(["f/A", "f/a"])


def test_slim_keeps_graded_cells_and_what_they_need_only():
    import nbformat

    def cell(source, grade_id=None):
        c = nbformat.v4.new_code_cell(source)
        if grade_id:
            c.metadata["nbgrader"] = {"grade_id": grade_id, "grade": False, "solution": True}
        return c
    nb = nbformat.v4.new_notebook(cells=[
        cell("import numpy as np\nimport matplotlib.pyplot as plt"),
        cell("SCALE = 2.0"),
        cell("demo = np.ones(3)\nplt.plot(demo)"),
        cell("def f(x):\n    return SCALE * np.asarray(x)", "f"),
        cell("print(f(demo))"),
    ])
    kept = [c.source.splitlines()[0] for c in verdicts.slim(nb).cells]
    assert kept == ["import numpy as np", "SCALE = 2.0", "def f(x):"], kept


def test_bundles_pair_answers_of_different_functions_only():
    from tests.course.answers import right, wrong
    functions = {"f": ["test_f", "test_f_batch"], "g": ["test_g"]}
    answers = {"f/a": wrong({"f": "x"}, "test_f"), "f/b": right({"f": "x"}, source="s"),
               "g/a": wrong({"g": "x"}, "test_g"),
               "g/breaks_f": wrong({"g": "x"}, "test_g", "test_f"),     # not its cells only
               "f/and_g": wrong({"f": "x", "g": "y"}, "test_f")}       # two functions
    groups = verdicts.bundles(answers, functions)
    assert sorted(map(sorted, groups.values())) == [
        ["f/a", "g/a"], ["f/and_g"], ["f/b"], ["g/breaks_f"]], groups
