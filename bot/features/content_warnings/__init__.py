"""content_warnings."""
