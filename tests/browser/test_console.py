"""The striae console driven in headless Chromium against two real member processes: FR
(member A, traces held for review) and DE (member B). The tests run in file order and build
on one another (a record added at FR is checked and traced from DE)."""

import json
import os
import urllib.request
import uuid

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from conftest import Console, env

RUN = uuid.uuid4().hex[:6].upper()
SERIAL = f"WK-{RUN}-733"


def test_sign_in_with_the_fragment_and_with_the_form(console):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    assert a.css("#who-role").text == "admin"
    assert "token" not in a.driver.current_url, a.driver.current_url
    assert a.driver.execute_script("return sessionStorage.getItem('striae.token')") == a.token
    a.wait_text("#peers", "Germany (DE)")
    a.shot("signed in with the fragment: network page")

    # A pasted token, then signing out.
    b = Console("DE-form", env("STRIAE_B_URL"), env("STRIAE_B_OFFICER"))
    try:
        b.driver.get(f"{b.base}/console/")
        b.wait_css("#sign-in-token")
        b.shot("sign-in form")
        b.fill("sign-in-token", "not-a-token")
        b.click("#sign-in-form button[type=submit]")
        b.wait_css("#sign-in-error")
        b.shot("a wrong token is refused")
        b.fill("sign-in-token", b.token)
        b.click("#sign-in-form button[type=submit]")
        assert b.wait_text("#who-role", "officer")
        assert b.wait_text("#member", "Germany (DE)")
        b.shot("signed in with a pasted token")
        b.click("#sign-out")
        b.wait_css("#sign-in-token")
        assert b.driver.execute_script("return sessionStorage.getItem('striae.token')") is None
        b.shot("signed out")
    finally:
        b.quit()


def test_a_notice_issued_at_fr_arrives_in_des_console(console):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    title = f"Pistols in car door panels {RUN}"
    a.go("notices")
    a.fill("notice-issue-kind", "purple")
    a.fill("notice-issue-title", title)
    a.fill("notice-issue-summary", "Disassembled pistols shipped inside door panels of used cars.")
    a.fill("notice-issue-body", "Check panel screws for tool marks.")
    a.click("#notice-issue button[type=submit]")
    a.wait_text("#notice-detail", title)
    a.shot("notice issued at FR")

    b = console("DE-officer", "STRIAE_B_URL", "STRIAE_B_OFFICER")
    b.go("notices")
    row = f'#notices tr[data-title="{title}"]'
    b.poll(lambda: b.refresh("notices-refresh"), lambda d: d.find_elements(By.CSS_SELECTOR, row),
           what="the notice at DE")
    assert "France (FR)" in b.css(row).text
    b.css(f"{row} button").click()
    b.wait_text("#notice-detail", "Only the issuer, France (FR)")
    b.wait_text("#receipts", "Germany (DE)")
    b.shot("the notice arrived at DE with its receipts")

    # FR sees DE's receipt of its notice.
    a.poll(lambda: a.css(f'#notices tr[data-title="{title}"] button').click(),
           lambda d: "Germany (DE)" in d.find_element(By.ID, "receipts").text, what="DE's receipt at FR")
    a.shot("DE's receipt at FR")


def test_fr_updates_and_cancels_a_notice_and_de_sees_it_cancelled(console):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    title = f"Knife-pistols in cutlery {RUN}"
    a.go("notices")
    a.fill("notice-issue-kind", "orange")
    a.fill("notice-issue-title", title)
    a.fill("notice-issue-summary", "Single-shot pistols built into folding knives.")
    a.click("#notice-issue button[type=submit]")
    a.wait_text("#notice-detail", title)
    a.css("#notice-detail details summary").click()
    a.fill("notice-update-summary", "Single-shot .22 LR pistols built into folding knives.")
    a.click("#notice-update button[type=submit]")
    a.wait_text("#notice-detail", ".22 LR")
    a.fill("cancel-reason", "issued by mistake")
    a.click("#cancel-notice")
    a.wait_text("#notice-detail", "issued by mistake")
    a.shot("a notice updated, then cancelled at FR")

    b = console("DE-officer", "STRIAE_B_URL", "STRIAE_B_OFFICER")
    b.go("notices")
    row = f'#notices tr[data-title="{title}"]'
    b.poll(lambda: b.refresh("notices-refresh"),
           lambda d: "cancelled" in d.find_element(By.CSS_SELECTOR, row).text, what="the cancellation at DE")
    b.shot("the cancellation reached DE")


