"""How fast the app answers in a real browser, against a plain Streamlit page measured in the same run.

    .venv/bin/python bench/ui.py [--runs 3] [--settle 5] [--skip PART ...] [--pages PATH ...]

Drives Debian's Chromium (Playwright) against freshly started ``streamlit run`` servers and prints
medians over ``--runs``:

1. cold: a fresh server for ``app.py`` and one for ``bench/baseline_app.py`` (a title and a 20-row
   table), alternately; time from navigation to the home page's title and to its table.
   Goal: ≤ 1.3× the baseline's.
2. pages: one warm server (home opened, then ``--settle`` seconds, as a user reading it); every
   page of app.py's navigation (read from app.py, so new pages are measured too) in a fresh
   browser session: time to its title, to its first control, and until the script run is done.
   Goal: every page's controls within 1.5 s.
3. inference: on that server, Inference with EfficientNet-Lite0, "Upload" chosen; time from
   handing the file to the page to "Prediction:" visible, to every default map drawn, and to the
   end of the run; against decode + preprocess + forward of the same files measured here, in this
   process, with the same code (``explorer.images.read_image``, the model's preprocess,
   ``explorer.inference.predict``). Goal: prediction ≤ 1.5× that.
4. switch: Inference with a sample photo, model switched to resnet50 and back to
   efficientnet_lite0; time to the new prediction and to the end of the run.
5. first: every page as the first visit of a cold server (a fresh server per page and way in,
   nothing imported, the warm-up not yet run): a deep link to the page opened in a fresh browser
   session, and a click on the page in the sidebar as soon as the home page's run is done (the
   warm-up is then importing torch). Time to its title, its first control and the end of the
   run; against the baseline page on a fresh server, measured alternately in the same run (its
   title and table). Goal: every page's controls within 1.5 s of the click, and a deep link's
   controls ≤ 1.3× the baseline's table.

The machine is measured as it is: on a shared machine, other processes' load shows up in both
sides of each ratio, which is why each ratio's two sides are measured in the same run.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = ROOT  # the checkout whose app.py is measured (--app: e.g. an older commit's, for "before")
SERVER_ENV = dict(os.environ)  # servers get the environment as it was given, not this process's
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
PHOTOS = ["n01530575_brambling.JPEG", "n01601694_water_ouzel.JPEG", "n02007558_flamingo.JPEG",
          "n01440764_tench.JPEG", "n02085620_Chihuahua.JPEG"]
# Streamlit's widget containers: what "the page's controls" are.
CONTROLS = ", ".join(f"[data-testid='stMain'] [data-testid='{t}']" for t in (
    "stSelectbox", "stRadio", "stSlider", "stNumberInput", "stTextInput", "stMultiSelect",
    "stFileUploader", "stButton", "stCheckbox", "stToggle", "stPageLink", "stSegmentedControl",
    "stPills", "stSelectSlider", "stTextArea"))
IDLE_JS = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  return app && app.getAttribute("data-test-connection-state") === "CONNECTED"
    && app.getAttribute("data-test-script-state") === "notRunning"
    && document.querySelector("[data-testid='stMain'] h1") !== null
    && document.querySelectorAll("[data-testid='stSkeleton']").length === 0
    && document.querySelectorAll("[data-testid='stSpinner']").length === 0;
}"""
FRESH_JS = """([css, pattern, notText]) => {
  const re = new RegExp(pattern);
  for (const el of document.querySelectorAll(css)) {
    const box = el.closest("[data-testid='stElementContainer']");
    if (box && box.getAttribute("data-stale") === "true") continue;
    const text = el.textContent || "";
    if (re.test(text) && text !== notText) return true;
  }
  return false;
}"""
COUNT_JS = """(css) => {
  let n = 0;
  for (const el of document.querySelectorAll(css)) {
    const box = el.closest("[data-testid='stElementContainer']");
    if (!(box && box.getAttribute("data-stale") === "true")) n++;
  }
  return n;
}"""
TEXT_JS = """([css, pattern]) => {
  const re = new RegExp(pattern);
  for (const el of document.querySelectorAll(css)) {
    if (re.test(el.textContent || "")) return el.textContent;
  }
  return null;
}"""
PREDICTION = ("[data-testid='stMain'] [data-testid='stCaptionContainer']", r"^Forward pass [\d.]+ ms on")
TIMEOUT_MS = 300_000


