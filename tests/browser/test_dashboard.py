#!/usr/bin/python3
"""test_dashboard.py -- tq dashboard in a real browser (headless Chromium
through Selenium), against the dashboard, worker and Redis that
tests/integration/t_browser.sh started.

Environment (set by t_browser.sh): DASH (the dashboard's URL), TQ_BIN,
TQ_REDIS_URL, TQ_NAMESPACE, SHOTS (the folder for screenshots), and the ids
of the jobs it made: RUNNING (a tq.sleep job running), DEAD (a tq.fail job
in the dead letters, <script> in its args and error), FLAKY (a tq.fail job
with 2 retries: 3 failed attempts, markup in its error). The test makes a
pending job whose task, queue and args hold <script> and <img onerror>
itself, after the queues page's screenshot (the README's: tidy names).

Checks, each with a screenshot in SHOTS: the queues page shows tq stats'
numbers and a chart per queue; counts change live without a reload; a
click on cancel cancels the running job; a click on retry moves the dead
letter back; pause stops a queue and resume starts it; a job's page draws
its attempts' timeline (each attempt, its error, the retries); no injected markup
ever runs (window.__x stays undefined, no alert opens) and it shows as text.
Prints one line per check; exits 1 on the first failure.
"""
import json
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.by import By

DASH = os.environ["DASH"]
TQ = os.path.join(os.environ["TQ_BIN"], "tq")
SHOTS = os.environ["SHOTS"]
RUNNING, DEAD = os.environ["RUNNING"], os.environ["DEAD"]
FLAKY = os.environ["FLAKY"]


def tq(*args):
    return subprocess.run([TQ, *args], check=True, capture_output=True, text=True).stdout.strip()


def stats(queue):
    for q in json.loads(tq("stats", "--json")):
        if q["queue"] == queue:
            return q
    return None


def wait(what, fn, secs=10.0):
    end = time.time() + secs
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception:  # an element not there yet, a page being redrawn
            if time.time() > end:
                raise
        if time.time() > end:
            raise AssertionError("not true within %gs: %s" % (secs, what))
        time.sleep(0.1)


def shot(d, name):
    path = os.path.join(SHOTS, "dashboard-%s.png" % name)
    d.save_screenshot(path)
    print("  screenshot %s" % path)


def no_script_ran(d, where):
    try:
        d.switch_to.alert
        raise AssertionError("%s: an alert opened" % where)
    except NoAlertPresentException:
        pass
    x = d.execute_script("return typeof window.__x === 'undefined' ? 'undefined' : String(window.__x)")
    if x != "undefined":
        raise AssertionError("%s: injected script ran (window.__x = %s)" % (where, x))


def click_twice(d, css):
    """Actions arm on the first click and fire on the second (the first
    click tried again when the page redrew the button just before it)."""
    for _ in range(5):
        b = wait(css, lambda: d.find_element(By.CSS_SELECTOR, css))
        try:
            b.click()
            break
        except StaleElementReferenceException:
            time.sleep(0.1)
    wait("armed " + css, lambda: "armed" in d.find_element(By.CSS_SELECTOR, css).get_attribute("class"))
    d.find_element(By.CSS_SELECTOR, css).click()


def cell(d, queue, state):
    for td in d.find_elements(By.CSS_SELECTOR, "td[data-state='%s']" % state):
        if td.get_attribute("data-queue") == queue:
            return td.text
    return None


def main():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900"):
        o.add_argument(a)
    svc = webdriver.ChromeService(executable_path="/usr/bin/chromedriver") \
        if hasattr(webdriver, "ChromeService") else None
    d = webdriver.Chrome(options=o, service=svc) if svc else webdriver.Chrome(options=o)
    d.set_page_load_timeout(20)
    try:
        run(d)
    finally:
        logs = d.get_log("browser") if hasattr(d, "get_log") else []
        for entry in logs:
            print("  console: %s" % entry.get("message"))
        d.quit()