def test_an_import_shows_its_progress_and_which_lines_were_refused(console, tmp_path):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    a.go("firearms")
    path = tmp_path / "records.csv"
    path.write_text(
        "make,model,caliber,serial,type,status\n"
        f"Glock,17,9x19,GL-{RUN}-1,pistol,lost\n"
        f"Glock,17,9x19,,pistol,lost\n"
    )
    a.css("#import-form-file").send_keys(str(path))
    a.click("#import-form button[type=submit]")
    result = a.wait_text("#import-result", "1 imported")
    assert "1 refused" in result.text
    assert "serial" in result.text
    assert a.css("#import-progress").get_attribute("value") == "100"
    a.shot("an import: one line imported, one refused")


def test_de_checks_a_firearm_fr_holds_and_sees_the_hit(console):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    a.go("firearms")
    for field, value in [("make", "Carl Walther GmbH"), ("model", "P99"), ("caliber", "9mm Parabellum"),
                         ("serial", SERIAL), ("type", "pistol"), ("case_ref", f"FR-2026-{RUN}")]:
        a.fill(f"record-form-{field}", value)
    a.fill("record-form-status", "stolen")
    a.click("#record-form button[type=submit]")
    a.wait_text("#records-table", "P99")
    a.shot("record added at FR")

    b = console("DE-officer", "STRIAE_B_URL", "STRIAE_B_OFFICER")
    b.go("firearms")
    b.fill("check-form-make", "Walther")
    b.fill("check-form-serial", SERIAL.lower().replace("-", " "))

    def submit():
        b.driver.execute_script("document.getElementById('check-result')?.remove()")
        b.click("#check-form button[type=submit]")

    b.poll(submit, lambda d: d.find_elements(By.CSS_SELECTOR, '#check-verdict[data-verdict="hits"]'),
           what="a hit for FR's record at DE")
    assert "France (FR)" in b.css("#check-hits").text
    b.shot("DE's check finds FR's record")

    # A make the table does not know: inconclusive, with suggestions.
    b.fill("check-form-make", "Wather")
    submit()
    b.wait_css("#check-verdict")
    assert b.css("#check-verdict").get_attribute("data-verdict") in ("inconclusive", "hits")
    b.wait_css("#check-suggestions")
    b.shot("a misspelt make: suggestions")


def test_a_held_trace_is_refused_to_an_analyst_and_approved_by_a_reviewer(console):
    b = console("DE-officer", "STRIAE_B_URL", "STRIAE_B_OFFICER")
    b.go("firearms")
    case_ref = f"DE-2026-{RUN}"
    b.fill("trace-form-make", "Walther")
    b.fill("trace-form-serial", SERIAL)
    b.fill("trace-form-case_ref", case_ref)
    b.fill("trace-form-reason", "pistol recovered at a border crossing")
    b.click("#trace-form button[type=submit]")
    b.wait_text("#status", "Trace started")
    b.shot("trace started at DE")

    row = "#review-table tbody tr"
    analyst = console("FR-analyst", "STRIAE_A_URL", "STRIAE_A_ANALYST")
    analyst.go("traces")
    analyst.poll(lambda: analyst.refresh("traces-refresh"),
                 lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, row) if case_ref in r.text],
                 what="the trace in FR's review queue")
    approve = analyst.css(f"{row} button.approve")
    assert not approve.is_enabled(), "an analyst's Approve button must be disabled"
    assert "Needs the reviewer role" in analyst.css(f"{row} .decision").text
    analyst.shot("the analyst sees the approve button disabled")
    # The page only hides what the API refuses anyway: enabled by hand, the API says 403.
    analyst.driver.execute_script("arguments[0].disabled = false; arguments[0].click();", approve)
    refusal = analyst.wait_text(f'{row} .error[data-code="forbidden"]', "needs the reviewer role")
    assert "Refused (403)" in refusal.text
    assert "analyst" in refusal.text
    analyst.shot("the API refuses the analyst (403) and the page says so")

    reviewer = console("FR-reviewer", "STRIAE_A_URL", "STRIAE_A_REVIEWER")
    reviewer.go("traces")
    reviewer.wait_text(row, case_ref)
    # DE's signed request names its officer by DE's own reference (the account id).
    assert os.environ["STRIAE_B_OFFICER_ID"] in reviewer.css(row).text
    reviewer.fill(reviewer.css(f"{row} input[name=note]").get_attribute("id"), "approved by the console test")
    reviewer.click(f"{row} button.approve")
    reviewer.wait_text("#status", "approved")
    reviewer.wait_text("#review-queue", "No request waits for review")
    reviewer.wait_text("#incoming-table", "approved by the console test")
    reviewer.shot("the reviewer approved the trace")

    b.go("traces")
    b.poll(lambda: b.refresh("traces-refresh"),
           lambda d: any(x.text == "found" for x in d.find_elements(By.CSS_SELECTOR, "#traces-sent .badge")),
           what="FR's answer at DE")
    b.css("#traces-sent-table tbody tr button").click()
    answers = b.wait_text("#trace-answers", "found")
    assert "France (FR)" in answers.text
    assert "invalid" not in answers.text
    b.shot("DE sees FR's approved answer")


