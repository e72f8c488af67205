"""JupyterHub configuration for the portal: authenticators, spawner, the portal service."""