def _photo_dir() -> Path:
    try:
        from explorer.data import data_root

        return Path(data_root("imagenet-samples"))
    except Exception:  # the resolver is not there (yet)
        return ROOT.parent / "shared" / "data" / "imagenet-samples"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(script: Path, log_dir: Path):
    """A freshly started ``streamlit run script``; yields its URL once /_stcore/health answers."""
    import urllib.request

    port = _free_port()
    log = open(log_dir / f"{script.stem}-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=script.parent, env=SERVER_ENV, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Clock:
    """Seconds since ``start()``, and the time at which a locator first became visible."""

    def __init__(self, page):
        self.page = page
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def until(self, locator, state: str = "visible") -> float:
        locator.first.wait_for(state=state, timeout=TIMEOUT_MS)
        return time.perf_counter() - self.t0

    def until_fresh(self, css: str, pattern: str = "", not_text: str | None = None) -> float:
        """Until an element matching ``css`` (text matching ``pattern``, and other than
        ``not_text``) is drawn by the current run: not greyed out as stale from the last one."""
        self.page.wait_for_function(FRESH_JS, arg=[css, pattern, not_text], timeout=TIMEOUT_MS,
                                    polling=50)
        return time.perf_counter() - self.t0

    def text_of(self, css: str, pattern: str = "") -> str | None:
        return self.page.evaluate(TEXT_JS, [css, pattern])

    def until_all(self, css: str = "") -> tuple[float, float, int, str]:
        """Until the run is done (as :meth:`until_idle`), watching how many elements match
        ``css`` (the page's controls): (when the last of them was drawn, when the run was
        done, how many there are then, "count@seconds" at each change). A page that paints
        first draws most of them early."""
        css = css or CONTROLS
        seen = []  # call it once the run has begun (its title or a control is fresh)
        while True:
            n = self.page.evaluate(COUNT_JS, css)
            t = time.perf_counter() - self.t0
            seen.append((t, n))
            if self.page.evaluate(IDLE_JS):
                break
            if t > TIMEOUT_MS / 1000:
                raise TimeoutError("the page did not finish its run")
            self.page.wait_for_timeout(30)
        final, t_all = seen[-1][1], seen[-1][0]
        for t, n in reversed(seen):  # the start of the last stretch at the final count
            if n < final:
                break
            t_all = t
        changes = [f"{n}@{t:.2f}" for i, (t, n) in enumerate(seen)
                   if i == 0 or n != seen[i - 1][1]]
        return t_all, seen[-1][0], final, " ".join(changes)

    def until_idle(self) -> float:
        self.page.wait_for_timeout(200)  # let a rerun that the last action triggers begin
        self.page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS, polling=50)
        return time.perf_counter() - self.t0 - 0.2


