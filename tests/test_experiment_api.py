"""Validation of the researcher-facing Experiment builder: every error names the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gymcast import ConfigError, Experiment, Human, OnnxPolicy, PythonPolicy
from gymcast.experiment.loader import ExperimentNotFound, load_experiment

FIXTURES = Path(__file__).parent / "fixtures" / "experiments"


def valid() -> Experiment:
    return (
        Experiment("cartpole")
        .environment(env_id="CartPole-v1")
        .players({"player": Human(keys={"ArrowLeft": 0, "ArrowRight": 1}, default_action=0)})
    )


def module_level_env_creator(**kwargs):
    import gymnasium

    return gymnasium.make("CartPole-v1", **kwargs)


def test_valid_experiment_serializes_to_the_manifest():
    game = valid().rendering(fps=60).gameplay(num_episodes=2, max_steps=10, seed=3).to_manifest()
    assert game["env"] == {"id": "CartPole-v1", "creator": None, "kwargs": {}}
    assert game["players"]["player"] == {
        "type": "human",
        "keys": {"ArrowLeft": 0, "ArrowRight": 1},
        "default_action": 0,
        "action_buffer": 1,
    }
    assert game["rendering"]["fps"] == 60
    assert game["gameplay"] == {"num_episodes": 2, "max_steps": 10, "input_mode": "pressed_keys", "seed": 3}


@pytest.mark.parametrize(
    ("build", "field", "words"),
    [
        (lambda: Experiment("Cart Pole"), "Experiment(name)", "lowercase"),
        (lambda: valid().environment(), "environment", "exactly one of env_id and env_creator"),
        (lambda: valid().environment(env_id="CartPole-v1", env_creator="envs:make"), "environment", "exactly one"),
        (lambda: valid().environment(env_creator="not a ref"), "environment.env_creator", '"module:function"'),
        (lambda: valid().environment(env_creator=lambda: None), "environment.env_creator", "lambda"),
        (
            lambda: valid().environment(env_id="CartPole-v1", env_kwargs={"x": object()}),
            "environment.env_kwargs",
            "JSON",
        ),
        (lambda: valid().players({}), "players", "non-empty"),
        (lambda: valid().players({"p": {"ArrowLeft": 0}}), "players['p']", "Human(keys=...)"),
        (lambda: valid().players({"p": Human(keys={})}), "players['p'].keys", "empty"),
        (
            lambda: valid().players({"p": Human(keys={"a": 0}), "ai": OnnxPolicy("x.pt")}),
            "players['ai'].model",
            ".onnx",
        ),
        (
            lambda: valid().players({"p": Human(keys={"a": 0}), "ai": OnnxPolicy("x.onnx", action="max")}),
            "players['ai'].action",
            "'argmax', 'sample'",
        ),
        (
            lambda: valid().players({"p": Human(keys={"a": 0}), "ai": OnnxPolicy("x.onnx", act_every=0)}),
            "players['ai'].act_every",
            "between 1",
        ),
        (
            lambda: valid().players({"p": Human(keys={"a": 0}), "ai": OnnxPolicy("x.onnx", preprocess="bad")}),
            "players['ai'].preprocess",
            "module:function",
        ),
        (
            lambda: valid().players({"p": Human(keys={"a": 0}), "ai": OnnxPolicy("x.onnx", recurrent={"input": "h"})}),
            "players['ai'].recurrent",
            "input, output, shape",
        ),
        (
            lambda: valid().players({"p": Human(keys={"a": 0}), "ai": PythonPolicy(policy=lambda: 0)}),
            "players['ai'].policy",
            "lambda",
        ),
        (
            lambda: valid().players({"p": Human(keys={"a": 0}, action_buffer=0)}),
            "players['p'].action_buffer",
            "between 1",
        ),
        (lambda: valid().players({"p": Human(keys={"left": 0})}), "players['p'].keys", "ArrowLeft"),
        (lambda: valid().players({"p": Human(keys={"space": 0})}), "players['p'].keys", "' '"),
        (lambda: valid().rendering(fps=0), "rendering.fps", "between 1 and 120"),
        (lambda: valid().rendering(fps=30.5), "rendering.fps", "whole number"),
        (lambda: valid().rendering(width=True), "rendering.width", "whole number"),
        (lambda: valid().gameplay(num_episodes=0), "gameplay.num_episodes", "between 1"),
        (lambda: valid().gameplay(max_steps=0), "gameplay.max_steps", "at least 1"),
        (lambda: valid().gameplay(input_mode="held"), "gameplay.input_mode", "'pressed_keys', 'single_keystroke'"),
        (lambda: valid().gameplay(seed=-1), "gameplay.seed", "between 0"),
        (lambda: valid().hosting(port=70000), "hosting.port", "between 1 and 65535"),
        (lambda: valid().keep_modules("email.mime.text", "email mime"), "keep_modules[1]", "not a module name"),
        (lambda: valid().hosting(log_url="ftp://x"), "hosting.log_url", "http(s) URL"),
        (lambda: Experiment("x").to_manifest(), "environment", ".environment("),
        (lambda: Experiment("x").environment(env_id="CartPole-v1").to_manifest(), "players", ".players("),
    ],
)
def test_errors_name_the_field_and_the_fix(build, field, words):
    with pytest.raises(ConfigError) as caught:
        build()
    assert caught.value.field == field
    assert words in str(caught.value)
    assert "Fix:" in str(caught.value)


def test_function_objects_become_module_references():
    game = valid().environment(env_creator=module_level_env_creator).to_manifest()
    assert game["env"]["creator"] == f"{__name__}:module_level_env_creator"


def test_a_function_defined_inside_experiment_py_is_referenced_in_the_module_it_ships_as():
    loaded = load_experiment(FIXTURES / "inline_env")
    assert loaded.experiment.to_manifest()["env"]["creator"] == "experiment:make_env"


def test_a_function_in_a_file_whose_name_is_no_module_name_is_refused_with_the_fix(tmp_path):
    (tmp_path / "my-study.py").write_text((FIXTURES / "inline_env" / "experiment.py").read_text())
    with pytest.raises(ConfigError) as caught:
        load_experiment(tmp_path / "my-study.py")
    assert caught.value.field == "environment.env_creator"
    assert "rename the file (e.g. to experiment.py)" in str(caught.value)


def test_a_syntax_error_in_experiment_py_names_the_file_the_line_and_the_fix(tmp_path):
    (tmp_path / "experiment.py").write_text("from gymcast import Experiment\n\nexperiment = Experiment('x'\nx = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(tmp_path)
    message = str(caught.value)
    assert message.startswith("experiment.py: line 3 is not valid Python (")
    assert f"Fix: correct the syntax at {tmp_path / 'experiment.py'}:3" in message
    assert "Experiment('x'" in caught.value.details  # the offending line, from the traceback


def test_an_exception_while_experiment_py_runs_shows_the_end_of_its_traceback(tmp_path):
    (tmp_path / "experiment.py").write_text("def table():\n    return {}['missing']\n\n\nTABLE = table()\n")
    with pytest.raises(ConfigError) as caught:
        load_experiment(tmp_path)
    assert str(caught.value).startswith("experiment.py: running it raised KeyError: 'missing'. Fix: ")
    assert "return {}['missing']" in caught.value.details and "KeyError" in caught.value.details.splitlines()[-1]


def test_a_folder_without_an_experiment_is_reported():
    with pytest.raises(ExperimentNotFound, match="defines no Experiment"):
        load_experiment(FIXTURES / "none")
    with pytest.raises(ExperimentNotFound, match="does not exist"):
        load_experiment(FIXTURES / "missing")


def test_the_native_check_rejects_actions_outside_the_action_space():
    from gymcast.bundler.native_check import check_game_natively

    game = valid().players({"player": Human(keys={"ArrowUp": 5}, default_action=0)}).to_manifest()
    with pytest.raises(ConfigError) as caught:
        check_game_natively(game)
    assert caught.value.field == "players['player'].keys['ArrowUp']"
    assert "Discrete(2)" in str(caught.value)


def test_the_native_check_rejects_frames_of_the_wrong_shape():
    from gymcast.bundler.native_check import check_game_natively

    game = valid().rendering(frame_fn=f"{__name__}:flat_frame").to_manifest()
    with pytest.raises(ConfigError) as caught:
        check_game_natively(game)
    assert caught.value.field == "rendering.frame_fn"
    assert "(height, width, 3) uint8" in str(caught.value)


def flat_frame(env):
    import numpy as np

    return np.zeros((10, 10), dtype=np.uint8)


def test_the_browser_s_gymcast_stand_in_runs_an_experiment_file_without_doing_anything(tmp_path):
    import subprocess
    import sys

    import gymcast_runtime

    stub = tmp_path / "browser" / "gymcast" / "__init__.py"
    stub.parent.mkdir(parents=True)
    stub.write_text((Path(gymcast_runtime.__file__).parent / "authoring_stub.py").read_text())
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from gymcast import Experiment, Human\n"
        "from gymcast.flow import Consent, Game\n"
        "e = Experiment('x').environment(env_creator=print).players({'p': Human(keys={})}).flow(Consent(html='c'), Game('main'))\n"
        "import gymcast; assert gymcast.__file__.startswith(sys.argv[1]), gymcast.__file__\n"
        "print(type(e).__name__, type(Game).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "browser")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Inert", "type"]
