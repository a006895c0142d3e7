"""Object rendering's inputs: drawables from gymcast_runtime.draw and rendering(objects_fn=..., assets=...)."""

from __future__ import annotations

import math

import pytest

from gymcast import Experiment
from gymcast.experiment.errors import ConfigError
from gymcast_runtime import draw

TEXTURES = {"chef": {"file": "assets/chef.png"}}


def test_well_formed_drawables_pass_and_serialize_numpy_numbers():
    import numpy as np

    objects = [draw.sprite("chef", np.float32(3.5), 4, "chef", frame=2), draw.rect("floor", 0, 0, 10, 5, "#00ff00"),
               draw.polygon("slime", 1, 2, draw.arc_points(5, 0, 180, segments=4), "#123456"),
               draw.text("score", 5, 5, "Score: 3")]
    assert draw.check_objects(objects, TEXTURES) == objects
    assert '"x": 3.5' in draw.objects_json(objects)


@pytest.mark.parametrize(("objects", "message"), [
    ({"kind": "rect"}, "must return a list"),
    ([{"kind": "blob", "id": "a"}], "drawable 0 is not a drawable"),
    ([draw.circle("", 1, 1, 2, "#000000")], "no string id"),
    ([draw.circle("a", 1, 1, 2, "#000000"), draw.circle("a", 2, 2, 2, "#000000")], "'a' appears twice"),
    ([draw.circle("a", math.nan, 1, 2, "#000000")], "'a'.x is nan"),
    ([draw.circle("a", 1, 1, 2, "red")], "'a'.color is 'red'"),
    ([draw.sprite("a", 1, 1, "onion")], "texture 'onion', which rendering(assets=...) does not name (named: chef)"),
    ([draw.line("a", 1, 1, [(0, 0), (1,)], "#000000")], "'a'.points must be"),
])
def test_malformed_drawables_are_named(objects, message):
    with pytest.raises(draw.DrawError) as error:
        draw.check_objects(objects, TEXTURES)
    assert message in str(error.value)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"frame_fn": "m:f", "objects_fn": "m:g"}, "rendering"),
    ({"assets": {"chef": "assets/chef.png"}}, "rendering.assets"),
    ({"objects_fn": "m:g", "assets": {"chef": "assets/chef.txt"}}, "rendering.assets['chef'].file"),
    ({"objects_fn": "m:g", "assets": {"tiles": {"file": "t.png", "frame_width": 0, "frame_height": 8}}},
     "rendering.assets['tiles'].frame_width"),
    ({"objects_fn": "m:g", "assets": {"bad name": "x.png"}}, "rendering.assets['bad name']"),
])
def test_rendering_settings_are_checked(kwargs, field):
    with pytest.raises(ConfigError) as error:
        Experiment("draw_test").rendering(**kwargs)
    assert error.value.field == field
