"""Fixtures for the browser tests: a JupyterLab server started from this environment on a
free localhost port with a random token, a headless Debian Chromium driven by Playwright,
and a folder for screenshots (``$BROWSER_SCREENSHOTS`` or ``test-artifacts/browser/``)."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from .course import REPO, init_course_root

CHROMIUM = os.environ.get("BROWSER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
SERVER_START_TIMEOUT = 120


def screenshot_dir() -> Path:
    return Path(os.environ.get("BROWSER_SCREENSHOTS") or REPO / "test-artifacts" / "browser")


# --------------------------------------------------------------------------- server

@dataclass
class LabServer:
    url: str          # http://127.0.0.1:PORT
    token: str
    root: Path        # server root = nbgrader course root
    process: subprocess.Popen
    log: Path

    def lab_url(self, path: str = "") -> str:
        return f"{self.url}/lab{'/tree/' + path if path else ''}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET") -> dict:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else {}

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _isolated_env(home: Path) -> dict:
    """HOME and the user-level Jupyter dirs in tmp; the venv's share/ and etc/ (where the
    nbgrader lab and server extensions are installed and enabled) stay on the search path."""
    env = dict(os.environ)
    for var in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTERLAB_DIR",
                "JUPYTER_TOKEN", "PYTHONSTARTUP"):
        env.pop(var, None)
    dirs = {"HOME": home, "JUPYTER_CONFIG_DIR": home / ".jupyter",
            "JUPYTER_DATA_DIR": home / ".local/share/jupyter",
            "JUPYTER_RUNTIME_DIR": home / "runtime",
            "JUPYTERLAB_SETTINGS_DIR": home / ".jupyter/lab/user-settings",
            "JUPYTERLAB_WORKSPACES_DIR": home / ".jupyter/lab/workspaces",
            "IPYTHONDIR": home / ".ipython", "MPLCONFIGDIR": home / ".matplotlib"}
    for var, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env["PYTHONHASHSEED"] = "0"
    # the kernel must run this venv's python, whatever PATH the caller has
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _user_settings(settings_dir: Path) -> None:
    """Keep every cell in the DOM (no windowing) and silence news/update toasts."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for rel, content in files.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies (Linux), so that even
    a killed test run leaves no server behind (its kernels follow their parent)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_lab(root: Path, home: Path) -> LabServer:
    env = _isolated_env(home)
    _user_settings(Path(env["JUPYTERLAB_SETTINGS_DIR"]))
    port, token = _free_port(), secrets.token_hex(24)
    log = home / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", f"--CourseDirectory.root={root}",
           "--LabApp.news_url=None", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--ServerApp.open_browser=False", "--ServerApp.allow_remote_access=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)
    server = LabServer(f"http://127.0.0.1:{port}", token, root, proc, log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            server.api("/api/status")
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            if time.monotonic() > deadline:
                stop_lab(server)
                raise RuntimeError(f"JupyterLab did not answer on {server.url} within "
                                   f"{SERVER_START_TIMEOUT} s:\n{server.log_tail()}")
            time.sleep(0.25)  # polling interval while waiting for the port, not an assertion


def stop_lab(server: LabServer) -> None:
    """Shut the server down (kernels included); whatever is left is killed by its id."""
    import psutil

    proc = server.process
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    if proc.poll() is None:
        try:
            server.api("/api/shutdown", method="POST")
        except Exception:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
    for child in children:  # kernels run in their own sessions
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=10)


@pytest.fixture(scope="session")
def course_root(tmp_path_factory) -> Path:
    """An nbgrader course root (every course assignment in source/, a config); the tests
    release, submit and autograde into it as they need."""
    return init_course_root(tmp_path_factory.mktemp("course-root"))


@pytest.fixture(scope="session")
def lab(course_root, tmp_path_factory) -> LabServer:
    for attempt in range(3):  # the free port can be taken between probing and binding
        try:
            server = start_lab(course_root, tmp_path_factory.mktemp("home"))
            break
        except RuntimeError as err:
            if "already in use" not in str(err) or attempt == 2:
                raise
    try:
        yield server
    finally:
        stop_lab(server)


# --------------------------------------------------------------------------- browser

@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (make system-deps)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class Shots:
    """Numbered screenshots of one test, ``<prefix>-NN-<step>.png``."""

    def __init__(self, page, prefix: str) -> None:
        self.page, self.prefix, self.n = page, prefix, 0
        self.dir = screenshot_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob(f"{prefix}-*.png"):
            old.unlink()

    def __call__(self, step: str, locator=None) -> Path:
        self.n += 1
        print(f"{time.strftime('%H:%M:%S')} screenshot {self.n:02d} {step}", flush=True)
        path = self.dir / f"{self.prefix}-{self.n:02d}-{step}.png"
        (locator or self.page).screenshot(path=str(path))
        return path


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    (screenshot_dir() / f"FAILED-{request.node.name}.png").unlink(missing_ok=True)
    try:
        yield page
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            d = screenshot_dir()
            d.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(d / f"FAILED-{request.node.name}.png"), full_page=True)
            except Exception:
                pass
        context.close()


@pytest.fixture
def shots(page, request):
    prefix = request.node.name.removeprefix("test_").replace("_", "-")
    return Shots(page, prefix)


def pytest_terminal_summary(terminalreporter):
    ran = [r for reports in terminalreporter.stats.values() for r in reports
           if getattr(r, "nodeid", "").startswith("tests/browser/")]
    if ran:
        d = screenshot_dir()
        n = len(list(d.glob("*.png"))) if d.is_dir() else 0
        terminalreporter.write_line(f"browser screenshots: {d} ({n} files)")
