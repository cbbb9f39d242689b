"""Helpers for the Dagster UI test: GraphQL calls, a headless Chromium page, process checks."""