def test_the_audit_log_names_the_reviewer_who_approved(console):
    reviewer = console("FR-reviewer", "STRIAE_A_URL", "STRIAE_A_REVIEWER")
    reviewer.go("audit")
    row = reviewer.wait_css('#audit-table tr[data-action="trace_review"]')
    assert row.get_attribute("data-user") == "FR-review-1"
    assert "FR-review-1" in row.text
    reviewer.click("#audit-verify-button")
    reviewer.wait_text("#audit-verify", "The log verifies")
    reviewer.shot("the audit log names the reviewer and verifies")


PAGES = ["network", "notices", "firearms", "traces", "ballistics", "cases", "queries", "operations",
         "analysis", "audit", "users"]


def test_every_page_renders_for_an_admin_without_errors(console):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    a.severe_logs()
    assert a.driver.execute_script("return document.documentElement.lang") == "en"
    for page in PAGES:
        a.go(page)
        errors = [e.text for e in a.all("#page .error")]
        assert not errors, f"{page}: {errors}"
        # Every control has a label; the landmarks are there.
        unlabelled = a.driver.execute_script(
            "return [...document.querySelectorAll('input, select, textarea')]"
            ".filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label')).map((c) => c.outerHTML)")
        assert not unlabelled, f"{page}: {unlabelled}"
        assert a.all("nav[aria-label] a") and a.all("main#main") and a.all('[aria-live]')
        a.shot(f"page {page}")
    severe = a.severe_logs()
    assert not severe, severe


def test_the_console_is_usable_with_the_keyboard(console):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    active = lambda: a.driver.switch_to.active_element  # noqa: E731

    def reload(page):
        # A fresh load starts keyboard navigation at the top; the tab keeps its token.
        a.driver.get(f"{a.base}/console/#/{page}")
        a.driver.refresh()
        a.wait(lambda d: d.find_element(By.ID, "page").get_attribute("data-page") == page)

    reload("notices")
    ActionChains(a.driver).send_keys(Keys.TAB).perform()
    assert active().get_attribute("class") == "skip", active().get_attribute("outerHTML")
    ActionChains(a.driver).send_keys(Keys.ENTER).perform()
    a.wait(lambda d: active().get_attribute("id") == "main")
    assert a.css("#page").get_attribute("data-page") == "notices"
    # Tab on from the top reaches the navigation; Enter on a link opens its page.
    reload("notices")
    for _ in range(12):
        ActionChains(a.driver).send_keys(Keys.TAB).perform()
        if active().text == "Traces":
            break
    assert active().text == "Traces"
    outline = a.driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    a.shot("keyboard focus on the navigation")
    ActionChains(a.driver).send_keys(Keys.ENTER).perform()
    a.wait(lambda d: d.find_element(By.ID, "page").get_attribute("data-page") == "traces")


