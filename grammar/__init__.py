"""The .bmg grammar, shipped as package data (bmnas_dsl.grammar)."""
