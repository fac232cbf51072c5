"""Build course/00-setup/setup.ipynb (0 points: no graded cells).

    .venv/bin/python -m tools.notebooks.nb00_setup
"""
from __future__ import annotations

from pathlib import Path

from tools.nbauthor import code, locked, md, notebook, write

PATH = Path(__file__).resolve().parents[2] / "course" / "00-setup" / "setup.ipynb"


def cells() -> list:
    return [
        md("""
        # 00 · Setting up

        Welcome to *Attention, from scratch*. This notebook is worth no points: it makes sure
        your environment works and shows you how every later notebook is built.

        **Learning goals.** By the end you can

        - run cells in JupyterLab and know what the `[*]` and `[3]` next to a cell mean;
        - check that Python, PyTorch, NumPy and Matplotlib are the versions the course expects;
        - read the feedback of a *check* cell, and know what nbgrader's **Validate** button
          does before you submit;
        - draw your first attention heatmap for the sentence "I love programming".
        """),
        md("""
        ## 1. Running cells

        A notebook is a list of cells. **Markdown** cells (like this one) hold text;
        **code** cells hold Python that runs in a *kernel*, one Python process that keeps
        every variable you define until you restart it.

        - `Shift + Enter` runs the selected cell and moves to the next one.
        - `[*]` to the left of a cell means it is running; `[3]` means it was the 3rd cell
          run in this kernel. The numbers tell you the order in which things happened,
          which is not always top to bottom.
        - *Kernel → Restart Kernel and Run All Cells* starts from a clean slate. Do this
          before you submit: it is what the grader does.

        Run the next cell.
        """),
        code("""
        print("Hello from the kernel:", 6 * 7)
        """),
        md("""
        Variables live in the kernel, not in the cell. The next cell defines one; the cell
        after it uses it. Run them in order. (Run the second one after restarting the
        kernel, without the first, and you get a `NameError`: the kernel has forgotten.)
        """),
        code("""
        greeting = "I love programming"
        """),
        code("""
        print(greeting.split())
        """),
        md("""
        ## 2. Is the environment right?

        The course pins exact versions of its libraries, so that everyone's numbers and
        pictures match the ones in the notebooks. The cell below prints what you have and
        flags anything different. It is *locked*: you can run it but not edit it.
        """),
        locked("""
        import sys
        from importlib.metadata import version

        EXPECTED = {"python": "3.11", "torch": "2.13.0", "numpy": "2.4.6", "matplotlib": "3.11.2"}
        found = {"python": f"{sys.version_info.major}.{sys.version_info.minor}"}
        found.update({name: version(name).split("+")[0] for name in ("torch", "numpy", "matplotlib")})
        for name, wanted in EXPECTED.items():
            status = "ok" if found[name] == wanted else f"EXPECTED {wanted}: see the README's set-up section"
            print(f"{name:11s} {found[name]:8s} {status}")
        """, "environment_check"),
        md("""
        PyTorch prints `+cpu` after its version when it is the CPU-only build; the course
        needs no GPU, and everything runs on a laptop in seconds.

        ## 3. The `helpers` package

        Every notebook imports a small package called `helpers`. It gives you

        - `helpers.show_attention` and `helpers.show_heads`: heatmaps of attention weights;
        - `helpers.data`: the same toy inputs for everyone (the running example sentence,
          seeded random matrices);
        - `helpers.checks`: one `check_<name>` function per exercise, which tests your code
          and prints friendly hints.
        """),
        code("""
        import matplotlib.pyplot as plt
        import numpy as np
        import torch

        import helpers
        from helpers import show_attention
        from helpers.data import TOKENS

        print("tokens of the running example:", TOKENS)
        """),
        md("""
        ## 4. How exercises, checks and Validate work

        Every graded exercise follows the same pattern:

        1. **Your turn**: a cell with a function's signature and docstring, and
           `raise NotImplementedError()` where its body goes. You replace that line with
           your code.
        2. **Check yourself**: a cell that calls `check_<name>(<name>)`. It tries your
           function on small inputs and prints one line per property, `PASS` or `FAIL`,
           with a hint for each failure. Run it as often as you like.
        3. **Hidden tests**: a locked cell with a few visible `assert`s and more hidden
           ones, worth points. You cannot change it; the grader runs it on your submission.

        Here is what a check report looks like, for a toy exercise "write `double(x)`"
        and an answer that is wrong for negative numbers. The checks in the course are
        built with the same `Checker` you see here.
        """),
        code("""
        from helpers.checks import Checker

        def check_double(fn):
            checker = Checker("double")
            with checker.check("double(3) is 6", hint="multiply the input by two"):
                assert fn(3) == 6, f"double(3) returned {fn(3)!r}"
            with checker.check("works for negative numbers", hint="do not take absolute values"):
                assert fn(-2) == -4, f"double(-2) returned {fn(-2)!r}"
            return checker.report()

        def double(x):
            return abs(x) * 2      # wrong for negative x, on purpose

        check_double(double)
        """),
        md("""
        A failing line says **what happened** (what your function returned) and gives a
        **hint** towards the concept, never the code. Fix `double` in the cell above
        (remove `abs`), run it again, and you get `All checks passed`.

        **Validate.** In JupyterLab's *Assignments* panel (and in the notebook toolbar, if
        enabled) nbgrader offers a **Validate** button. It restarts the kernel, runs the
        whole notebook from the top, and tells you which test cells fail or which cells
        raise errors. Passing Validate means the visible tests pass; the hidden tests check
        more cases, such as batches, torch tensors and large values.

        **Feedback.** After the deadline, your instructor autogrades the submissions: each
        test cell gives its points if it runs without an error. Written answers are graded
        by hand. The feedback you get back shows each cell's score and, for a failed test,
        the message of the `assert` that failed.
        """),
        md("""
        ## 5. Your first heatmap

        Attention gives every token (a *query*) a set of weights over all tokens (the
        *keys*): how much of each it takes in. The weights of one query are non-negative
        and sum to 1. Stacked, they form a matrix with one row per query and one column per
        key, best seen as a heatmap. The weights below are made up; from notebook 01 on you
        compute them.
        """),
        code("""
        weights = np.array([[0.70, 0.20, 0.10],    # "I" looks mostly at itself
                            [0.30, 0.30, 0.40],    # "love" spreads its attention
                            [0.10, 0.60, 0.30]])   # "programming" looks at "love"
        show_attention(weights, TOKENS, TOKENS, title="made-up weights: each row sums to 1")
        plt.show()
        """),
        md("""
        Read it row by row: row "programming" has its brightest cell under "love", so that
        query takes most of its information from the token "love".

        `show_attention` also accepts torch tensors, and refuses input that cannot be
        attention weights, with a message that says what it expected. Here a row does not
        sum to 1:
        """),
        code("""
        try:
            show_attention(torch.tensor([[0.5, 0.6, 0.2], [0.3, 0.3, 0.4], [0.1, 0.6, 0.3]]),
                           TOKENS, TOKENS, check_rows=True)
        except ValueError as err:
            print("ValueError:", err)
        """),
        md("""
        ### Try it (not graded)

        Change the weights so that every token attends only to itself (what matrix is
        that?), or so that every token attends equally to all three. Run the cell and
        compare the pictures.
        """),
        code("""
        my_weights = np.array([[1.0, 0.0, 0.0],
                               [0.0, 1.0, 0.0],
                               [0.0, 0.0, 1.0]])
        show_attention(my_weights, TOKENS, TOKENS, title="my weights")
        plt.show()
        """),
        md("""
        ## Summary

        - Run cells with `Shift + Enter`; restart and run all before you submit.
        - Check cells print `PASS`/`FAIL` with hints; hidden tests give the points;
          Validate runs everything from a clean kernel.
        - An attention matrix has one row per query and one column per key; each row is a
          set of weights that sums to 1.

        Next, in **01-queries-keys-values**: where those weights come from.

        ## Going further

        - JupyterLab user guide: <https://jupyterlab.readthedocs.io/en/stable/user/interface.html>
        - nbgrader for students: <https://nbgrader.readthedocs.io/en/stable/user_guide/highlights.html>
        - Vaswani et al., *Attention Is All You Need* (2017): <https://arxiv.org/abs/1706.03762>
        """),
    ]


def build(path: Path = PATH) -> Path:
    return write(notebook(cells()), path)


if __name__ == "__main__":
    print(build())
