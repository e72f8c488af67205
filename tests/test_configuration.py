"""Every environment variable the project reads is documented in .env.example, and no other."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _read_names() -> set[str]:
    """Return the variables read by the settings, the hub contract and the start-up files."""
    settings = (ROOT / "portal" / "settings.py").read_text()
    contract = (ROOT / "hubconfig" / "contract.py").read_text()
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z0-9_]+)"', settings))
    names |= set(re.findall(r'(?:_str|env_bool|_int|_list)\(\s*env,\s*"([A-Z0-9_]+)"', contract))
    names |= set(re.findall(r'os\.environ\.get\("([A-Z0-9_]+)"', settings + contract))
    for launcher in ("Procfile", "scripts/start.sh"):
        names |= set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / launcher).read_text()))
    return names - {"DJANGO_SETTINGS_MODULE"}


def test_every_variable_read_is_documented_and_every_documented_one_is_read():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = _read_names()
    assert len(read) > 50  # the patterns above still find the reads
    assert read - documented == set(), "read but not in .env.example"
    assert documented - read == set(), "in .env.example but read by nothing"
