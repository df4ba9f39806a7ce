#!/usr/bin/python3
"""Drives the aggregator's page in headless Chromium over the DevTools
protocol, for system_test's WebPage test (issue 13).

  web_driver.py --base http://127.0.0.1:PORT --address 10.99.0.2
                --out DIR --ready-file FILE [--timeout 120]
  web_driver.py --base http://127.0.0.1:PORT --out DIR --token-file FILE
                (the login form and its session only)

1. Opens the findings page and waits until its live stream is connected,
   then marks the window (so a reload would show) and touches --ready-file:
   the test then makes the server vanish.
2. Waits, without reloading, for the VANISHED_PEER finding to appear.
3. Opens /address/ADDRESS and waits for the timeline: an owner's bar and a
   gap where nobody held it.
4. Opens /nodes and waits for both agents, reporting.
5. Takes screenshots (findings.png, findings-narrow.png at a phone's width,
   address.png, nodes.png) into --out, and fails on any JavaScript error, console
   error or failed load seen on the way.

Debian's python3-websocket and chromium only; every wait is bounded by
--timeout. Exit 0 on success, 1 with the reason on stderr otherwise.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

CHROMIUM = "/usr/bin/chromium"


class Failure(Exception):
    pass


class Browser:
    """One headless Chromium and a DevTools session on its first page."""

    def __init__(self, deadline):
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="gp-chromium-")
        # Root in a container: no sandbox; no GPU; /dev/shm may be tiny.
        # Nothing may reach the network: no component updates, no sync.
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--remote-debugging-port=0",
             "--remote-debugging-address=127.0.0.1",
             "--user-data-dir=" + self.profile, "--window-size=1280,800",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.ws = None
        self.next_id = 0
        self.errors = []
        port = self._devtools_port()
        targets = json.load(urllib.request.urlopen(
            "http://127.0.0.1:%d/json/list" % port, timeout=10))
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise Failure("chromium opened no page: %r" % targets)
        self.ws = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=5)
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(domain + ".enable")

    def _devtools_port(self):
        # Chromium writes the port it picked into the profile.
        path = os.path.join(self.profile, "DevToolsActivePort")
        until = min(self.deadline, time.monotonic() + 30)
        while time.monotonic() < until:
            if self.process.poll() is not None:
                raise Failure("chromium exited with %d at start"
                              % self.process.returncode)
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise Failure("chromium did not open its DevTools port")

    def close(self):
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:  # pylint: disable=broad-except
                pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _note(self, message):
        """Records the errors the page shows, from any event."""
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or \
                details.get("text")
            self.errors.append("exception: %s" % text)
        elif method == "Runtime.consoleAPICalled" and \
                params.get("type") in ("error", "assert"):
            args = [a.get("value", a.get("description"))
                    for a in params.get("args", [])]
            self.errors.append("console.%s: %r" % (params["type"], args))
        elif method == "Log.entryAdded" and \
                params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append("log: %s (%s)" % (entry.get("text"),
                                                 entry.get("url", "")))
        elif method == "Network.loadingFailed" and \
                not params.get("canceled"):
            self.errors.append("load failed: %s" % params.get("errorText"))

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method,
                                 "params": params}))
        while True:
            if time.monotonic() > self.deadline:
                raise Failure("timed out waiting for %s" % method)
            try:
                message = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                continue
            if message.get("id") == my_id:
                if "error" in message:
                    raise Failure("%s: %s" % (method, message["error"]))
                return message.get("result", {})
            self._note(message)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise Failure("evaluating %s: %s" % (expression,
                                                 result["exceptionDetails"]))
        return result.get("result", {}).get("value")

    def wait_for(self, expression, what, timeout):
        # Mid-navigation the document may be half there: an exception
        # means "not yet".
        guarded = "(() => { try { return (%s); } catch (e) { return false; } })()" \
            % expression
        until = min(self.deadline, time.monotonic() + timeout)
        while time.monotonic() < until:
            value = self.evaluate(guarded)
            if value:
                return value
            time.sleep(0.25)
        # Where the page was and what its fields held (tokens masked): the
        # text alone could not tell which part of a condition failed.
        state = self.evaluate(
            "location.href + ' fields: ' + Array.from("
            "document.querySelectorAll('input')).map((i) => (i.id || i.name)"
            " + '=' + (/token/i.test(i.id + i.name) ? '***' : i.value))"
            ".join(' ')")
        raise Failure("gave up waiting for %s (%s); errors: %r; at: %s; "
                      "page: %s"
                      % (what, expression, self.errors, state, self.evaluate(
                          "document.body ? document.body.innerText"
                          ".slice(0, 600) : '(no body)'")))

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print("screenshot: %s" % path, flush=True)


def login(browser, args):
    """--token-file: a page asked for sends the browser to the login form;
    the token typed there opens a session the page's script cannot read,
    and the same API refuses a request without it."""
    with open(args.token_file) as f:
        token = f.read().strip()
    browser.navigate(args.base + "/nodes")
    browser.wait_for("location.pathname === '/login' && "
                     "document.getElementById('token') !== null",
                     "the login form", 30)
    if browser.evaluate("new URLSearchParams(location.search).get('next')") \
            != "/nodes":
        raise Failure("the login form forgot the page asked for")
    browser.evaluate("document.getElementById('token').value = 'wrong'; "
                     "document.querySelector('form').submit(); 1")
    browser.wait_for("location.search.includes('failed=1') && "
                     "!document.getElementById('failed').hidden && "
                     "document.getElementById('next').value === '/nodes'",
                     "the wrong token refused", 30)
    browser.evaluate("document.getElementById('token').value = %s; "
                     "document.querySelector('form').submit(); 1"
                     % json.dumps(token))
    browser.wait_for("location.pathname === '/nodes' && document.body && "
                     "document.body.dataset.live === 'connected'",
                     "the page after logging in", 30)
    if "ghostpeer_session" in (browser.evaluate("document.cookie") or ""):
        raise Failure("the session cookie is readable by scripts")
    browser.call("Runtime.evaluate", expression=(
        "fetch('/api/v1/nodes').then((r) => window.__withCookie = r.status);"
        "fetch('/api/v1/nodes', {credentials: 'omit'})"
        ".then((r) => window.__withoutCookie = r.status); 1"))
    statuses = browser.wait_for(
        "window.__withCookie && window.__withoutCookie && "
        "[window.__withCookie, window.__withoutCookie]", "the API answers", 10)
    if statuses != [200, 401]:
        raise Failure("API with/without the cookie: %r, want [200, 401]"
                      % statuses)
    # The refused fetch is this check's own doing, not the page's.
    browser.errors = [e for e in browser.errors if "401" not in e]
    print("logged in with the token; the cookie is HttpOnly", flush=True)


def run(args):
    deadline = time.monotonic() + args.timeout
    os.makedirs(args.out, exist_ok=True)
    browser = Browser(deadline)
    try:
        if args.token_file:
            login(browser, args)
            if browser.errors:
                raise Failure("errors in the page:\n  " +
                              "\n  ".join(browser.errors))
            return
        browser.call("Emulation.setDeviceMetricsOverride", width=1280,
                     height=800, deviceScaleFactor=1, mobile=False)
        browser.navigate(args.base + "/")
        browser.wait_for("document.body && document.body.dataset.live === "
                         "'connected'", "the live stream", 30)
        # A reload would lose this.
        browser.evaluate("window.__ghostpeerNoReload = 'still here'")
        with open(args.ready_file, "w") as f:
            f.write("ready\n")
        print("page live; waiting for the finding", flush=True)

        browser.wait_for(
            "document.querySelector('article.finding[data-kind="
            "\"VANISHED_PEER\"]:not(.resolved)') !== null",
            "the VANISHED_PEER finding on the page", 60)
        if browser.evaluate("window.__ghostpeerNoReload") != "still here":
            raise Failure("the page reloaded to show the finding")
        story = browser.evaluate(
            "document.querySelector('article.finding[data-kind="
            "\"VANISHED_PEER\"] .story').textContent")
        print("finding appeared live: %s" % story, flush=True)
        if args.address not in (story or ""):
            raise Failure("the story does not name %s: %r"
                          % (args.address, story))
        browser.screenshot(os.path.join(args.out, "findings.png"))

        browser.call("Emulation.setDeviceMetricsOverride", width=390,
                     height=844, deviceScaleFactor=1, mobile=True)
        browser.screenshot(os.path.join(args.out, "findings-narrow.png"))
        overflow = browser.evaluate(
            "document.documentElement.scrollWidth - "
            "document.documentElement.clientWidth")
        if overflow and overflow > 0:
            raise Failure("the findings page is %dpx wider than a phone"
                          % overflow)
        browser.call("Emulation.setDeviceMetricsOverride", width=1280,
                     height=800, deviceScaleFactor=1, mobile=False)

        browser.navigate(args.base + "/address/" + args.address)
        browser.wait_for("document.body && document.body.dataset.timeline "
                         "=== 'drawn'", "the timeline", 30)
        bars = browser.evaluate(
            "document.querySelectorAll('svg.timeline rect.owner-bar').length")
        gaps = browser.evaluate(
            "document.querySelectorAll('svg.timeline rect.gap').length")
        marks = browser.evaluate(
            "document.querySelectorAll('svg.timeline rect.write-mark')"
            ".length")
        print("timeline: %d owner bar(s), %d gap(s), %d write mark(s)"
              % (bars, gaps, marks), flush=True)
        if bars < 1:
            raise Failure("no owner bar on the address page")
        if gaps < 1:
            raise Failure("no gap on the address page")
        # The last owner's bar ends before the gap after it starts.
        order = browser.evaluate("""(() => {
            const bar = [...document.querySelectorAll(
                'svg.timeline rect.owner-bar')].pop();
            const gap = [...document.querySelectorAll(
                'svg.timeline rect.gap')].pop();
            const end = Number(bar.getAttribute('x')) +
                Number(bar.getAttribute('width'));
            return Number(gap.getAttribute('x')) >= end - 1;
        })()""")
        if not order:
            raise Failure("the gap does not follow the owner's bar")
        browser.screenshot(os.path.join(args.out, "address.png"))

        # The nodes page lists both agents as reporting.
        browser.navigate(args.base + "/nodes")
        browser.wait_for(
            "[...document.querySelectorAll('#nodes td.ok')].filter("
            "(td) => td.textContent === 'reporting').length >= 2",
            "two reporting nodes", 30)
        browser.screenshot(os.path.join(args.out, "nodes.png"))
        # Let late events (a failed load, an exception) arrive.
        browser.evaluate("1")
        time.sleep(0.5)
        browser.evaluate("1")
        if browser.errors:
            raise Failure("errors in the page:\n  " +
                          "\n  ".join(browser.errors))
    finally:
        browser.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--address")
    parser.add_argument("--out", required=True)
    parser.add_argument("--ready-file")
    # Set: only log in through the form with this token, and check the
    # session (the aggregator needs no data for that).
    parser.add_argument("--token-file")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    # The test stops a driver it gave up on with SIGTERM: leave through the
    # finally clauses, so Chromium goes too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        run(args)
    except (Failure, OSError, websocket.WebSocketException) as e:
        print("web_driver: %s" % e, file=sys.stderr, flush=True)
        return 1
    print("web_driver: ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
