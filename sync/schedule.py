"""Adaptive polling interval: shorter after cycles that brought mail, longer when idle.

Pure policy, in minutes, bounded by the profile's minimum and maximum.

>>> next_interval(current=5, new_items=3, minimum=2, default=5, maximum=12)
2
>>> next_interval(current=2, new_items=0, minimum=2, default=5, maximum=12)
3
>>> next_interval(current=11, new_items=0, minimum=2, default=5, maximum=12)
12
>>> next_interval(current=None, new_items=0, minimum=2, default=5, maximum=12)
5
>>> next_interval(current=None, new_items=1, minimum=2, default=5, maximum=12)
2
"""


def next_interval(current, new_items, minimum, default, maximum):
    """Mail arrived: poll at the minimum. Idle: back off by half again, up to the maximum."""
    if new_items:
        return minimum
    if current is None:
        return default
    return max(minimum, min(maximum, current + max(1, current // 2)))
