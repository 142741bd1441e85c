"""End to end in headless Chromium: an admin sets up a study, three raters rate with the keyboard,
the results page shows the violation % and AC2 the statistics library computes from the same ratings.

Runs on SQLite and on PostgreSQL. Chromium is Debian's (/usr/bin/chromium), driven by Playwright's
Python package; no browser is downloaded.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from safetylens.human.db import Database
from safetylens.human.models import Item, Rating, Response
from safetylens.stats.irr import gwet_ac
from safetylens.stats.vote import majority_violation

from .conftest import PASSWORD, CheckedBrowser, LiveServer
from .helpers import make_study

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[CheckedBrowser]:
    """Headless Chromium; a test whose pages log a console error fails (see conftest.py)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail(
            "Chromium is missing: apt-get install -y chromium chromium-driver (the Makefile's test target does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield CheckedBrowser(b)
        b.close()


def _login(page: Any, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_admin_sets_up_raters_rate_with_keyboard_results_match_library(
    browser: Any, live: LiveServer, people: dict[str, Any], db: Database, tmp_path: Path
) -> None:
    base = live.url
    # Responses to import: 6 prompts x 2 models; one response is hostile HTML.
    lines = []
    for i in range(6):
        for j, m in enumerate(("model-one", "model-two")):
            text = f"Answer {i}, version {j}."
            if i == 0 and m == "model-one":
                text = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
            lines.append(
                json.dumps(
                    {
                        "id": f"p{i}",
                        "prompt": f"Adversarial prompt {i}",
                        "response": text,
                        "model": m,
                        "risk_category": "unqualified advice" if i % 2 else "illicit and criminal activities",
                    }
                )
            )
    upload = tmp_path / "responses.jsonl"
    upload.write_text("\n".join(lines) + "\n")

    admin_ctx = browser.new_context()
    admin = admin_ctx.new_page()
    _login(admin, base, "admin")
    assert admin.url.endswith("/admin")
    admin.fill("#study-name", "browser-study")
    admin.select_option("#study-kind", "safety")
    admin.click("#create-study")
    admin.wait_for_url("**/admin/studies/*")
    study_url = admin.url
    admin.set_input_files("#import-file", str(upload))
    admin.click("#import-submit")
    admin.wait_for_selector("#import-result")
    assert "12 new items" in admin.inner_text("#import-result")
    admin.fill("#member-names", "rater1, rater2, rater3")
    admin.click("#add-members")
    admin.wait_for_load_state()
    assert "12 items" in admin.inner_text("#progress-summary")

    for k, rater in enumerate(people["raters"]):
        ctx = browser.new_context()
        page = ctx.new_page()
        _login(page, base, rater.username)
        assert page.url.endswith("/rate")
        page.click("text=Read guidelines")
        page.click("#ack")
        page.wait_for_url("**/rate/item/*")
        count = 0
        while "/rate/item/" in page.url:
            body = page.inner_text("section.item")
            assert "model-one" not in body and "model-two" not in body
            count += 1
            assert f"{count} of 12" in page.inner_text("#progress")
            # A rating derived from the item text and the rater, entered with the keyboard only.
            digits = [int(c) for c in body if c.isdigit()]
            value = 1 + (sum(digits) + k) % 5
            page.keyboard.press(str(value))
            assert page.is_checked(f"#v{value}")
            with page.expect_navigation():
                page.keyboard.press("Enter")
        assert count == 12
        assert "rated every item" in page.inner_text("main")
        assert page.evaluate("window.__pwned") is None  # the hostile response never ran
        ctx.close()

    # The statistics library on the stored ratings.
    with db.read() as s:
        rows = s.execute(select(Rating.item_id, Rating.rater_id, Rating.value, Rating.time_spent_ms)).all()
        models = dict(s.execute(select(Item.id, Response.model).join(Response, Response.id == Item.response_id)).all())
    assert len(rows) == 36 and all(r.time_spent_ms is not None and r.time_spent_ms > 0 for r in rows)
    table: dict[int, dict[int, int]] = defaultdict(dict)
    for item, rater, value, _ in rows:
        table[item][rater] = value
    raters = sorted({r.rater_id for r in rows})
    ac2 = gwet_ac([[table[i].get(r) for r in raters] for i in sorted(table)], "quadratic", categories=[1, 2, 3, 4, 5])
    expected_violation = {}
    for m in ("model-one", "model-two"):
        flags = [majority_violation(list(table[i].values())) for i in table if models[i] == m]
        expected_violation[m] = 100 * sum(bool(f) for f in flags) / len(flags)

    admin.goto(study_url + "/results")
    for m, pct in expected_violation.items():
        shown = admin.get_attribute(f"tr[data-model='{m}'] td.violation .est", "data-value")
        assert float(shown) == pytest.approx(pct)
        assert f"{pct:.1f}%" in admin.inner_text(f"tr[data-model='{m}'] td.violation")
    shown_ac2 = admin.get_attribute("#irr-overall td.ac2 .coef", "data-value")
    assert float(shown_ac2) == pytest.approx(ac2.coefficient, abs=1e-12)
    assert f"{ac2.coefficient:.3f}" in admin.inner_text("#irr-overall td.ac2")
    assert "quadratic weights" in admin.inner_text("#irr-table")
    admin_ctx.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # layout only: one database is enough
@pytest.mark.parametrize("width", [1280, 375])
def test_pairwise_question_stays_inside_its_fieldset(
    browser: CheckedBrowser, live: LiveServer, people: dict[str, Any], db: Database, width: int
) -> None:
    rater = people["raters"][0]
    study = make_study(db, [rater], kind="pairwise", n_prompts=1, models=("model-one", "model-two"))
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    _login(page, live.url, rater.username)
    page.goto(f"{live.url}/rate/{study.id}/next")
    assert "/rate/item/" in page.url
    question = page.locator("#rating-form fieldset legend")
    assert "Model A or Model B" in question.inner_text()
    box = page.evaluate(
        """() => {
          const fieldset = document.querySelector("#rating-form fieldset");
          const legend = fieldset.querySelector("legend");
          const f = fieldset.getBoundingClientRect(), q = legend.getBoundingClientRect();
          const css = getComputedStyle(fieldset), px = (v) => parseFloat(v) || 0;
          return {
            inner: [f.left + px(css.borderLeftWidth), f.top + px(css.borderTopWidth),
                    f.right - px(css.borderRightWidth), f.bottom - px(css.borderBottomWidth)],
            question: [q.left, q.top, q.right, q.bottom],
            textOverflow: legend.scrollWidth - legend.clientWidth,
            pageOverflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          };
        }"""
    )
    left, top, right, bottom = box["inner"]
    q_left, q_top, q_right, q_bottom = box["question"]
    # Inside the border, not on it: a legend straddles the top border, so a question of two or more
    # lines had its first line above the box.
    assert left <= q_left and q_right <= right, box
    assert top <= q_top and q_bottom <= bottom, box
    assert box["textOverflow"] <= 0 and box["pageOverflow"] <= 0, box
    ctx.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_pages_have_a_favicon(browser: CheckedBrowser, db: Database) -> None:
    from safetylens.human.app import create_app

    app = create_app(db)
    answers: list[tuple[str, int]] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def send_and_record(message: Any) -> None:
            if message["type"] == "http.response.start":
                answers.append((scope["path"], message["status"]))
            await send(message)

        await app(scope, receive, send_and_record)

    # A fresh browser: Chromium asks for a site's icon once per browser, not once per page.
    fresh = browser.browser_type.launch(executable_path=CHROMIUM, args=ARGS)
    try:
        with LiveServer(recording) as server:
            page = fresh.new_page()
            browser.console.watch_page(page)
            page.goto(server.url + "/login")
            deadline = time.monotonic() + 15
            while not any("favicon" in path for path, _ in answers) and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            icons = [(path, status) for path, status in answers if "favicon" in path]
            assert icons and all(status == 200 for _, status in icons), answers
            # Pages that are not HTML (JSON, exports) get the icon browsers ask for by default.
            resp = httpx.get(server.url + "/favicon.ico")
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("image/")
    finally:
        fresh.close()


def test_console_errors_and_uncaught_exceptions_are_collected(browser: CheckedBrowser) -> None:
    page = browser.new_page()
    page.evaluate("console.error('logged on purpose')")
    page.evaluate("setTimeout(() => { throw new Error('thrown on purpose'); }, 0)")
    page.wait_for_timeout(200)
    page.close()
    errors = browser.console.take()  # taken, so that this test itself passes
    assert any("console error: logged on purpose" in e for e in errors), errors
    assert any("uncaught exception: thrown on purpose" in e for e in errors), errors
