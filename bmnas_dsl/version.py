"""The package version, in a module of its own: every stage may import it without
importing the public API of bmnas_dsl/__init__.py."""

__version__ = "0.1.0"
