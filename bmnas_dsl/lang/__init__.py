"""The language: .bmg text -> AST (source reading, parser, AST, names, diagnostics, formatter, printer)."""
