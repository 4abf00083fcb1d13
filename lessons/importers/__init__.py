"""Bringing lessons in from other systems' exports."""