def run(d):
    # ---- the queues page: tq stats' numbers; load time
    t0 = time.time()
    d.get(DASH + "/#/")
    wait("queues table", lambda: d.find_elements(By.CSS_SELECTOR, "td[data-state='pending']"))
    print("ok   queues page rendered in %.0f ms" % ((time.time() - t0) * 1000))
    d.execute_script("window.__marker = 'no reload'")
    live = stats("live")
    wait("live pending = tq stats", lambda: cell(d, "live", "pending") == str(live["pending"]))
    print("ok   queue 'live' pending %s as tq stats says" % live["pending"])
    no_script_ran(d, "queues page")

    # ---- live: counts change without a reload
    for i in range(3):
        tq("submit", "--queue", "live", "tq.noop", str(i))
    want = str(live["pending"] + 3)
    wait("live pending %s" % want, lambda: cell(d, "live", "pending") == want, 5)
    if d.execute_script("return window.__marker") != "no reload":
        raise AssertionError("the page reloaded")
    print("ok   counts changed live to %s without a reload" % want)

    # ---- a chart per queue, drawn from /api/rates (after 2 samples: 5 s)
    wait("a chart line for default",
         lambda: d.find_elements(By.CSS_SELECTOR, "svg.chart[data-queue='default'] polyline"), 20)
    print("ok   jobs-per-second chart drawn")
    shot(d, "queues")

    # ---- pause stops a queue; resume starts it again
    click_twice(d, "tr[data-queue='default'] button[data-action='pause']")
    wait("default paused", lambda: stats("default")["paused"], 5)
    wait("paused shown", lambda: d.find_element(
        By.CSS_SELECTOR, "tr[data-queue='default'] td[data-paused]").get_attribute("data-paused") == "1", 5)
    held = tq("submit", "tq.noop", '"held"')
    time.sleep(1.5)
    if tq("status", held) != "pending":
        raise AssertionError("a job of a paused queue started")
    shot(d, "paused")
    click_twice(d, "tr[data-queue='default'] button[data-action='resume']")
    wait("held ran", lambda: tq("status", held) == "succeeded", 10)
    print("ok   pause stopped the queue, resume started it")

    # ---- cancel a running job from its page
    d.get(DASH + "/#/job/" + RUNNING)
    wait("job page", lambda: d.find_element(By.ID, "job-state").text == "active")
    shot(d, "job-running")
    click_twice(d, "button[data-action='cancel']")
    wait("cancelled", lambda: tq("status", RUNNING) == "cancelled", 10)
    wait("cancelled shown", lambda: d.find_element(By.ID, "job-state").text == "cancelled", 5)
    print("ok   a click on cancel cancelled the running job")

    # ---- the dead letter: <script> shown as text, never run; retry
    d.get(DASH + "/#/dlq")
    row = "tr[data-id='%s']" % DEAD
    wait("dead letter row", lambda: d.find_element(By.CSS_SELECTOR, row))
    if "<script>" not in d.find_element(By.CSS_SELECTOR, row).text:
        raise AssertionError("the error's <script> is not shown as text")
    no_script_ran(d, "dead letters")
    shot(d, "dlq")
    d.get(DASH + "/#/job/" + DEAD)
    wait("dead job page", lambda: "<script>" in d.find_element(By.ID, "job-error").text)
    if "<script>" not in d.find_element(By.ID, "job-args").text:
        raise AssertionError("the args' <script> is not shown as text")
    no_script_ran(d, "dead job page")
    shot(d, "job-xss")
    d.get(DASH + "/#/dlq")
    click_twice(d, row + " button[data-action='retry']")
    # tq.fail fails again: it comes back to the dead letters, attempt 2
    wait("retried", lambda: json.loads(tq("status", "--json", DEAD))["attempt"] == 2, 10)
    print("ok   a click on retry moved the dead letter back (attempt 2)")

    # ---- the attempts' timeline: 3 attempts, the first two logged with their errors
    d.get(DASH + "/#/job/" + FLAKY)
    wait("timeline", lambda: d.find_elements(By.CSS_SELECTOR, "#job-timeline tr[data-event='failed']"))
    # read in one go: the page redraws every second
    rows = d.execute_script("return Array.from(document.querySelectorAll('#job-timeline tbody tr'))"
                            ".map((tr) => [tr.dataset.event, tr.textContent])")
    evs = [r[0] for r in rows]
    want = ["created", "attempt 1", "attempt 1 failed", "retry", "attempt 2", "attempt 2 failed",
            "retry", "attempt 3", "failed"]
    if evs != want:
        raise AssertionError("timeline %s, not %s" % (evs, want))
    for ev, txt in rows:
        if ev in ("attempt 1 failed", "attempt 2 failed", "failed") and \
                "flaky <b>x</b><script>" not in txt:
            raise AssertionError("row %s does not show the error as text: %r" % (ev, txt))
    no_script_ran(d, "a job's timeline")
    shot(d, "job-timeline")
    # the dead letter retried: its first attempt (error with <script>) is history now
    d.get(DASH + "/#/job/" + DEAD)
    wait("dead letter's attempt 1", lambda: "<script>" in (d.execute_script(
        "const r = document.querySelector(\"#job-timeline tr[data-event='attempt 1 failed']\");"
        "return r ? r.textContent : ''") or ""))
    no_script_ran(d, "the retried dead letter's timeline")
    print("ok   the timeline shows each attempt with its error (as text) and the retries")

    # ---- a job whose task and queue are markup: text everywhere
    XSS = tq("submit", "--queue", "<img src=x onerror=window.__x=4>",
             "<script>window.__x=3</script>",
             '{"html": "<script>window.__x=5;alert(5)</script>", "img": "<img src=x onerror=alert(6)>"}')
    d.get(DASH + "/#/")
    wait("xss queue row", lambda: any("<img" in (td.text or "") for td in
                                      d.find_elements(By.CSS_SELECTOR, "tr[data-queue] td:first-child")))
    no_script_ran(d, "queues page with a markup queue name")
    d.get(DASH + "/#/job/" + XSS)
    wait("xss job page", lambda: "<script>" in d.find_element(By.TAG_NAME, "main").text)
    no_script_ran(d, "job with a markup task name")
    q = json.loads(tq("status", "--json", XSS))["queue"]
    d.get(DASH + "/#/queue/" + q.replace("%", "%25").replace(" ", "%20"))
    wait("xss queue page", lambda: d.find_elements(By.CSS_SELECTOR, "tr[data-id='%s']" % XSS))
    no_script_ran(d, "queue page of a markup queue")
    shot(d, "xss-queue")
    print("ok   no injected <script> or onerror ran; all shown as text")

    for p in ("workers", "schedules", "limits"):
        d.get(DASH + "/#/" + p)
        wait(p, lambda: d.find_element(By.TAG_NAME, "h1"))
        no_script_ran(d, p)
        shot(d, p)
    print("ok   workers, schedules, limits pages render")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
