import pytest

from chunkygan.registry import Registry, UnknownNameError


def test_unknown_lists_known():
    r = Registry("thing")
    r.register("a", 1)
    r.register("b")(2)
    assert r.get("b") == 2 and r.names() == ["a", "b"]
    with pytest.raises(UnknownNameError, match="unknown thing 'c'; known: a, b"):
        r.get("c")
    with pytest.raises(ValueError, match="already registered"):
        r.register("a", 3)
