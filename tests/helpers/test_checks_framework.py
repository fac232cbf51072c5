"""helpers.checks._framework (Checker, Report) and the check lookup in helpers.checks."""
from __future__ import annotations

import linecache

import pytest

import helpers.checks
from helpers.checks import Checker, CheckResult, Report
from helpers.checks._framework import FAIL_MARK, PASS_MARK


def student_function(source: str, name: str):
    """Compile ``source`` as if typed in a notebook cell: like IPython, give it a cell file
    name and register its source with linecache so tracebacks can show its lines."""
    filename = f"/tmp/ipykernel_42/{abs(hash(source))}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def run(*outcomes) -> Report:
    """A report with one property per outcome: None passes, an exception fails."""
    checker = Checker("softmax")
    for i, outcome in enumerate(outcomes):
        with checker.check(f"property {i}", hint=f"hint {i}"):
            if outcome is not None:
                raise outcome
    return checker.report()


def test_a_passing_property_is_recorded_as_passed():
    report = run(None)
    assert report.results == [CheckResult("property 0", True)]
    assert report.passed and bool(report) and report.failures == []


def test_an_assertion_failure_records_its_message_and_the_hint():
    report = run(None, AssertionError("row sums are [2. 2.]"))
    assert not report.passed and not report
    (failure,) = report.failures
    assert failure == CheckResult("property 1", False, "row sums are [2. 2.]", "hint 1")


def test_not_implemented_tells_the_student_to_write_the_body():
    (failure,) = run(NotImplementedError()).failures
    assert failure.detail == "the function raised NotImplementedError"
    assert "replace `raise NotImplementedError()`" in failure.hint
    assert "re-run the cell" in failure.hint


def test_other_exceptions_are_reported_with_type_message_and_student_line():
    broken = student_function("def softmax(x):\n    total = 0\n    return x / total\n",
                              "softmax")
    checker = Checker("softmax")
    with checker.check("runs on a 2-D array", hint="which axis?"):
        broken(1.0)
    (failure,) = checker.report().failures
    assert failure.detail == ("raised ZeroDivisionError: float division by zero "
                              "(at line 3: return x / total)")
    assert failure.hint == "which axis?"


def test_an_exception_raised_inside_helpers_points_at_the_student_line_not_helpers():
    from helpers._arrays import to_numpy

    student = student_function("def f():\n    return to_numpy(None)\n", "f")
    student.__globals__["to_numpy"] = to_numpy
    checker = Checker("f")
    with checker.check("converts"):
        student()
    detail = checker.report().failures[0].detail
    assert detail.startswith("raised TypeError: weights must be an array of numbers")
    assert detail.endswith("(at line 2: return to_numpy(None))")


def test_failures_never_propagate_so_later_properties_still_run():
    report = run(ValueError("bad"), ZeroDivisionError("x"), None)
    assert [r.passed for r in report.results] == [False, False, True]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_interrupting_a_check_is_not_swallowed(interrupt):
    checker = Checker("softmax")
    with pytest.raises(interrupt):
        with checker.check("slow property"):
            raise interrupt()


def test_an_empty_report_does_not_pass():
    report = Checker("nothing").report()
    assert not report.passed and not report


def test_a_report_is_a_snapshot():
    checker = Checker("softmax")
    with checker.check("first"):
        pass
    report = checker.report()
    with checker.check("second"):
        raise AssertionError("late")
    assert [r.name for r in report.results] == ["first"] and report.passed


def test_the_report_text_lists_every_property_with_details_and_hints_for_failures():
    text = repr(run(None, AssertionError("sums are 2")))
    assert text.splitlines() == [
        "Checking softmax: 1/2 checks passed",
        f"  [{PASS_MARK}] property 0",
        f"  [{FAIL_MARK}] property 1",
        "         what happened: sums are 2",
        "         hint: hint 1",
    ]
    assert str(run(None)) == repr(run(None))


def test_the_report_text_congratulates_only_when_everything_passed():
    assert "All checks passed" in repr(run(None, None))
    assert "Validate before you submit" in repr(run(None, None))
    assert "All checks passed" not in repr(run(None, AssertionError()))
    assert "All checks passed" not in repr(Checker("x").report())


def test_a_failure_without_detail_or_hint_shows_no_empty_lines():
    checker = Checker("f")
    with checker.check("p"):
        raise AssertionError()
    assert repr(checker.report()).splitlines() == [
        "Checking f: 0/1 checks passed", f"  [{FAIL_MARK}] p"]


def test_unknown_checks_raise_attribute_error_listing_the_available_ones():
    with pytest.raises(AttributeError, match="has no attribute 'check_nonexistent'; "
                                             "available checks: "):
        helpers.checks.check_nonexistent  # noqa: B018
    with pytest.raises(AttributeError):
        helpers.checks.not_a_check  # noqa: B018


def test_available_checks_are_sorted_check_functions_reachable_by_name():
    names = helpers.checks.available_checks()
    assert names == sorted(names)
    for name in names:
        assert name.startswith("check_")
        assert callable(getattr(helpers.checks, name))


def test_error_location_points_at_the_students_line_not_numpy_internals():
    import numpy as np
    softmax = student_function("def softmax(x):\n    return x.sum(axis=5)\n", "softmax")
    checker = Checker("softmax")
    with checker.check("runs", hint="h"):
        softmax(np.ones((2, 3)))
    (result,) = checker.report().results
    assert result.detail.endswith("(at line 2: return x.sum(axis=5))"), result.detail


def test_blank_exercise_gets_the_not_implemented_hint_once():
    def blank(*args):
        raise NotImplementedError()
    checker = Checker("softmax")
    for i in range(3):
        with checker.check(f"property {i}", hint="concept hint"):
            blank()
    text = repr(checker.report())
    assert text.count("replace `raise NotImplementedError()`") == 1, text
    assert text.count("[FAIL]") == 3, text


def test_a_note_is_advice_shown_once_and_never_a_failure():
    checker = Checker("f")
    with checker.check("holds"):
        pass
    checker.note("numpy warned; warnings are not graded")
    checker.note("numpy warned; warnings are not graded")
    report = checker.report()
    assert report.passed and report.notes == ["numpy warned; warnings are not graded"]
    text = repr(report)
    assert text.count("[NOTE] numpy warned") == 1 and "All checks passed" in text
