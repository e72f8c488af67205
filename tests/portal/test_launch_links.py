"""The launch link: built from catalog values only, URL-encoded, and unchangeable by requests."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.launch_links import lab_urlpath_build, launch_url_build, puller_repo_url

segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=20,
).filter(lambda s: s not in (".", ".."))


def test_link_has_the_documented_shape():
    url = launch_url_build(
        hub_url="http://127.0.0.1:8001/",
        repo="https://github.com/hpe/workshops",
        branch="main",
        target_dir="workshops",
        folder="redfish-101",
        notebook="0-ReadMeFirst.ipynb",
    )
    assert url == (
        "http://127.0.0.1:8001/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fhpe%2Fworkshops"
        "&branch=main&targetpath=workshops&urlpath=lab%2Ftree%2Fworkshops%2Fredfish-101%2F0-ReadMeFirst.ipynb%3Freset"
    )


def test_spaces_and_symbols_are_encoded_once_in_the_path_and_again_in_the_query():
    path = lab_urlpath_build(target_dir="workshops", folder="My Lab & more", notebook="1 #intro?.ipynb")
    assert path == "lab/tree/workshops/My%20Lab%20%26%20more/1%20%23intro%3F.ipynb?reset"


def test_a_path_never_climbs_out_of_the_home():
    with pytest.raises(ValueError):
        lab_urlpath_build(target_dir="workshops", folder="../../etc", notebook="passwd")


def test_local_paths_become_file_urls_and_urls_stay():
    assert puller_repo_url(configured="", source="/srv/content.git") == "file:///srv/content.git"
    assert puller_repo_url(configured="", source="https://github.com/a/b") == "https://github.com/a/b"
    assert puller_repo_url(configured="git://h/r", source="/srv/x") == "git://h/r"


@given(
    repo=st.text(min_size=1, max_size=60),
    branch=st.text(min_size=1, max_size=30),
    folder=segment,
    notebook=segment,
    target=segment,
)
def test_every_value_comes_back_exactly_from_its_own_parameter(repo, branch, folder, notebook, target):
    url = launch_url_build(
        hub_url="http://hub.example",
        repo=repo,
        branch=branch,
        target_dir=target,
        folder=folder,
        notebook=notebook,
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "http",
        "hub.example",
        "/hub/user-redirect/git-pull",
    )
    query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert set(query) == {"repo", "branch", "targetpath", "urlpath"}
    assert all(len(v) == 1 for v in query.values())  # no smuggled second value
    assert query["repo"] == [repo] and query["branch"] == [branch] and query["targetpath"] == [target]
    assert query["urlpath"] == [lab_urlpath_build(target_dir=target, folder=folder, notebook=notebook)]
