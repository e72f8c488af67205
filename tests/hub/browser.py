"""JupyterLab as a learner sees it in the browser (Chromium itself: tests/chromium.py)."""

from __future__ import annotations

from tests.chromium import chromium

__all__ = ["chromium", "notebook_open"]


def notebook_open(page, name: str, *, timeout: float = 60_000) -> None:
    """Wait until JupyterLab shows notebook name as the current tab, with its cells rendered."""
    page.wait_for_selector(f".lm-TabBar-tab.jp-mod-current:has-text('{name}')", timeout=timeout)
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=timeout)
