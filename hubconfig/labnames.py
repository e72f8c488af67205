"""Which environment variable names a workshop's lab may not set (pure: no I/O).

One rule for both sides: the catalog refuses a `lab:` section that names one (the author sees
why, in the catalog's notices), and the hub drops one from a grant whatever the portal sent (a
second wall). Two lists used to drift apart: a name the catalog accepted could be dropped at
the hub without a word (USERNAME, by a "USER" prefix).

Reserved: what the learner's server, Python, the dynamic linker, pip, git, TLS clients and
proxies run by, exactly (PATH, HOME, USER, ...), or as a family (PYTHON*, LD_*, JUPYTER*, ...),
and the portal's own PORTAL_* (PORTAL_LAB_* carries the grant to `hubconfig/labext.py`).
Case does not matter: Windows-style names a notebook reads with os.environ are the same risk.
"""

from __future__ import annotations

import re

_EXACT = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "LANG", "ENV", "BASH_ENV",
    "KUBECONFIG", "VIRTUAL_ENV", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
)  # fmt: skip
_FAMILIES = (
    "LC_", "PYTHON", "IPYTHON", "LD_", "JUPYTER", "JPY_", "PORTAL_", "CONDA", "MEM_", "CPU_",
    "SSL_", "PIP_", "GIT_", "NODE_", "XDG_",
)  # fmt: skip
_RESERVED = re.compile(
    rf"^(?:{'|'.join(_EXACT)}|(?:{'|'.join(_FAMILIES)})\w*)$",
    re.IGNORECASE,
)


def env_name_reserved(name: str) -> bool:
    """Tell whether a lab may not set the variable called name (the rule above)."""
    return bool(_RESERVED.match(name))
