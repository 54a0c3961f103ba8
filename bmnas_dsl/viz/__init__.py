"""Pictures of genotypes and search runs (`bmnas viz`)."""


class VizError(Exception):
    """An input `bmnas viz` cannot draw; the message says why (one line, no traceback)."""
