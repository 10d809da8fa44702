"""The web console in a real headless Chromium, step by step as a user notices it.

Run by tests/tests/console_browser.rs against `strata up` with manifests/examples/ applied and
the seed's table reached. Each step saves a screenshot `<artifacts>/<step>.png`; a failing step
also saves `<artifacts>/failed-<step>.png` and `.html`. Exits 0 when every step passed.

Selenium drives the chromedriver and chromium given on the command line (Selenium Manager is
never asked to download anything). Every wait is explicit polling (WebDriverWait).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from urllib.parse import urlparse

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# The app the test creates, and the invalid one it tries to create.
APP = "browser-made"
INVALID = "browser-invalid"
# How long the console may take to show what the cluster did (the controllers and the agent
# act within seconds; the whole script stays well under a minute).
WAIT = 30


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, help="the console, http://127.0.0.1:PORT")
    p.add_argument("--token", required=True, help="the admin's token")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--artifacts", required=True, help="where the screenshots go")
    p.add_argument("--expected", required=True, help="the seed's table as JSON rows")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.add_argument("--scratch", default=None, help="a directory for the browser profile")
    return p.parse_args()


def log(message):
    print(f"[{time.monotonic() - START:5.1f}s] {message}", flush=True)


START = time.monotonic()


class Console:
    def __init__(self, args):
        self.args = args
        self.url = args.url.rstrip("/")
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=args.scratch)
        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for flag in [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--disable-extensions",
        ]:
            options.add_argument(flag)
        # The confirm() dialogs are accepted by the steps themselves, never silently.
        options.set_capability("unhandledPromptBehavior", "ignore")
        service = Service(executable_path=args.chromedriver)
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(WAIT)

    def quit(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass

    def open(self, path):
        self.driver.get(self.url + path)

    def path(self):
        return urlparse(self.driver.current_url).path

    def wait(self, what, condition, timeout=WAIT):
        """Polls `condition(driver)` until it is truthy; fails saying `what` was awaited."""

        def check(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False

        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
            check, message=f"waited {timeout} s for {what}"
        )

    def css(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def status_code(self):
        """The HTTP status of the page shown (the Navigation Timing entry's responseStatus)."""
        return self.driver.execute_script(
            "var n = performance.getEntriesByType('navigation')[0];"
            "return n ? n.responseStatus : null;"
        )

    def screenshot(self, name):
        path = os.path.join(self.args.artifacts, f"{name}.png")
        self.driver.save_screenshot(path)
        return path

    def type_into(self, selector, text):
        field = self.css(selector)
        field.clear()
        field.send_keys(text)

    def app_rows(self):
        """The Apps table as shown: {id: {column: text}}, read in one go (the live updates
        replace the table's body whenever anything changes)."""
        return self.driver.execute_script(ROWS_JS)


# The Apps table's rows, read in the page at once.
ROWS_JS = """
var rows = {};
document.querySelectorAll('table#apps tr.app').forEach(function (row) {
  var text = function (c) { var e = row.querySelector('.' + c); return e ? e.textContent.trim() : null; };
  var bar = row.querySelector('.health .health-bar');
  rows[row.dataset.id] = {
    name: row.dataset.name, namespace: row.dataset.namespace,
    id: text('id'), mem: text('mem'), cpus: text('cpus'), tasks: text('tasks'),
    health: bar ? bar.getAttribute('title') : '', status: text('status')
  };
});
return rows;
"""


def kubectl(args, *extra):
    env = dict(os.environ, KUBECONFIG=args.kubeconfig)
    return subprocess.run(
        ["kubectl", *extra], env=env, capture_output=True, text=True, timeout=30
    )


def kubectl_table(args, *extra):
    """`kubectl get ...` as rows of {column: cell}, cells read under their headers."""
    out = kubectl(args, "get", *extra)
    if out.returncode != 0:
        raise AssertionError(f"kubectl get {' '.join(extra)} failed: {out.stderr}")
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    header = lines[0]
    # Headers are separated by at least two spaces ("MEMORY (MB)" has one inside).
    starts = []
    i = 0
    while i < len(header):
        if header[i] == " ":
            i += 1
            continue
        end = header.find("  ", i)
        end = len(header) if end < 0 else end
        starts.append((i, header[i:end]))
        i = end
    rows = []
    for line in lines[1:]:
        row = {}
        for n, (start, name) in enumerate(starts):
            stop = starts[n + 1][0] if n + 1 < len(starts) else len(line)
            row[name] = line[start:stop].strip()
        rows.append(row)
    return rows


def health_title(kubectl_health):
    """The health bar's title for kubectl's HEALTH cell: Marathon's bar counts running tasks
    without a health check as "unknown" where kubectl says "running"; "-" is an empty bar."""
    if kubectl_health == "-":
        return ""
    return kubectl_health.replace("running", "unknown")


# ---------------------------------------------------------------------------------- the steps


def wrong_token_is_refused(c, args):
    c.open("/login")
    c.wait("the login form", lambda d: c.css("input#token"))
    c.type_into("input#token", "not-a-token-the-store-knows")
    c.css("input#token").submit()
    refusal = c.wait("the refusal", lambda d: c.all("#login-error"))[0].text
    assert "refused" in refusal, f"the refusal says {refusal!r}"
    assert c.path() == "/login", f"still on the login page, not {c.driver.current_url}"
    status = c.status_code()
    assert status == 401, f"the refusal is a 401, not {status}"
    assert c.css("input#token").is_displayed(), "the token field is there to try again"
    # Nothing signed in: the Apps page sends the browser back to the login page.
    c.open("/apps")
    c.wait("the login page again", lambda d: c.path() == "/login")
    c.type_into("input#token", "not-a-token-the-store-knows")
    c.css("input#token").submit()
    c.wait("the refusal", lambda d: c.all("#login-error"))
    return f"refused with 401: {refusal!r}"


def admin_signs_in_and_sees_the_seed(c, args):
    c.type_into("input#token", args.token)
    c.css("input#token").submit()
    c.wait("the Apps page", lambda d: c.path() == "/apps" and c.all("table#apps"))
    user = c.css("#user-name").text
    assert user, "the signed-in user's name is shown"
    expected = json.loads(args.expected)
    problems = []

    def matches(driver):
        problems.clear()
        rows = c.app_rows()
        ids = sorted(rows)
        want_ids = sorted(r["ID"] for r in expected)
        if ids != want_ids:
            problems.append(f"apps {ids}, want {want_ids}")
        for want in expected:
            got = rows.get(want["ID"])
            if got is None:
                continue
            for column, key, value in [
                ("MEMORY (MB)", "mem", want["MEMORY (MB)"]),
                ("CPUS", "cpus", want["CPUS"]),
                ("TASKS / INSTANCES", "tasks", want["TASKS / INSTANCES"]),
                ("HEALTH", "health", health_title(want["HEALTH"])),
                ("STATUS", "status", want["STATUS"]),
            ]:
                if got[key] != value:
                    problems.append(f"{want['ID']}: {column} shows {got[key]!r}, want {value!r}")
        return not problems

    try:
        c.wait("the seed's table", matches, timeout=10)
    except Exception:
        raise AssertionError("the Apps table differs from the seed's:\n  " + "\n  ".join(problems))
    return f"signed in as {user}; {len(expected)} apps as in the seed's table"


def created_app_appears_running(c, args):
    # This tab shows the Apps page; the app is created in another, as a second user window
    # would: the table must update itself (server-sent events), without a reload.
    c.open("/apps")
    c.wait("the Apps table", lambda d: c.all("table#apps tr.app"))
    c.driver.execute_script("window.__loadedOnce = true;")
    apps_tab = c.driver.current_window_handle
    assert APP not in [r["name"] for r in c.app_rows().values()], f"{APP} is not there yet"

    c.driver.switch_to.new_window("tab")
    c.open("/apps")
    c.css("a#new-app").click()
    c.wait("the New App form", lambda d: c.path() == "/apps/new" and c.all("#new-app-form"))
    c.type_into("#app-name", APP)
    c.type_into("#app-cmd", "sleep 1000")
    c.type_into("#app-cpus", "0.1")
    c.type_into("#app-mem", "32")
    c.type_into("#app-instances", "1")
    c.screenshot("03a-new-app-form")
    c.css("button#create").click()
    c.wait("the new app's page", lambda d: c.path() == f"/apps/default/{APP}")
    c.driver.close()
    c.driver.switch_to.window(apps_tab)

    live = True
    try:
        c.wait(f"{APP} Running in the Apps table",
               lambda d: c.app_rows().get(f"/{APP}", {}).get("status") == "Running", timeout=10)
    except Exception:
        live = False
        log("LIVE UPDATE DID NOT WORK: the Apps table did not show the new app Running within "
            "10 s without a reload; reloading")
        c.open("/apps")
        c.wait(f"{APP} Running in the Apps table after a reload",
               lambda d: c.app_rows().get(f"/{APP}", {}).get("status") == "Running")
    if live:
        assert c.driver.execute_script("return window.__loadedOnce === true;"), \
            "the page was reloaded"
    row = c.app_rows()[f"/{APP}"]
    assert (row["mem"], row["cpus"]) == ("32", "0.1"), f"the row shows {row}"
    c.wait(f"{APP} at 1 / 1", lambda d: c.app_rows()[f"/{APP}"]["tasks"] == "1 / 1")
    if not live:
        raise AssertionError("the new app showed Running only after a reload: the Apps "
                             "page's live update (server-sent events) did not work")
    return f"{APP} appeared Running by live update: {c.app_rows()[f'/{APP}']}"


def scaling_reaches_kubectl(c, args):
    c.open("/apps")
    c.css(f'table#apps tr.app[data-name="{APP}"] td.id a').click()
    c.wait("the app page", lambda d: c.path() == f"/apps/default/{APP}" and c.all("#scale"))
    c.type_into("#scale-instances", "3")
    c.css("button#scale").click()
    c.wait("the page after scaling",
           lambda d: c.all("#scale-instances")
           and c.css("#scale-instances").get_attribute("value") == "3")
    table = {}

    def three_of_three(driver):
        rows = kubectl_table(args, "apps")
        table.update({r["NAME"]: r for r in rows})
        return table.get(APP, {}).get("TASKS / INSTANCES") == "3 / 3"

    try:
        c.wait("kubectl get apps to show 3 / 3", three_of_three)
    except Exception:
        raise AssertionError(f"kubectl get apps shows {table.get(APP)}")
    # What the user sees: three running tasks on the page (it is not live: reload it).
    def three_tasks(driver):
        c.open(f"/apps/default/{APP}")
        states = [t.text for t in c.all("table#tasks tr.task td.state")]
        return states.count("Running") == 3

    c.wait("three running tasks on the app page", three_tasks)
    return f"kubectl get apps: {table[APP]}"


def suspending_shows_suspended(c, args):
    c.css("button#suspend").click()
    alert = c.wait("the confirm dialog", EC.alert_is_present())
    question = alert.text
    assert "Suspend" in question and APP in question, f"the dialog asks {question!r}"
    alert.accept()

    def suspended(driver):
        if c.path() != f"/apps/default/{APP}" or not c.all("#app-status"):
            return False
        if c.css("#app-status").text == "Suspended":
            return True
        c.open(f"/apps/default/{APP}")
        return False

    c.wait("the app page to say Suspended", suspended)
    assert c.all("button#resume"), "a suspended app offers Resume"
    c.open("/apps")
    c.wait("Suspended in the Apps table",
           lambda d: c.app_rows().get(f"/{APP}", {}).get("status") == "Suspended")
    c.wait("0 / 0 in the Apps table", lambda d: c.app_rows()[f"/{APP}"]["tasks"] == "0 / 0")
    return f"confirm asked {question!r}; the table shows {c.app_rows()[f'/{APP}']}"


def invalid_app_shows_the_field_error(c, args):
    c.open("/apps/new")
    c.wait("the New App form", lambda d: c.all("#new-app-form"))
    c.type_into("#app-name", INVALID)
    c.type_into("#app-cmd", "sleep 1000")
    c.type_into("#app-cpus", "-1")
    c.css("button#create").click()
    error = c.wait("the field error of spec.cpus",
                   lambda d: c.all('p.field-error[data-field="spec.cpus"]'))[0]
    assert c.status_code() == 422, f"the form comes back as a 422, not {c.status_code()}"
    assert error.is_displayed() and error.text.strip(), "the error is shown, with a message"
    # Beside its field: in the same field box as the CPUs input, just below it.
    box = error.find_element(By.XPATH, "./ancestor::div[contains(@class,'field')][1]")
    assert box.find_elements(By.CSS_SELECTOR, "input#app-cpus"), "the error is by the CPUs field"
    cpus = c.css("#app-cpus")
    assert cpus.get_attribute("value") == "-1", "the form keeps what was typed"
    below = error.rect["y"] - (cpus.rect["y"] + cpus.rect["height"])
    assert 0 <= below < 100, f"the error is right below the field ({below}px)"
    others = [e.get_attribute("data-field") for e in c.all("p.field-error")]
    assert others == ["spec.cpus"], f"only CPUs is wrong, yet errors at {others}"
    got = kubectl(args, "get", "app", INVALID)
    assert got.returncode != 0 and "NotFound" in got.stderr, \
        f"nothing was created, yet kubectl get app {INVALID} printed {got.stdout}{got.stderr}"
    return f"spec.cpus: {error.text!r}; kubectl get app {INVALID}: {got.stderr.strip()}"


def sandbox_shows_stdout(c, args):
    # From the Apps table to the app, to a task, to its sandbox, as a user clicks.
    app = "cleanup-old-weeks.task"
    c.open("/apps")
    c.css(f'table#apps tr.app[data-name="{app}"] td.id a').click()
    c.wait("the app page with its tasks", lambda d: c.all("table#tasks tr.task td.name a"))
    task = c.all("table#tasks tr.task")[0].get_attribute("data-name")
    c.all("table#tasks tr.task td.name a")[0].click()
    c.wait("the sandbox page", lambda d: c.path() == f"/sandbox/default/{task}")
    want = "removing files older than 4 weeks"
    c.wait("the task's stdout",
           lambda d: c.all("pre#stdout") and want in c.css("pre#stdout").text)
    first = c.css("pre#stdout").text.splitlines()[0]
    return f"{task}: stdout starts {first!r}"


def failure():
    """The exception being handled: the script's frames and the message, without
    chromedriver's native stack trace."""
    kind, error, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if f.filename == __file__]
    message = str(error).split("\nStacktrace:")[0].strip()
    return "".join(traceback.format_list(frames)) + f"{kind.__name__}: {message}"


STEPS = [
    ("01-wrong-token-refused", wrong_token_is_refused),
    ("02-apps-table-seed", admin_signs_in_and_sees_the_seed),
    ("03-created-app-running", created_app_appears_running),
    ("04-scaled-to-3", scaling_reaches_kubectl),
    ("05-suspended", suspending_shows_suspended),
    ("06-invalid-app-field-error", invalid_app_shows_the_field_error),
    ("07-sandbox-stdout", sandbox_shows_stdout),
]


def main():
    args = parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    console = Console(args)
    log(f"chromium {console.driver.capabilities.get('browserVersion')} started")
    try:
        for name, step in STEPS:
            try:
                said = step(console, args)
            except Exception:
                log(f"FAILED {name} at {console.driver.current_url}")
                print(failure(), flush=True)
                try:
                    console.screenshot(f"failed-{name}")
                    with open(os.path.join(args.artifacts, f"failed-{name}.html"), "w") as f:
                        f.write(console.driver.page_source)
                except WebDriverException:
                    pass
                return 1
            shot = console.screenshot(name)
            log(f"ok {name}: {said}  ({os.path.basename(shot)})")
    finally:
        console.quit()
    log(f"all {len(STEPS)} steps passed; screenshots in {args.artifacts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
