"""The workshop catalog: content repository sync, browse, preview, download."""
