"""The HTML pages, one blueprint per feature."""
