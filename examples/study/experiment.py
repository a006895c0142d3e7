"""A complete study: consent, instructions, practice, main rounds in one of two conditions, a survey,
and a completion code that returns Prolific participants to Prolific."""

from gymcast import Experiment, Human, OnnxPolicy
from gymcast.flow import Completion, Consent, Game, Page, Question, Survey

PARTNER = "../cartpole/policies/cartpole_mlp.onnx"
HUMAN = Human(keys={"ArrowLeft": 0, "ArrowRight": 1}, default_action=0)

experiment = (
    Experiment("twin_study")
    .code("../cartpole")  # the two-cart env and its drawing code
    .environment(env_creator="twin:make_twin_cartpole")
    .players({"human": HUMAN, "ai": OnnxPolicy(model=PARTNER)})
    .rendering(fps=30, width=450, height=600, frame_fn="twin:draw_twins")
    .gameplay(num_episodes=1, max_steps=500, seed=100)
    .conditions(
        {
            "steady": {"players": {"human": HUMAN, "ai": OnnxPolicy(model=PARTNER, action="argmax")}},
            "jittery": {
                "players": {"human": HUMAN, "ai": OnnxPolicy(model=PARTNER, action="sample", act_every=4, seed=7)}
            },
        },
        assignment="balanced",
    )
    .participants(allow_repeat=False)
    .flow(
        Consent(html="pages/consent.html"),
        Page("instructions", html="pages/instructions.html"),
        Game("practice", num_episodes=1, max_steps=150),
        Game("main", use_condition=True, num_episodes=2, seed=200),
        Survey(
            "questionnaire",
            (
                Question("partner_skill", "My AI partner was skilled.", kind="likert", points=7),
                Question(
                    "enjoyment",
                    "How much did you enjoy the game?",
                    kind="choice",
                    options=("not at all", "a little", "a lot"),
                ),
                Question(
                    "devices",
                    "Which did you use?",
                    kind="multi",
                    options=("keyboard", "laptop", "desktop"),
                    required=False,
                ),
                Question("age", "Your age in years", kind="number", minimum=18, maximum=100),
                Question("comments", "Anything else you want to tell us?", kind="text", required=False),
            ),
        ),
        Completion(code="C7GYMCAST", redirect="https://app.prolific.com/submissions/complete?cc=C7GYMCAST"),
    )
)
