"""Jinja2 templates of the code generator, shipped as package data (bmnas_dsl.templates)."""
