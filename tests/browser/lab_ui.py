"""What a user does in JupyterLab, as Playwright steps with explicit waits."""
from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

RUN_TIMEOUT = 180_000  # ms: a whole notebook on a slow 2-core machine

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = f"{PANEL} .jp-Notebook .jp-Cell"

# state of the current notebook, read from the page (the app is exposed with
# --LabApp.expose_app_in_browser; it is only read, never used to drive the UI)
_PROMPTS_JS = f"""() => [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt')]
                         .map(p => p.textContent.trim())"""
_ERRORS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  const out = [];
  nb.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    for (const o of cell.model.outputs.toJSON())
      if (o.output_type === 'error') out.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
  });
  return out;
}"""


def open_notebook(page, lab, path: str) -> None:
    page.goto(lab.lab_url(path))
    page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-Cell", timeout=120_000)
    wait_kernel_idle(page, timeout=120_000)


def wait_kernel_idle(page, timeout: int = 60_000) -> None:
    page.wait_for_function("""() => {
        const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session
                  && w.sessionContext.session.kernel;
        return k && k.status === 'idle';
    }""", timeout=timeout, polling=100)


def menu(page, menubar_label: str, item_label: str) -> None:
    """Click a main-menu entry: the menubar label, then the item (exact label)."""
    page.locator(".lm-MenuBar-itemLabel").get_by_text(menubar_label, exact=True).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel").get_by_text(
        item_label, exact=True).click()


def wait_run(page, timeout: int = RUN_TIMEOUT) -> None:
    """After a run was started: wait until cells are queued, then until none is."""
    page.wait_for_function(f"() => ({_PROMPTS_JS})().some(p => p.includes('*'))",
                           timeout=120_000, polling=50)
    page.wait_for_function(f"() => !({_PROMPTS_JS})().some(p => p.includes('*'))",
                           timeout=timeout, polling=200)
    wait_kernel_idle(page)


def prompts(page) -> list[str]:
    return page.evaluate(_PROMPTS_JS)


def error_outputs(page) -> list[str]:
    return page.evaluate(_ERRORS_JS)


def cell(page, index: int):
    return page.locator(CELLS).nth(index)


def replace_cell_source(page, index: int, source: str) -> None:
    """Click into the cell's editor, select everything and type ``source`` (inserted as
    one edit, like a paste, so the editor's auto-indent does not re-indent it)."""
    editor = cell(page, index).locator(".cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(source)


def write_markdown_answer(page, index: int, text: str) -> None:
    """Double-click a rendered markdown cell, replace its text, render it (Shift+Enter)."""
    target = cell(page, index)
    target.locator(".jp-MarkdownOutput").dblclick()
    editor = target.locator(".cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(text)
    page.keyboard.press("Shift+Enter")
    target.locator(".jp-MarkdownOutput", has_text=text[:30]).wait_for()


def run_cell(page, index: int) -> None:
    cell(page, index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def png_stats(png: bytes) -> tuple[tuple[int, int], float, int]:
    """(size, grey-level standard deviation, number of distinct colours) of a PNG."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    arr = np.asarray(img)
    colours = len(np.unique(arr.reshape(-1, 3), axis=0))
    return img.size, float(arr.mean(axis=2).std()), colours


def img_src_png(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), f"image is not an inline PNG: {src[:60]!r}"
    return base64.b64decode(src[len(prefix):])
