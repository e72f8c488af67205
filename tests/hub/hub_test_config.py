"""The project's hub configuration, plus a test-only "tester" service (admin token for checks)."""

import os

c = get_config()  # noqa: F821
load_subconfig(os.environ["PROJECT_HUB_CONFIG"])  # noqa: F821 - the real config, unchanged

# Only the tests hold this token: it creates user tokens and reads files to check results.
c.JupyterHub.services.append({"name": "tester", "api_token": os.environ["TESTER_TOKEN"]})
c.JupyterHub.load_roles.append(
    {
        "name": "tester",
        "services": ["tester"],
        "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "users:activity"],
    }
)
