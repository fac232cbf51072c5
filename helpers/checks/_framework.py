"""A tiny framework for the students' "check yourself" cells.

Each graded function has a ``check_<name>(fn)`` in a topic module of this package.
A check runs a handful of property tests and returns a :class:`Report`, which renders
as a pass/fail list with one specific hint per failure. Checks never reveal a solution.

Usage inside a topic module::

    def check_softmax(fn) -> Report:
        checker = Checker("softmax")
        with checker.check("each row sums to 1",
                           hint="did you normalise over the last axis?"):
            out = fn(np.array([[1.0, 2.0, 3.0]]))
            assert np.allclose(out.sum(-1), 1), f"row sums are {out.sum(-1)}"
        return checker.report()

An ``AssertionError`` inside ``checker.check`` marks the property as failed and shows its
message plus the hint; any other exception is reported with its type and message, so a
student sees "raised TypeError: ..." instead of a traceback into helpers.
"""
from __future__ import annotations

import contextlib
import sysconfig
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

PASS_MARK = "PASS"
FAIL_MARK = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one property: its name, whether it held, and what to do if not."""

    name: str
    passed: bool
    detail: str = ""
    hint: str = ""


@dataclass
class Report:
    """The results of one ``check_<name>`` call; its repr is the student-facing text."""

    subject: str
    results: list[CheckResult] = field(default_factory=list)
    # advice that is not a property: it never fails a check (e.g. numpy warned while the
    # weights were right; COURSE_SPEC 3.1: warnings are not graded)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every property held (and at least one was checked)."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        n_ok = sum(r.passed for r in self.results)
        lines = [f"Checking {self.subject}: {n_ok}/{len(self.results)} checks passed"]
        for r in self.results:
            mark = PASS_MARK if r.passed else FAIL_MARK
            lines.append(f"  [{mark}] {r.name}")
            if not r.passed:
                if r.detail:
                    lines.append(f"         what happened: {r.detail}")
                if r.hint:
                    lines.append(f"         hint: {r.hint}")
        for note in self.notes:
            lines.append(f"  [NOTE] {note}")
        if self.passed:
            lines.append("All checks passed. The hidden tests check more cases; "
                         "Validate before you submit.")
        return "\n".join(lines)

    __str__ = __repr__


class Checker:
    """Collects :class:`CheckResult` objects for one graded function."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self._results: list[CheckResult] = []
        self._notes: list[str] = []

    def note(self, text: str) -> None:
        """Add advice that does not count as a property (shown once, after the list)."""
        if text not in self._notes:
            self._notes.append(text)

    @contextlib.contextmanager
    def check(self, name: str, hint: str = "") -> Iterator[None]:
        """Run the body as one property; failures are recorded, never raised."""
        try:
            yield
        except AssertionError as err:
            self._results.append(CheckResult(name, False, str(err), hint))
        except NotImplementedError:
            # A blank exercise fails every property the same way: say how to fix it once.
            first = not any(r.detail.startswith("the function raised NotImplementedError")
                            for r in self._results)
            self._results.append(CheckResult(
                name, False, "the function raised NotImplementedError",
                "replace `raise NotImplementedError()` with your code, then re-run "
                "the cell that defines the function." if first else ""))
        except Exception as err:  # the student's code may raise anything
            where = _last_student_frame(err)
            self._results.append(CheckResult(
                name, False, f"raised {type(err).__name__}: {err}{where}", hint))
        else:
            self._results.append(CheckResult(name, True))

    def report(self) -> Report:
        return Report(self.subject, list(self._results), list(self._notes))


def _last_student_frame(err: BaseException) -> str:
    """' (at line N: <source>)' for the innermost frame of the student's own code.

    Frames inside this package, the standard library and installed packages (numpy,
    torch) are skipped, so a student sees their line, not ``umr_sum`` in numpy."""
    skip = [str(Path(__file__).resolve().parents[1])]
    paths = sysconfig.get_paths()
    skip += [str(Path(paths[k]).resolve()) for k in ("stdlib", "purelib", "platlib")]
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        filename = str(Path(frame.filename).resolve()) if frame.filename else ""
        if not any(filename.startswith(prefix) for prefix in skip):
            return f" (at line {frame.lineno}: {frame.line!s})" if frame.line else ""
    return ""