def test_an_admin_adds_a_user_gives_them_a_new_token_and_revokes_them(console):
    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    a.go("users")
    name = f"FR-analyst-{RUN}"
    a.fill("user-form-name", name)
    a.fill("user-form-role", "analyst")
    a.click("#user-form button[type=submit]")
    token = a.wait_css("#new-token").text.strip()
    assert len(token) >= 32, token
    row = a.wait_text("#users-table", name)
    a.shot("a user added: the token shown once")

    # The new user signs in; the Users page is not offered to an analyst.
    other = Console("FR-new-analyst", a.base, token)
    try:
        other.sign_in()
        assert other.css("#who-name").text == name
        assert not other.css('li[data-needs="admin"]').is_displayed()
        other.shot("the new analyst signed in, no Users page")

        # A new token for the user: shown once, and the old one stops working.
        buttons = [b for b in a.all("#users-table button") if b.text == f"New token for {name}"]
        assert buttons, row.text
        buttons[0].click()
        a.wait(EC.alert_is_present()).accept()
        a.wait_text("#status", "has a new token")
        new_token = a.css("#new-token").text.strip()
        assert len(new_token) >= 32 and new_token != token
        a.shot("the user given a new token, shown once")
        other.driver.execute_script("window.location.hash = '#/notices?after-rotation'")
        other.wait_text("#sign-in-error", "not known")
        other.quit()
        other = Console("FR-new-analyst-again", a.base, new_token)
        other.sign_in()
        assert other.css("#who-name").text == name

        buttons = [b for b in a.all("#users-table button") if b.text == f"Revoke {name}"]
        assert buttons, row.text
        buttons[0].click()
        a.wait(EC.alert_is_present()).accept()
        a.wait_text("#status", "revoked")
        a.shot("the user revoked")

        # The revoked token signs the other tab out at its next request.
        other.driver.execute_script("window.location.hash = '#/notices?after-revocation'")
        other.wait_text("#sign-in-error", "revoked")
        other.shot("the revoked user is signed out")
    finally:
        other.quit()


def test_an_officer_opens_a_case_and_its_report(console):
    b = console("DE-officer", "STRIAE_B_URL", "STRIAE_B_OFFICER")
    b.go("cases")
    case_ref = f"DE-CASE-{RUN}"
    b.fill("case-form-case_ref", case_ref)
    b.fill("case-form-title", "Pistol found at the border")
    b.fill("case-form-date", "2026-11-30")
    b.fill("case-form-country", "DE")
    b.fill("case-form-place", "Kehl")
    b.fill("case-form-make", "Walther")
    b.fill("case-form-serial", SERIAL)
    b.click("#case-form button[type=submit]")
    b.wait_text("#case-detail", case_ref)
    b.wait_text("#case-steps", "International search or trace")
    b.shot("a case opened at DE")
    main = b.driver.current_window_handle
    b.click("#case-report")
    b.wait_css("#case-report-links")
    b.wait(lambda d: len(d.window_handles) > 1)
    report = [w for w in b.driver.window_handles if w != main][0]
    b.driver.switch_to.window(report)
    try:
        b.wait(lambda d: case_ref in d.page_source)
        # The report's own style sheet applies although the tab inherits the console's policy.
        b.wait(lambda d: d.execute_script("return getComputedStyle(document.body).maxWidth") == "960px")
        b.shot("the case's lead report")
    finally:
        b.driver.close()
        b.driver.switch_to.window(main)


