"""Tooling around the recipes: read them as T5X does, and run the tiny chain."""
