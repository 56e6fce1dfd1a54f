"""Pipelines: specs, the schema registry and validation, transforms, routing."""