def _context(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


def home_times(browser, url: str) -> tuple[float, float, float]:
    ctx = _context(browser)
    page = ctx.new_page()
    clock = Clock(page)
    page.goto(url, wait_until="commit")
    title = clock.until(page.locator("[data-testid='stMain'] h1"))
    table = clock.until(page.get_by_test_id("stDataFrame"))
    idle = clock.until_idle()
    ctx.close()
    return title, table, idle


def page_paths() -> list[tuple[str, str]]:
    """(url_path, title) of every page in app.py's navigation, in order."""
    text = (APP / "app.py").read_text()
    pages = []
    for m in re.finditer(r"st\.Page\((.*?)\)\s*[,\]]", text, re.S):
        args = m.group(1)
        path = re.search(r"url_path\s*=\s*[\"']([^\"']+)", args)
        title = re.search(r"title\s*=\s*(?:_\()?[\"']([^\"']+)", args)
        file = re.search(r"[\"']pages/([\w]+)\.py", args)
        stem = path.group(1) if path else file.group(1) if file else None
        if stem:
            pages.append((stem, title.group(1) if title else stem))
    return pages


def reference_seconds(files: list[Path]) -> float:
    """Median decode + preprocess + forward of ``files`` with the page's own code, here (with
    passive OpenMP threads, as the app's server runs them: importing ``explorer`` sets them,
    ``explorer.OMP_WAIT_POLICY``)."""
    from explorer import inference
    from explorer.data import images
    from explorer.weights import load_model

    loaded = load_model("efficientnet_lite0")
    blobs = [f.read_bytes() for f in files]
    inference.predict(loaded, images.read_image(blobs[0]).image)  # first-call costs
    times = []
    for _ in range(3):
        for data in blobs:
            t0 = time.perf_counter()
            img = images.read_image(data).image
            x = loaded.preprocess(img)
            inference.predict(loaded, x, topk=5)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


H1 = "[data-testid='stMain'] h1"


def visit_pages(browser, url: str) -> None:
    pages = page_paths()
    ctx = _context(browser)
    home = ctx.new_page()
    clock = Clock(home)
    home.goto(url)
    clock.until_idle()
    clicks = {}
    for stem, title in pages[1:] + pages[:1]:  # the home page is open: visit it last
        before = clock.text_of(H1)
        clock.start()
        home.get_by_test_id("stSidebarNav").get_by_role("link", name=title).first.click()
        t_title = clock.until_fresh(H1, "", before)
        t_ctrl = clock.until_fresh(CONTROLS)
        clicks[stem] = (t_title, t_ctrl, clock.until_idle())
    ctx.close()
    for stem, title in pages:
        ctx = _context(browser)
        page = ctx.new_page()
        clock = Clock(page)
        page.goto(f"{url}/{stem}", wait_until="commit")
        t_title = clock.until(page.locator(H1))
        t_ctrl = clock.until(page.locator(CONTROLS))
        t_idle = clock.until_idle()
        ctx.close()
        c_title, c_ctrl, c_idle = clicks[stem]
        flag = "ok" if c_ctrl <= 1.5 else "SLOW"
        print(f"{title[:22]:22s} click: title {c_title:5.2f} s, controls {c_ctrl:5.2f} s "
              f"[{flag}, goal ≤ 1.5 s], done {c_idle:5.2f} s | new tab: title {t_title:5.2f} s, "
              f"controls {t_ctrl:5.2f} s, done {t_idle:5.2f} s")


def first_visits(browser, runs: int, log_dir: Path, only: list[str] | None = None) -> None:
    """Part 5: each page as the first thing a fresh server shows (see the module docstring)."""
    pages = [p for p in page_paths() if not only or p[0] in only]
    home = page_paths()[0]
    base = {"title": [], "table": []}
    deep = {stem: [] for stem, _ in pages}
    click = {stem: [] for stem, _ in pages}
    for _ in range(runs):
        for stem, title in pages:
            with server(ROOT / "bench" / "baseline_app.py", log_dir) as url:
                t = home_times(browser, url)
            base["title"].append(t[0])
            base["table"].append(t[1])
            with server(APP / "app.py", log_dir) as url:
                ctx = _context(browser)
                page = ctx.new_page()
                clock = Clock(page)
                page.goto(f"{url}/{stem}", wait_until="commit")
                deep[stem].append((clock.until(page.locator(H1)),
                                   clock.until(page.locator(CONTROLS)), *clock.until_all()))
                ctx.close()
            if stem == home[0]:
                continue  # the home page is what the click starts from
            with server(APP / "app.py", log_dir) as url:
                ctx = _context(browser)
                page = ctx.new_page()
                clock = Clock(page)
                page.goto(url)
                clock.until_idle()
                before = clock.text_of(H1)
                clock.start()
                page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).first.click()
                click[stem].append((clock.until_fresh(H1, "", before),
                                    clock.until_fresh(CONTROLS), *clock.until_all()))
                ctx.close()
    b_title, b_table = med(base["title"]), med(base["table"])
    print(f"\n== cold server: first visit of every page (a fresh server per page and way in; "
          f"median of {runs}). Baseline page, deep link on a fresh server: title {b_title:.2f} s, "
          f"table {b_table:.2f} s")
    print("controls: the first one drawn / all of them (how many at the end of the run)")
    for stem, title in pages:
        timeline = {"deep link": deep[stem][-1][-1]}
        if click[stem]:
            timeline["click"] = click[stem][-1][-1]
        deep[stem] = [r[:-1] for r in deep[stem]]
        click[stem] = [r[:-1] for r in click[stem]]
        d = [med(v) for v in zip(*deep[stem])]
        line = (f"{title[:22]:22s} deep link: title {d[0]:5.2f} s, controls {d[1]:5.2f} / "
                f"{d[2]:5.2f} s ({d[4]:.0f}; first {d[1] / b_table:4.2f}× baseline table), "
                f"done {d[3]:5.2f} s")
        if click[stem]:
            c = [med(v) for v in zip(*click[stem])]
            flag = "ok" if c[1] <= 1.5 else "SLOW"
            line += (f" | click after home: title {c[0]:5.2f} s, controls {c[1]:5.2f} / "
                     f"{c[2]:5.2f} s [{flag}, goal ≤ 1.5 s], done {c[3]:5.2f} s")
        print(line, flush=True)
        print("    controls drawn over time, last run (count@s): "
              + " | ".join(f"{k}: {v}" for k, v in timeline.items()), flush=True)


def _pick(page, label: str, option: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}\b")).first.click()


def med(values) -> float:
    return statistics.median(values)


