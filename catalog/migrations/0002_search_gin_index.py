"""Add the full-text GIN index on PostgreSQL (other databases search without it)."""

from django.db import migrations


def create_index(apps, schema_editor) -> None:
    """Create the GIN index when the database is PostgreSQL."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS workshop_search_gin ON catalog_workshop USING gin (search_vector)"
        )


def drop_index(apps, schema_editor) -> None:
    """Drop the GIN index when the database is PostgreSQL."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS workshop_search_gin")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(create_index, drop_index)]
