"""The website in headless Debian Chromium against the local product: gallery, dialog, result, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mysfits.project_files import PROJECT_ROOT, load_openapi, load_questionnaire
from mysfits.standins.server import start_local_product
from tests.local_support import (
    MYSFIT_IDS,
    request,
)

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
QUESTION_IDS = [q["id"] for q in load_questionnaire()["questions"]]
TIMEOUT_MS = 10_000
# One picture per species (twelve Mysfits, twelve species); the placeholder is what a broken image falls back to.
SPECIES_PICTURES = sorted(
    f"/img/{path.name}"
    for path in (PROJECT_ROOT / "web" / "img").glob("*.svg")
    if path.stem not in ("placeholder", "favicon")
)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make browser / apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def product(trained_model_dir):
    with start_local_product(port=0, model_dir=trained_model_dir) as running:
        yield running


@pytest.fixture
def page(browser, product):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.problems = problems
    page.goto(product.url + "/")
    page.wait_for_selector("body[data-ready='true']")
    yield page
    context.close()


def loaded_card_pictures(page) -> list[str]:
    """The paths of the card images that loaded a picture; they load lazily, so each is scrolled into view first."""
    images = page.locator(".card-image")
    for index in range(images.count()):
        images.nth(index).scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.querySelectorAll('.card-image')].every(i => i.complete)")
    page.evaluate("window.scrollTo(0, 0)")
    return images.evaluate_all("imgs => imgs.filter(i => i.naturalWidth > 0).map(i => new URL(i.currentSrc).pathname)")


def api_answer(product, answers: list[int]) -> dict:
    status, _, body = request(product.url, "POST", "/recommendations", json.dumps({"entry": answers}))
    assert status == 200
    return json.loads(body)


def answer(page, answers: list[int]) -> None:
    submit = page.get_by_test_id("submit-answers")
    for index, (question, value) in enumerate(zip(QUESTION_IDS, answers, strict=True)):
        assert submit.is_disabled(), f"submit enabled with only {index} of 5 answers"
        page.locator(f"label[for='q-{question}-{value}']").click()
    assert submit.is_enabled()


def test_gallery_dialog_and_recommendation(page, product):
    ARTIFACTS.mkdir(exist_ok=True)
    cards = page.get_by_test_id("mysfit-card")
    assert cards.count() == 12
    assert {cards.nth(i).get_attribute("data-mysfit-id") for i in range(12)} == MYSFIT_IDS
    assert sorted(loaded_card_pictures(page)) == SPECIES_PICTURES  # each card its own picture, none broken
    page.screenshot(path=str(ARTIFACTS / "gallery.png"))

    page.get_by_role("button", name="Recommend a Mysfit").click()
    dialog = page.get_by_role("dialog", name="Find your Mysfit")
    dialog.wait_for()
    focused = page.evaluate("document.activeElement && document.activeElement.id")
    assert focused == f"q-{QUESTION_IDS[0]}-1"  # focus moved into the dialog, on the first question
    assert page.get_by_role("group").count() == 5  # five labelled fieldsets
    assert page.get_by_label("Full-Stack Unicorn").count() == 1  # radios are labelled

    answers = [2, 7, 3, 6, 4]
    answer(page, answers)
    page.screenshot(path=str(ARTIFACTS / "questionnaire.png"))
    page.get_by_test_id("submit-answers").click()
    result = page.get_by_test_id("recommend-result")
    result.wait_for(state="visible")
    expected = api_answer(product, answers)
    assert result.get_attribute("data-mysfit-id") == expected["recommendedMysfit"]
    assert page.get_by_test_id("result-name").inner_text() == expected["mysfit"]["name"]
    assert page.get_by_test_id("result-species").inner_text() == expected["mysfit"]["species"]
    assert page.get_by_test_id("result-description").inner_text() == expected["mysfit"]["description"]
    assert page.get_by_test_id("result-image").evaluate("i => i.complete && i.naturalWidth > 0")
    page.screenshot(path=str(ARTIFACTS / "recommendation.png"))

    page.keyboard.press("Escape")  # Escape closes, focus returns to the opener
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "recommend-button"
    assert page.problems == []


def test_keyboard_only(page, product):
    page.get_by_test_id("recommend-button").focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("recommend-dialog").wait_for()
    for position, _ in enumerate(QUESTION_IDS):
        if position:
            page.keyboard.press("Tab")  # next radio group
        page.keyboard.press("ArrowRight")  # picks the next option in the group
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "submit-answers"
    page.keyboard.press("Enter")
    page.get_by_test_id("recommend-result").wait_for(state="visible")
    expected = api_answer(product, [2, 2, 2, 2, 2])
    assert page.get_by_test_id("result-name").inner_text() == expected["mysfit"]["name"]
    assert page.problems == []


def test_error_is_readable_and_retry_works(page, product):
    ARTIFACTS.mkdir(exist_ok=True)
    product.undeploy_endpoint()
    page.get_by_test_id("recommend-button").click()
    answers = [1, 2, 3, 4, 5]
    answer(page, answers)
    page.get_by_test_id("submit-answers").click()
    error = page.get_by_test_id("recommend-error")
    error.wait_for(state="visible")
    message = page.get_by_test_id("recommend-error-message").inner_text()
    assert "not deployed" in message
    assert product.endpoint_name in message
    assert page.get_by_role("alert").count() == 1
    assert page.get_by_test_id("submit-answers").is_enabled()  # answers kept: retry right away
    page.screenshot(path=str(ARTIFACTS / "error.png"))

    product.deploy_endpoint()
    page.get_by_test_id("submit-answers").click()
    page.get_by_test_id("recommend-result").wait_for(state="visible")
    assert error.is_hidden()
    expected = api_answer(product, answers)
    assert page.get_by_test_id("recommend-result").get_attribute("data-mysfit-id") == expected["recommendedMysfit"]
    # The page is still usable: close, reopen, answer again.
    page.get_by_test_id("result-close").click()
    page.get_by_test_id("recommend-button").click()
    page.get_by_test_id("start-over").click()
    assert page.get_by_test_id("submit-answers").is_disabled()
    # A 503 from fetch is reported by Chromium as a console error for the failed resource; nothing else.
    assert [p for p in page.problems if "503" not in p] == []


def test_network_failure_message(page, product):
    page.get_by_test_id("recommend-button").click()
    answer(page, [3, 3, 3, 3, 3])
    product.stop()  # the whole server goes away: fetch itself fails
    page.get_by_test_id("submit-answers").click()
    page.get_by_test_id("recommend-error").wait_for(state="visible")
    assert "couldn't reach" in page.get_by_test_id("recommend-error-message").inner_text()
    assert page.get_by_test_id("submit-answers").is_enabled()


def test_the_docs_page_renders_the_api_document_without_the_network(page, product):
    """`/docs` renders api/openapi.json with assets from the project (the CSP would block anything else)."""
    document = load_openapi()
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(product.url) else None)
    page.wait_for_load_state("networkidle")  # the index's images finish loading: leaving would abort them
    page.goto(product.url + "/docs")
    expected_title = f"{document['info']['title']} {document['info']['version']}"
    page.get_by_test_id("docs-title").filter(has_text=expected_title).wait_for()
    statuses = page.locator("[data-testid=operations] tr[data-status]").evaluate_all(
        "rows => rows.map(r => r.dataset.status)"
    )
    assert statuses == list(document["paths"]["/recommendations"]["post"]["responses"])
    assert page.locator("[data-testid=schemas] h3").all_inner_texts() == list(document["components"]["schemas"])
    assert outside == []
    assert page.problems == []
