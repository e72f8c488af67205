"""The public pages pass axe-core's WCAG 2.1 AA rules, on a laptop screen and on a phone.

axe-core comes from the npm registry (package.json). The page loads it from its own origin: a
Playwright route answers that one address with node_modules/axe-core/axe.min.js, so the page is
audited under its real Content-Security-Policy (`script-src 'self'`), as visitors get it, with no
CSP bypass.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import VIEWPORTS
from tests.chromium import ROOT, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_PATH = "/__axe__/axe.min.js"  # answered by the test's route, never by the portal
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Landmark rules are "best practice" in axe; the catalog had duplicate landmarks, keep them unique.
LANDMARK_RULES = [
    "landmark-unique",
    "landmark-one-main",
    "landmark-no-duplicate-banner",
    "landmark-no-duplicate-contentinfo",
    "landmark-no-duplicate-main",
]

# name: (path, a selector present once the page is ready, expected status)
PAGES = {
    "catalog": ("/workshops/", "article.card", 200),
    "search-empty": ("/workshops/?q=zzzznotathing", ".empty h2", 200),
    "workshop": ("/workshops/redfish-101/", "h2#notebooks", 200),
    # The sample notebook with the most kinds of highlighted tokens.
    "preview": (
        "/workshops/python-101-for-api-users/notebooks/4-Errors-Retries-and-a-Tiny-Client.ipynb",
        "#preview .input_area",
        200,
    ),
    "not-found": ("/workshops/no-such-workshop/", "main h1", 404),
}

AXE_RUN = """([tags, rules]) => axe.run(document, {
  runOnly: {type: 'tag', values: tags},
  rules: Object.fromEntries(rules.map(rule => [rule, {enabled: true}])),
  resultTypes: ['violations'],
})"""


def violation_report(violations: list[dict]) -> str:
    """Describe each violation: rule id, impact, help text and the nodes it found."""
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v['help']} [{v['helpUrl']}]")
        for node in v["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    at {', '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", list(PAGES))
def test_public_page_has_no_wcag_violation(new_page, live_server, sample_catalog, name, viewport) -> None:
    """axe-core finds no WCAG 2.0 / 2.1 level A or AA violation (and no duplicate landmark)."""
    assert AXE.exists(), "axe-core is missing: run `npm install` (it is in package.json)"
    path, ready, status = PAGES[name]
    page = new_page(viewport)
    page.route(f"**{AXE_PATH}", lambda route: route.fulfill(path=str(AXE), content_type="text/javascript"))
    response = page.goto(f"{live_server.url}{path}")
    assert response is not None and response.status == status
    page.wait_for_selector(ready)

    page.add_script_tag(url=f"{live_server.url}{AXE_PATH}")  # same origin: allowed by the CSP
    results = page.evaluate(AXE_RUN, [WCAG_21_AA, LANDMARK_RULES])
    if results["violations"]:
        screenshot(page, f"a11y-failed-{name}-{viewport}", full_page=True)
    assert results["violations"] == [], f"{name} at {viewport}:\n" + violation_report(results["violations"])
