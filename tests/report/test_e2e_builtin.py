"""End to end with the real built-in model: a BOLD run (2 samples) is replayed exactly, and its report
(with the paper's rows, a human-evaluation study and the other tables' plots) opens in headless
Chromium without console errors or network requests.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from safetylens.datasets.registry import DataStore
from safetylens.human import assignment as A
from safetylens.human.auth import create_user
from safetylens.human.db import Database, upgrade
from safetylens.human.results import ResultOptions, compute_results
from safetylens.report.build import build_report, render_report_html
from safetylens.report.load import load_run
from safetylens.report.replay import replay
from safetylens.runs import RunDir, execute
from safetylens.spec import build_spec
from tests.human.helpers import make_study

from .conftest import tiny_run, toxigen_result, with_results
from .test_tables import tqa_like

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="module")
def bold_run(builtin_backend: Any, shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A greedy BOLD run of the built-in model on 2 prompts (no request cache)."""
    spec = build_spec(
        {
            "model": {"name": "builtin"},
            "benchmarks": [{"name": "bold", "options": {}}],
            "decoding": {"temperature": 0.0, "max_new_tokens": 8},
            "limit": 2,
            "use_cache": False,
            "label": "SmolLM2-135M (built-in) <b>bold</b>",
            "output_dir": str(tmp_path_factory.mktemp("bold-runs")),
        }
    )
    run = RunDir.create(spec)
    execute(spec, builtin_backend, run, data=DataStore([shared_data_dir]))
    return run.path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Chromium is missing: apt-get install -y chromium (the Makefile's test target does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.mark.model
def test_greedy_replay_of_a_real_run_matches_exactly(bold_run: Path, builtin_backend: Any, tmp_path: Path) -> None:
    res = replay(bold_run, tmp_path, backend=builtin_backend)
    assert res.generations_compared == 2 and res.generations_differing == 0
    assert len(res.diffs) >= 5 and res.ok, [(d.path, d.why) for d in res.mismatches]
    assert {d.rule for d in res.diffs} == {"exact"}


def _study_results(tmp_path: Path) -> dict[str, Any]:
    db = Database(str(tmp_path / "human.sqlite"))
    upgrade(db)
    raters = [create_user(db, f"r{i}", "correct horse battery", "rater") for i in range(3)]
    study = make_study(db, raters, n_prompts=6, models=("alpha", "beta"), name="safety <pilot>")
    for k, r in enumerate(raters):
        while (a := A.next_assignment(db, study.id, r.id)) is not None:
            value = 2 if a.item_id % 3 == 0 else 5 if (a.item_id + k) % 4 == 0 else 4
            if (a.item_id * 7 + k) % 5 == 0:
                value = max(1, value - 2)
            A.submit_rating(db, a.assignment_id, r.id, value, time_spent_ms=900)
    res = compute_results(db, study.id, ResultOptions(n_resamples=300))
    db.dispose()
    return res


@pytest.mark.model
@pytest.mark.browser
def test_report_opens_in_chromium(bold_run: Path, browser: Any, tmp_path: Path) -> None:
    bold = load_run(bold_run)
    fixed = load_run(tiny_run(tmp_path))
    others = with_results(fixed, {"toxigen": toxigen_result(), "truthfulqa": tqa_like()}, label="fixed test data")
    report = build_report([bold, others], reference="llama2", human=[_study_results(tmp_path)])
    page_file = tmp_path / "report.html"
    page_file.write_text(render_report_html(report), encoding="utf-8")

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    assert errors == []
    assert requests == [page_file.as_uri()]  # self-contained: nothing else is loaded
    for tid in ("llama2-table44", "llama2-table45", *(f"llama2-table{n}" for n in range(46, 51)), "human-safety"):
        assert page.locator(f'table[data-table="{tid}"]').count() == 1, tid
    race = page.locator('table[data-table="llama2-table46"]')
    assert race.locator("tr.measured").count() == 1 and race.locator("tr.reference").count() == 19
    assert "Published in the Llama 2 paper" in race.locator("tr.separator").inner_text()
    measured_cell = race.locator("tr.measured td.m").first
    assert "n=" in measured_cell.inner_text() and "CI" in (measured_cell.get_attribute("title") or "")
    assert page.locator("svg.plot").count() >= 3 + 1 + 5 + 1  # TruthfulQA x3, ToxiGen, BOLD x5, human
    assert page.locator('svg[data-plot="llama2-table45"] rect.bar').count() > 0
    assert page.locator('svg[data-plot="llama2-table46"] line.zero').count() == 1
    assert page.locator('svg[data-plot="llama2-table46"] circle.dot').count() >= 1
    assert page.locator("#human").count() == 1 and "safety <pilot>" in page.locator("body").inner_text()
    body = page.locator("body").inner_text()
    assert "SmolLM2-135M (built-in) <b>bold</b>" in body  # the label is shown as text, not markup
    assert page.locator("b", has_text="bold").count() == 0
    assert "Choices the paper leaves open" in body and "protocol.md §7.2" in body
    assert page.locator("#methodology ~ section pre").count() >= 1  # prompt templates verbatim
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()
