"""Engine, schema metadata, outbox enqueue and migrations. Knows no business rule."""
