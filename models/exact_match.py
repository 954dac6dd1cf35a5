"""Exact, case-insensitive matching through the ORM's ``=ilike`` operator."""


def exact_ilike(value):
    """``value`` as an ``=ilike`` pattern that matches itself only: ``%`` and ``_`` are
    wildcards otherwise, which lets anyone probe addresses letter by letter."""
    return (value or '').replace('\\', '\\\\').replace('%', '\\%').replace('_', '\\_')
