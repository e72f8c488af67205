"""What a visitor sees: card pictures, the default card, filter names, the share box, the 404 page,
the favicon, and pages that fit a phone. Screenshots of each (see tests/chromium.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from catalog.sync import catalog_sync
from tests.chromium import screenshot
from tests.contentrepo import ContentRepo, notebook_bytes, workshop_yml

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_IMAGE_TITLE = "Automating HPE OneView with Ansible"  # the sample workshop without a card image


def box(locator) -> dict:
    """Return an element's bounding box, rounded to whole pixels."""
    return {k: round(v) for k, v in locator.bounding_box().items()}


def test_card_images_fill_their_frame_and_a_workshop_without_one_gets_a_designed_card(
    new_page, live_server, sample_catalog
) -> None:
    """Every card has a picture as wide and tall as its frame; no bare letter stands in for one."""
    page = new_page("desktop")
    page.goto(f"{live_server.url}/workshops/")
    cards = page.locator("article.card")
    assert cards.count() >= 5
    for i in range(cards.count()):
        card = cards.nth(i)
        frame = card.locator(".card-image")
        picture = frame.locator("img, svg").first
        picture.scroll_into_view_if_needed()
        if picture.evaluate("el => el.tagName") == "IMG":
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
            assert picture.evaluate("img => getComputedStyle(img).objectFit") == "cover"
        assert box(picture) == box(frame), card.locator(".card-title").inner_text()
        assert abs(box(frame)["width"] - (box(card)["width"] - 2)) <= 1  # edge to edge, inside the card's border

    default = cards.filter(has_text=NO_IMAGE_TITLE)
    art = default.locator("[data-default-card] svg")
    assert art.is_visible()
    assert art.get_attribute("aria-hidden") == "true"  # decorative: the title is read right after
    assert art.locator(".art-initials").text_content() == "AH"
    assert art.locator(".art-topic").text_content() == "Python 3"  # no products: its kernel
    assert default.locator(".card-placeholder").count() == 0
    # The card link is still named by the workshop's title.
    assert page.get_by_role("link", name=NO_IMAGE_TITLE).count() == 1


def test_default_cards_differ_from_workshop_to_workshop(new_page, live_server, content_repo: ContentRepo) -> None:
    """Workshops without pictures get default cards in different colours, with their initials."""
    workshops = {
        "redfish-events": ("Redfish event subscriptions", ["Redfish"], "RE"),
        "greenlake-audit": ("GreenLake audit logs", ["GreenLake", "Python"], "GA"),
        "ilo": ("iLO basics", [], "IB"),
    }
    for folder, (title, products, _) in workshops.items():
        content_repo.write(f"{folder}/0-Start.ipynb", notebook_bytes(title, "Setup"))
        meta = workshop_yml(title=title, summary="A workshop.", products=products)
        content_repo.write(f"{folder}/workshop.yml", meta)
    content_repo.commit("three workshops without a card image")
    assert catalog_sync().status == "ok"

    page = new_page("desktop")
    page.goto(f"{live_server.url}/workshops/?sort=title")
    backgrounds = set()
    for title, products, initials in workshops.values():
        card = page.locator("article.card").filter(has_text=title)
        art = card.locator("[data-default-card]")
        assert art.locator(".art-initials").text_content() == initials
        assert art.locator(".art-topic").text_content() == (" · ".join(products) or "Python 3")
        backgrounds.add(art.evaluate("el => getComputedStyle(el).backgroundImage"))
    assert len(backgrounds) == 3
    screenshot(page, "default-cards")


def test_kernel_filter_reads_the_names_people_know(new_page, live_server, sample_catalog) -> None:
    """The kernel filter says "PowerShell" and "Python 3"; the address keeps the kernel spec name."""
    page = new_page("desktop")
    page.goto(f"{live_server.url}/workshops/")
    options = page.locator("select[name=kernel] option")
    values = options.evaluate_all("os => os.map(o => o.value)")
    labels = dict(zip(values, options.all_inner_texts(), strict=True))
    assert labels["powershell"] == "PowerShell"
    assert labels["python3"] == "Python 3"

    page.select_option("select[name=kernel]", label="PowerShell")  # applies at once (site.js)
    page.wait_for_url("**kernel=powershell**")
    titles = page.locator("article.card .card-title").all_inner_texts()
    assert titles == ["PowerShell 101 for API users"]
    assert page.locator("select[name=kernel] option:checked").inner_text() == "PowerShell"


