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

    objects = [
        draw.sprite("chef", np.float32(3.5), 4, "chef", frame=2),
        draw.rect("floor", 0, 0, 10, 5, "#00ff00"),
        draw.polygon("slime", 1, 2, draw.arc_points(5, 0, 180, segments=4), "#123456"),
        draw.text("score", 5, 5, "Score: 3"),
    ]
    assert draw.check_objects(objects, TEXTURES) == objects
    assert '"x": 3.5' in draw.objects_json(objects)


@pytest.mark.parametrize(
    ("objects", "message"),
    [
        ({"kind": "rect"}, "must return a list"),
        ([{"kind": "blob", "id": "a"}], "drawable 0 is not a drawable"),
        ([draw.circle("", 1, 1, 2, "#000000")], "no string id"),
        ([draw.circle("a", 1, 1, 2, "#000000"), draw.circle("a", 2, 2, 2, "#000000")], "'a' appears twice"),
        ([draw.circle("a", math.nan, 1, 2, "#000000")], "'a'.x is nan"),
        ([draw.circle("a", 1, 1, 2, "red")], "'a'.color is 'red'"),
        ([draw.sprite("a", 1, 1, "onion")], "texture 'onion', which rendering(assets=...) does not name (named: chef)"),
        ([draw.line("a", 1, 1, [(0, 0), (1,)], "#000000")], "'a'.points must be"),
    ],
)
def test_malformed_drawables_are_named(objects, message):
    with pytest.raises(draw.DrawError) as error:
        draw.check_objects(objects, TEXTURES)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"frame_fn": "m:f", "objects_fn": "m:g"}, "rendering"),
        ({"assets": {"chef": "assets/chef.png"}}, "rendering.assets"),
        ({"objects_fn": "m:g", "assets": {"chef": "assets/chef.txt"}}, "rendering.assets['chef'].file"),
        (
            {"objects_fn": "m:g", "assets": {"tiles": {"file": "t.png", "frame_width": 0, "frame_height": 8}}},
            "rendering.assets['tiles'].frame_width",
        ),
        ({"objects_fn": "m:g", "assets": {"bad name": "x.png"}}, "rendering.assets['bad name']"),
    ],
)
def test_rendering_settings_are_checked(kwargs, field):
    with pytest.raises(ConfigError) as error:
        Experiment("draw_test").rendering(**kwargs)
    assert error.value.field == field


def _experiment_folder(tmp_path, module: str, objects: str, asset: str = "assets/ball.png"):
    """A CartPole experiment drawn by `module.objects` returning `objects` (Python source), with one image asset."""
    (tmp_path / f"{module}.py").write_text(
        f"from gymcast_runtime import draw\n\n\ndef objects(env):\n    return {objects}\n"
    )
    (tmp_path / "experiment.py").write_text(
        "from gymcast import Experiment, Human\n"
        "experiment = (Experiment('draw_build').environment(env_id='CartPole-v1')\n"
        "    .players({'p': Human(keys={'ArrowLeft': 0})})\n"
        f"    .rendering(objects_fn='{module}:objects', assets={{'ball': '{asset}'}}))\n"
    )
    return tmp_path


def test_the_build_draws_the_env_once_and_names_a_bad_object(tmp_path):
    from gymcast.bundler.bundle import build_bundle

    (tmp_path / "exp").mkdir()
    folder = _experiment_folder(tmp_path / "exp", "bad_drawing", "[draw.circle('pole', 1, 1, 2, 'blue')]")
    with pytest.raises(ConfigError) as error:
        build_bundle(folder, tmp_path / "out")
    assert error.value.field == "rendering.objects_fn" and "drawable 'pole'.color is 'blue'" in str(error.value)


def test_the_build_copies_assets_and_names_a_missing_one(tmp_path):
    from PIL import Image

    from gymcast.bundler.bundle import build_bundle

    (tmp_path / "exp").mkdir()
    folder = _experiment_folder(tmp_path / "exp", "sprite_drawing", "[draw.sprite('cart', 10, 10, 'ball')]")
    with pytest.raises(ConfigError) as error:
        build_bundle(folder, tmp_path / "out")
    assert error.value.field == "rendering.assets['ball'].file" and "does not exist" in str(error.value)
    (folder / "assets").mkdir()
    Image.new("RGB", (4, 4), "red").save(folder / "assets" / "ball.png")
    built = build_bundle(folder, tmp_path / "out")
    url = built.manifest.games["main"]["rendering"]["assets"]["ball"]["file_url"]
    assert (
        url.startswith("assets/") and (built.path / url).read_bytes() == (folder / "assets" / "ball.png").read_bytes()
    )
    assert built.manifest.phaser.version == "3.90.0"
