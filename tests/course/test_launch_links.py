"""The book's launch links appear only for a repository or hub the instructor named.

``scripts/build_book.py`` puts a "Download / Open it on ..." box at the top of
every chapter, with one link per ``course_launch`` entry of ``_config.yml``.
A link built from a stand-in repository URL sends students to a page that does
not exist, so entries that need the repository are left out until
``repository.url`` names one (INSTRUCTORS.md, "Publish the web book").
"""

from __future__ import annotations

import copy

import yaml

from scripts import build_book

PATH = "release/05_mine/05_mine.ipynb"


def shipped_config() -> dict:
    return yaml.safe_load((build_book.ROOT / "_config.yml").read_text(encoding="utf-8"))


def with_repository(config: dict, url: str) -> dict:
    config = copy.deepcopy(config)
    config.setdefault("repository", {})["url"] = url
    return config


def test_the_shipped_config_names_no_stand_in():
    config = shipped_config()
    assert not config["repository"]["url"], (
        "_config.yml names a repository: set it only to the course's real one"
    )
    assert config["html"]["use_repository_button"] is False
    assert build_book.launch_links(config, PATH) == []


def test_a_named_repository_enables_binder():
    config = with_repository(shipped_config(), "https://github.com/someone/nmi.git")
    links = dict(build_book.launch_links(config, PATH))
    assert links["Binder"] == (
        "https://mybinder.org/v2/gh/someone/nmi/main?labpath=" + PATH
    )
    assert "JupyterHub" not in links  # its url is still empty


def test_a_hub_that_needs_no_repository_is_shown_alone():
    config = copy.deepcopy(shipped_config())
    for entry in config["course_launch"]:
        if entry["name"] == "JupyterHub":
            entry["url"] = "https://hub.example.org/hub/user-redirect/lab/tree/{path}"
    links = build_book.launch_links(config, PATH)
    assert links == [
        ("JupyterHub", "https://hub.example.org/hub/user-redirect/lab/tree/" + PATH)
    ]
    # the nbgitpuller pattern needs the repository: left out without one
    for entry in config["course_launch"]:
        if entry["name"] == "JupyterHub":
            entry["url"] = "https://hub.example.org/git-pull?repo={repo_url}&p={path}"
    assert build_book.launch_links(config, PATH) == []
    config = with_repository(config, "https://x.org/a/b")
    links = dict(build_book.launch_links(config, PATH))
    assert links["JupyterHub"] == (
        "https://hub.example.org/git-pull?repo=https://x.org/a/b&p=" + PATH
    )
