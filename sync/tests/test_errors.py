import doctest

from .. import endpoint, errors, kinds, schedule, secretbox


def test_doctests():
    for module in (errors, endpoint, kinds, schedule, secretbox):
        failures, tried = doctest.testmod(module)
        assert tried > 0 and failures == 0, module.__name__
