"""The Kubernetes values file is valid for the Zero to JupyterHub chart."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from hubconfig import contract

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "data" / "z2jh"  # the chart's schema and defaults (BSD-3), see its README


def _merge(base: dict, over: dict) -> dict:
    """Deep-merge over onto base, as Helm merges values files."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((ROOT / "hubconfig" / "z2jh-values.yaml").read_text())


def test_values_validate_against_the_chart_schema(values):
    if not (SCHEMAS / "z2jh-values.schema.yaml").is_file():
        pytest.skip(f"Zero to JupyterHub schema not in {SCHEMAS} (the shared schemas folder is absent)")
    defaults = yaml.safe_load((SCHEMAS / "z2jh-values.defaults.yaml").read_text())
    schema = yaml.safe_load((SCHEMAS / "z2jh-values.schema.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(_merge(defaults, values)), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_values_keep_the_projects_decisions(values):
    assert values["cull"]["enabled"] is False  # the portal culls
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "github"
    assert values["hub"]["config"]["GitHubOAuthenticator"]["allow_all"] is False
    scopes = values["hub"]["loadRoles"]["portal"]["scopes"]
    assert "admin:users" not in scopes and "access:servers" not in scopes
    assert values["hub"]["services"]["portal"]["oauth_redirect_uri"].endswith("/accounts/callback")


def test_values_follow_the_hub_contract(values):
    """Services, roles and scopes are the contract's: on Kubernetes the culler is a service too."""
    hub = values["hub"]
    services, roles = hub["services"], hub["loadRoles"]
    assert set(services) == {contract.PORTAL_SERVICE_NAME, contract.CULLER_SERVICE_NAME}
    assert services["portal"]["oauth_client_id"] == contract.PORTAL_OAUTH_CLIENT_ID
    assert services["portal"]["oauth_redirect_uri"].endswith(contract.PORTAL_CALLBACK_PATH)
    assert roles["portal"]["services"] == [contract.PORTAL_SERVICE_NAME]
    assert roles["portal"]["scopes"] == list(contract.PORTAL_SCOPES)
    assert roles["culler"]["services"] == [contract.CULLER_SERVICE_NAME]
    assert roles["culler"]["scopes"] == list(contract.CULLER_SCOPES)
    assert roles["user"]["scopes"] == list(contract.USER_SCOPES)
    assert hub["config"]["JupyterHub"]["trust_user_provided_tokens"] is True