def test_share_box_lines_up_and_copies(new_page, live_server, sample_catalog) -> None:
    """Each snippet has its name and a Copy button on one line above it; Copy fills the clipboard."""
    page = new_page("desktop")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/workshops/redfish-101/")
    share = page.locator("#share")
    assert share.get_by_role("img", name="Launch the Redfish 101").evaluate("img => img.naturalWidth") > 0
    share_box = box(share)
    for name in ("Link", "Markdown badge", "HTML badge", "reStructuredText badge"):
        field = share.get_by_label(name, exact=True)
        label = share.locator("label", has_text=name)
        button = label.locator("xpath=following-sibling::button")
        assert abs(box(label)["y"] + box(label)["height"] / 2 - box(button)["y"] - box(button)["height"] / 2) <= 2
        assert box(button)["x"] + box(button)["width"] > box(field)["x"] + box(field)["width"] - 3  # right-aligned
        assert box(field)["y"] > box(label)["y"]  # the snippet sits below its name
        left = box(field)["x"] - share_box["x"]
        right = share_box["x"] + share_box["width"] - box(field)["x"] - box(field)["width"]
        assert abs(left - right) <= 1  # the snippet spans the box
        scroll = field.evaluate("el => el.scrollHeight - el.clientHeight")
        assert scroll <= 1, f"{name}: the snippet is cut off"

    markdown = share.get_by_label("Markdown badge", exact=True)
    copy = share.locator("button[data-copy=share-md]")
    copy.click()
    expect(copy).to_have_text("Copied")  # then back to "Copy"
    assert page.evaluate("navigator.clipboard.readText()") == markdown.input_value()
    assert markdown.input_value().startswith("[![Launch the Redfish 101")
    share.scroll_into_view_if_needed()
    screenshot(page, "share")


def test_not_found_page_leads_back_to_the_catalog(new_page, live_server, sample_catalog) -> None:
    """A wrong address answers 404 with the site's look, a search box and a way back to the catalog."""
    for viewport in ("desktop", "phone"):
        page = new_page(viewport)
        response = page.goto(f"{live_server.url}/workshops/no-such-workshop/")
        assert response.status == 404
        assert page.title().startswith("Page not found")
        assert page.locator("main h1").inner_text() == "This page is not in the catalog"
        assert "no-such-workshop" in page.locator("#not-found").inner_text()
        assert page.locator("header.topbar").is_visible()  # the site's own header, not a bare page
        screenshot(page, "not-found" if viewport == "desktop" else "not-found-phone")

    page.get_by_role("search", name="Search the workshops").get_by_role("searchbox").fill("redfish")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/workshops/?q=redfish")
    assert page.locator("article.card").count() >= 1

    response = page.goto(f"{live_server.url}/no/such/page")
    assert response.status == 404 and page.locator("#not-found").is_visible()
    page.get_by_role("link", name="Browse all workshops").click()
    page.wait_for_url("**/workshops/")
    assert page.locator("article.card").count() >= 5


def test_favicon_comes_from_the_portal(new_page, live_server, sample_catalog) -> None:
    """Every page names an icon served from the portal's own static files."""
    page = new_page("desktop")
    page.goto(f"{live_server.url}/workshops/")
    for selector, content_type in (
        ("link[rel=icon][type='image/svg+xml']", "image/svg+xml"),
        ("link[rel=icon][type='image/png']", "image/png"),
        ("link[rel=apple-touch-icon]", "image/png"),
    ):
        href = page.locator(selector).get_attribute("href")
        assert href.startswith("/static/portal/")
        response = page.request.get(f"{live_server.url}{href}")
        assert response.ok and response.headers["content-type"].startswith(content_type)


PHONE_PAGES = {
    "catalog": "/workshops/",
    "search-empty": "/workshops/?q=zzzznotathing",
    "workshop": "/workshops/redfish-101/",
    "preview": "/workshops/python-101-for-api-users/notebooks/1-Variables-and-Types.ipynb",
}


def test_public_pages_fit_a_phone(new_page, live_server, sample_catalog) -> None:
    """At 390 px nothing makes the page scroll sideways, and Launch is one tap from the top."""
    page = new_page("phone")
    for name, path in PHONE_PAGES.items():
        page.goto(f"{live_server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        assert page.locator(".topsearch input").is_visible()
        screenshot(page, f"{name}-phone")

    page.goto(f"{live_server.url}/workshops/redfish-101/")
    page.get_by_role("link", name="Launch or download").click()
    assert page.locator("#signin-to-launch").is_visible()
    assert page.evaluate("document.getElementById('launch-box').getBoundingClientRect().top") < 844

    page.goto(f"{live_server.url}{PHONE_PAGES['preview']}")
    outline = page.locator("details.reader-outline")
    assert outline.get_attribute("open") is None  # folded on a phone: the notebook comes first
    outline.locator("summary").click()
    assert outline.locator(".outline a").first.is_visible()
