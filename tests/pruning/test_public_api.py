"""`import lightfmp` exposes the documented API (lazily)."""
import lightfmp


def test_every_public_name_resolves():
    for name in lightfmp.__all__:
        assert getattr(lightfmp, name) is not None, name
    assert lightfmp.LightFMP.__module__ == "lightfmp.pruning.lightfmp"


def test_unknown_name_raises():
    import pytest

    with pytest.raises(AttributeError):
        lightfmp.no_such_thing
