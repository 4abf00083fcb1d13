"""Bringing lessons in from files: tables (CSV, Excel, JSON), column mappings, the importer."""