def fmt(values) -> str:
    return f"{med(values):6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds between the home page and the page visits")
    parser.add_argument("--app", type=Path, default=ROOT,
                        help="checkout whose app.py to measure (default: this one)")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["cold", "pages", "inference", "switch", "first"])
    parser.add_argument("--pages", nargs="*", default=None, metavar="URL_PATH",
                        help="part 5 (first): only these pages (url paths, e.g. compare)")
    args = parser.parse_args()
    global APP
    APP = args.app.resolve()
    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM).")
    from playwright.sync_api import sync_playwright

    log_dir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    photos = [_photo_dir() / p for p in PHOTOS]
    photos = [p for p in photos if p.exists()][:max(args.runs, 1)]
    print(f"bench/ui.py: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"(a shared machine: other processes' load falls on both sides of each ratio); "
          f"app {APP}; server logs in {log_dir}")

    ref, floor = None, []
    if "inference" not in args.skip:
        ref = reference_seconds(photos)
        print(f"decode + preprocess + forward, efficientnet_lite0, this process: {ref:.3f} s")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        if "cold" not in args.skip:
            app, base = {"title": [], "table": [], "idle": []}, {"title": [], "table": [], "idle": []}
            for _ in range(args.runs):
                for script, out in ((ROOT / "bench" / "baseline_app.py", base), (APP / "app.py", app)):
                    with server(script, log_dir) as url:
                        t = home_times(browser, url)
                    for k, v in zip(("title", "table", "idle"), t):
                        out[k].append(v)
            print(f"\n== cold server, home page (median of {args.runs} fresh servers)")
            for k in ("title", "table", "idle"):
                ratio = med(app[k]) / med(base[k])
                goal = "  (goal ≤ 1.3×)" if k != "idle" else ""
                print(f"home {k:5s}  app {fmt(app[k])} | baseline {fmt(base[k])} | "
                      f"ratio {ratio:5.2f}×{goal}")

        if "inference" not in args.skip:
            with server(ROOT / "bench" / "baseline_app.py", log_dir) as url:
                home_times(browser, url)
                for photo in photos:
                    ctx = _context(browser)
                    page = ctx.new_page()
                    clock = Clock(page)
                    page.goto(url)
                    clock.until_idle()
                    clock.start()
                    page.locator("[data-testid='stFileUploaderDropzoneInput']").first \
                        .set_input_files(str(photo))
                    floor.append(clock.until_fresh(
                        "[data-testid='stCaptionContainer']", r"^Received \d+ bytes"))
                    ctx.close()

        if {"pages", "inference", "switch"} - set(args.skip):
            with server(APP / "app.py", log_dir) as url:
                home_times(browser, url)
                time.sleep(args.settle)
                if "pages" not in args.skip:
                    print(f"\n== warm server: first visit of every page ({args.settle:.0f} s after "
                          f"the home page). click: from the home page through the sidebar, as a "
                          f"user goes; new tab: a deep link opened in a fresh browser session "
                          f"(downloads Streamlit's scripts too)")
                    visit_pages(browser, url)
                if "inference" not in args.skip:
                    pred, maps, idle = [], [], []
                    for photo in photos:
                        ctx = _context(browser)
                        page = ctx.new_page()
                        clock = Clock(page)
                        page.goto(f"{url}/inference?model=efficientnet_lite0")
                        clock.until_idle()
                        page.get_by_test_id("stRadio").get_by_text("Upload", exact=True).click()
                        clock.until_idle()
                        clock.start()
                        page.locator("[data-testid='stFileUploaderDropzoneInput']").first \
                            .set_input_files(str(photo))
                        pred.append(clock.until_fresh(*PREDICTION))
                        maps.append(clock.until(page.get_by_text("Overlay PNG").nth(1)))
                        idle.append(clock.until_idle())
                        ctx.close()
                    print(f"\n== Inference, efficientnet_lite0, upload (median of {len(photos)} "
                          f"photos, warm server)")
                    print(f"upload → prediction  {fmt(pred)} | decode+preprocess+forward "
                          f"{ref:.3f} s | ratio {med(pred) / ref:5.2f}×  (goal ≤ 1.5×)")
                    if floor:
                        print(f"  the floor: upload → a caption on the baseline page {fmt(floor)};"
                              f" prediction − floor = {med(pred) - med(floor):.3f} s = "
                              f"{(med(pred) - med(floor)) / ref:.2f}× decode+preprocess+forward")
                    print(f"upload → default maps {fmt(maps)}")
                    print(f"upload → run done     {fmt(idle)}")
                if "switch" not in args.skip:
                    ctx = _context(browser)
                    page = ctx.new_page()
                    clock = Clock(page)
                    page.goto(f"{url}/inference?model=efficientnet_lite0")
                    clock.until_idle()
                    print("\n== Inference: switch the model (sample photo, warm server)")
                    for name in ("resnet50", "efficientnet_lite0", "resnet50"):
                        before = clock.text_of(*PREDICTION)
                        clock.start()
                        _pick(page, "Model", name)
                        t_pred = clock.until_fresh(*PREDICTION, not_text=before)
                        t_idle = clock.until_idle()
                        print(f"→ {name:18s} prediction {t_pred:6.2f} s | run done {t_idle:6.2f} s")
                    ctx.close()
        if "first" not in args.skip:
            first_visits(browser, args.runs, log_dir, args.pages)
        browser.close()


if __name__ == "__main__":
    main()
