"""A headless Chromium driven over the DevTools protocol, on a pipe (no port, no websocket).

``--remote-debugging-pipe`` makes Chromium read protocol messages on fd 3 and write them on
fd 4, each a JSON object followed by a NUL byte. That is all a test needs to open a page,
wait until a person would see something, read the DOM and pixels, and take a screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

#: Debian's package installs ``chromium``; other distributions name it differently.
EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The path of an installed Chromium, or ``None``."""
    for name in EXECUTABLES:
        found = shutil.which(name)
        if found is not None:
            return found
    return None


class BrowserError(RuntimeError):
    """Chromium answered a command with an error, exited, or a wait ran out."""


class Chromium:
    """One headless browser with one page; ``with Chromium(path) as browser: ...``."""

    def __init__(self, executable: str, *, width: int = 1400, height: int = 1000) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="iot-pipeline-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # A tiny trampoline puts our pipe ends on the fds Chromium expects, 3 and 4.
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                "os.execvp(sys.argv[3], sys.argv[3:])",
                str(to_browser_r),
                str(from_browser_w),
                executable,
                "--headless",
                "--no-sandbox",  # tests may run as root in containers
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._buffer = b""
        self._session = self._attach_to_page()
        self.command("Page.enable")
        self.command("Runtime.enable")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser and remove its profile."""
        with contextlib.suppress(OSError):
            self._send("Browser.close", {}, session=None)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._profile.cleanup()

    # -- protocol -----------------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any], *, session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError(f"chromium exited (code {self._process.poll()})")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _call(self, method: str, params: dict[str, Any], *, session: str | None) -> Any:
        wanted = self._send(method, params, session=session)
        while True:
            message = self._receive()
            if message.get("id") != wanted:
                continue  # an event; nothing here waits for events
            if "error" in message:
                raise BrowserError(f"{method}: {message['error']}")
            return message.get("result", {})

    def _attach_to_page(self) -> str:
        targets = self._call("Target.getTargets", {}, session=None)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = self._call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=None
        )
        session: str = attached["sessionId"]
        return session

    def command(self, method: str, **params: Any) -> Any:
        """Send a DevTools command to the page; its result."""
        return self._call(method, params, session=self._session)

    # -- what a test does ---------------------------------------------------------------------

    def open(self, url: str) -> None:
        """Navigate and wait for the document to load."""
        self.command("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 20.0) -> Any:
        """Poll ``expression`` until it is truthy; its value (BrowserError on timeout)."""
        give_up = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > give_up:
                raise BrowserError(f"still false after {timeout:g} s: {expression}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page."""
        data = self.command("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
