import doctest

from .. import endpoint, errors, schedule, secretbox


def test_doctests():
    for module in (errors, endpoint, schedule, secretbox):
        failures, tried = doctest.testmod(module)
        assert tried > 0 and failures == 0, module.__name__