def test_a_scan_uploaded_at_de_matches_frs_with_a_comparison_picture(console):
    held, probe = os.environ.get("STRIAE_SCAN_A"), os.environ.get("STRIAE_SCAN_B")
    if not (held and probe):
        pytest.skip("the Fadul scans (../shared/datasets/fadul-known) are not present")
    held, probe = os.path.realpath(held), os.path.realpath(probe)

    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    a.go("ballistics")
    a.css("#scan-form-file").send_keys(held)
    a.fill("scan-form-caliber", "9x19")
    a.fill("scan-form-case_ref", f"FR-2026-B{RUN}")
    a.click("#scan-form button[type=submit]")
    a.wait_css('#preview-image[data-loaded="true"]', timeout=120)
    a.shot("FR uploaded Fadul 1-2 with its preview")

    b = console("DE-officer", "STRIAE_B_URL", "STRIAE_B_OFFICER")
    b.go("ballistics")
    b.css("#scan-form-file").send_keys(probe)
    b.fill("scan-form-caliber", "9mm Luger")
    b.fill("scan-form-case_ref", f"DE-2026-B{RUN}")
    b.click("#scan-form button[type=submit]")
    b.wait_css('#preview-image[data-loaded="true"]', timeout=120)
    assert b.css("#scan-progress").get_attribute("value") == "100"
    b.shot("DE uploaded Fadul 1-1 with its preview")

    def search():
        b.driver.execute_script("document.getElementById('search-result')?.remove()")
        b.click("#search-exhibit")
        b.wait_css("#search-result", timeout=180)

    b.poll(search, lambda d: d.find_element(By.ID, "search-confirmed").text not in ("", "0"),
           timeout=240, what="a confirmed match for Fadul 1-1")
    assert "France (FR)" in b.css('#search-candidates tr[data-confirmation="confirmed"]').text
    img = b.wait_css('#search-result img[data-loaded="true"]', timeout=180)
    size = b.driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
    assert size[0] > 100 and size[1] > 100, size
    assert img.get_attribute("src").startswith("blob:")
    b.driver.execute_script("arguments[0].scrollIntoView()", img)
    b.shot("DE's search: FR's exhibit confirmed, with the comparison picture")

    # An analyst may not add exhibits, but may search with a file that is not kept.
    analyst = console("FR-analyst", "STRIAE_A_URL", "STRIAE_A_ANALYST")
    analyst.go("ballistics")
    assert not analyst.css("#scan-form button[type=submit]").is_enabled()
    analyst.css("#file-search-form-file").send_keys(probe)
    analyst.fill("file-search-form-caliber", "9x19")
    analyst.click("#file-search-form button[type=submit]")
    analyst.wait_css("#filesearch-result", timeout=180)
    assert analyst.css("#filesearch-confirmed").text != "0", analyst.css("#filesearch-result").text
    assert analyst.css("#file-search-progress").get_attribute("value") == "100"
    analyst.shot("an analyst searches with a file: FR's own exhibit confirmed")


def api(base, token, method, path, body=None):
    """Calls the API as a script would (the figures a page shows are made through it)."""
    request = urllib.request.Request(
        f"{base}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read() or b"null")


def test_the_analysis_page_shows_the_network_figures_and_the_route_map(console):
    # DE records six revolvers made and sold in the United States and seized in Germany, and
    # publishes its month: one leg US -> DE, above the threshold of 5.
    de_url, officer = env("STRIAE_B_URL"), env("STRIAE_B_OFFICER")
    for n in range(6):
        api(de_url, officer, "POST", "/v1/firearms", {
            "make": "Smith & Wesson", "model": "Model 10", "caliber": ".38 Special",
            "serial": f"SW{RUN}{n}", "type": "revolver", "status": "seized",
            "country_of_manufacture": "US",
            "history": [
                {"date": "2010-01-01", "event": "manufactured", "party": "S&W", "country": "US"},
                {"date": "2011-04-01", "event": "sold", "party": "Gun shop", "country": "US"},
                {"date": "2024-06-01", "event": "seized", "party": "Zoll", "country": "DE"},
            ],
        })
    api(de_url, officer, "POST", "/v1/analysis/publish", {})

    a = console("FR-admin", "STRIAE_A_URL", "STRIAE_A_ADMIN")
    a.go("analysis")
    a.poll(lambda: a.click("#analysis-filters button[type=submit]"),
           lambda d: "(US)" in d.find_element(By.ID, "route-legs").text if d.find_elements(By.ID, "route-legs") else False,
           what="DE's published leg at FR")
    leg = a.css("#route-legs tbody tr").text
    assert "(US)" in leg and "(DE)" in leg and "6" in leg, leg
    a.wait_css('#analysis-routes img.chart[data-loaded="true"]')
    a.wait_css('#analysis-trend img.chart[data-loaded="true"]')
    a.wait_css('#analysis-breakdowns img.chart[data-loaded="true"]')
    assert "revolver" in a.css("#analysis-summary").text
    a.wait_css("#analysis-drafts p, #analysis-drafts article")
    a.shot("the analysis page at FR: DE's figures")
    a.driver.execute_script("document.getElementById('analysis-routes').scrollIntoView()")
    a.shot("the analysis page at FR: the route map with DE's leg")

