"""Answer catalogues: wrong answers and correct answers in other styles, per assignment.

One module per assignment, ``tests/course/answers/aNN_<name>.py``, defines ``ASSIGNMENT``
(the course folder, e.g. ``"03-softmax"``), ``NOTEBOOK`` (e.g. ``"softmax.ipynb"``) and
``ANSWERS: dict[str, Answer]`` named ``"<function>/<what is wrong or which style>"``.
``tests/course/test_verdicts.py`` grades every answer through ``python -m grading autograde``
and through stock nbgrader, and checks each verdict (see docs/AUTHORING.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Answer", "right", "wrong"]


@dataclass(frozen=True)
class Answer:
    """One submission: replacement sources for solution cells, and the expected verdict.

    cells:  solution-cell grade_id -> the source that replaces the whole cell.
    loses:  test-cell grade_ids that must score below their maximum; every other autograded
            cell must keep full marks. Empty for a correct answer (full marks everywhere).
    source: for a correct answer, the public implementation its style is ported from
            (URL, or book and section).
    """

    cells: dict[str, str]
    loses: frozenset[str]
    source: str = ""

    @property
    def is_right(self) -> bool:
        """True for a correct answer (it must keep full marks in every cell)."""
        return not self.loses


def _check_cells(cells: dict[str, str]) -> dict[str, str]:
    if not isinstance(cells, dict) or not cells:
        raise ValueError(
            f"an answer needs a non-empty dict of solution grade_id -> source, got {cells!r}"
        )
    for grade_id, source in cells.items():
        if not isinstance(grade_id, str) or not grade_id:
            raise ValueError(f"solution grade_id must be a non-empty string, got {grade_id!r}")
        if not isinstance(source, str) or not source.strip():
            raise ValueError(
                f"the replacement source for solution cell {grade_id!r} must be non-empty code, "
                f"got {source!r}"
            )
    return dict(cells)


def wrong(cells: dict[str, str], *loses: str) -> Answer:
    """A wrong answer that must lose points in exactly the test cells ``loses`` (>= 1)."""
    if not loses:
        raise ValueError(
            "a wrong answer must name at least one test cell (grade_id) that loses points"
        )
    for grade_id in loses:
        if not isinstance(grade_id, str) or not grade_id:
            raise ValueError(f"lost cells must be test-cell grade_ids (strings), got {grade_id!r}")
    if len(set(loses)) != len(loses):
        raise ValueError(f"lost cells are named twice: {loses!r}")
    return Answer(cells=_check_cells(cells), loses=frozenset(loses))


def right(cells: dict[str, str], *, source: str) -> Answer:
    """A correct answer in another style; ``source`` names the implementation it ports."""
    if not isinstance(source, str) or not source.strip():
        raise ValueError(
            "a correct answer must name the public implementation it is ported from in "
            f"`source` (URL or book/section), got {source!r}"
        )
    return Answer(cells=_check_cells(cells), loses=frozenset(), source=source.strip())
