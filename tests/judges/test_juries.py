"""Juries: combining judges (majority, learned weights), per-order choices, bad input, the leaderboard."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from arena.errors import Invalid
from arena.models import Dimension, Source, Verdict
from arena.services.battles import people_source
from arena.services.verdicts import derived_verdicts_sync, verdict_record
from judges.jury_maths import majority_choice, weighted_choice, weights_fit
from judges.models import Judgment, Jury, JuryOrderChoice, WorkStatus
from judges.services.juries import juries_refresh, jury_create, jury_refresh
from tests.judges.conftest import make_arena, make_judge, run_inline, start_campaign
from tests.support.openai_stub import OpenAIStub, position_biased, prefer_marker

ROOT = Path(__file__).resolve().parents[2]


# --- the maths ------------------------------------------------------------------------------------------


def test_majority_takes_the_side_with_more_votes_and_ties_abstain():
    votes = np.array([[1, 1, -1], [1, -1, 0], [1, 0, 0], [0, 0, 0], [-1, -1, 1]])
    assert majority_choice(votes).tolist() == [1, 0, 1, 0, -1]


def test_learned_weights_trust_the_judge_that_agrees_with_people():
    rng = np.random.default_rng(0)
    people = rng.integers(0, 2, size=400).astype(float)  # 1: people prefer A
    truth_vote = 2 * people - 1
    agreeing = np.where(rng.random(400) < 0.9, truth_vote, -truth_vote)  # right 90 % of the time
    random_judge = rng.choice([-1.0, 1.0], size=400)  # unrelated to people
    fitted = weights_fit(np.column_stack([agreeing, random_judge]), people)
    # A 90 %-right vote is worth log(0.9/0.1) = 2.2 logits; the ridge (variance-1 prior) shrinks it a little
    # on 400 battles. The random judge's weight is noise: |w| ≈ 1/√400 = 0.05 per standard error.
    assert 1.8 < fitted.weights[0] < 2.3 and abs(fitted.weights[1]) < 0.2 and fitted.n_fitted == 400
    # The combined choice follows the trusted judge when the two disagree; it is symmetric in the sides.
    choices = weighted_choice(np.array([[1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]]), fitted.weights)
    assert choices.tolist() == [1.0, -1.0, 0.0]


def test_the_jury_maths_imports_no_django():
    probe = (
        "import sys, judges.jury_maths, leaderboard.rating.calibrated;"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))[:5])"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- defining juries --------------------------------------------------------------------------------------


@pytest.fixture
def three_judges(db):
    return [make_judge(f"judge-{n}", model=f"m{n}") for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"members": ["judge-1", "nope"]},
            "Unknown judge config(s): nope. Known judge configs: judge-1, judge-2",
        ),
        ({"members": ["judge-1", "judge-1"]}, "A jury needs at least two different judge configs; got 1."),
        ({"slug": "judges"}, "Jury slug 'judges' is reserved for the leaderboard"),
        ({"slug": "judge-judge-1"}, "A leaderboard source is already called 'judge-judge-1'"),
        ({"slug": "bad slug"}, "Jury slug 'bad slug' is not a slug"),
        ({"method": "vibes"}, "Unknown jury method 'vibes': use one of majority, learned."),
        ({"name": "  "}, "A jury needs a name"),
    ],
)
def test_bad_jury_definitions_are_refused_and_change_nothing(three_judges, options, message):
    spec = {
        "slug": "panel",
        "name": "Panel",
        "method": "majority",
        "members": ["judge-1", "judge-2"],
        **options,
    }
    sources = Source.objects.count()
    with pytest.raises(Invalid) as refused:
        jury_create(**spec)
    assert message in refused.value.message
    assert not Jury.objects.exists() and Source.objects.count() == sources


def test_the_commands_create_and_update_a_jury_and_refuse_bad_input(three_judges):
    call_command("jury_create", "panel", "--name", "Panel", "--member", "judge-1,judge-2")
    jury = Jury.objects.get(slug="panel")
    assert jury.source.kind == "jury" and jury.source.name == "Panel" and jury.members.count() == 2
    call_command(
        "jury_update",
        "panel",
        "--name",
        "Big panel",
        "--member",
        "judge-1,judge-2,judge-3",
        "--method",
        "learned",
    )
    jury.refresh_from_db()
    assert (jury.name, jury.method, jury.members.count(), jury.source.name) == (
        "Big panel",
        "learned",
        3,
        "Big panel",
    )
    with pytest.raises(CommandError, match="Unknown judge config"):
        call_command("jury_update", "panel", "--member", "judge-1,ghost")
    with pytest.raises(CommandError, match="No jury 'ghost'. Juries: panel."):
        call_command("jury_update", "ghost", "--name", "x")
    jury.refresh_from_db()
    assert jury.members.count() == 3  # the refused update changed nothing


# --- deriving verdicts --------------------------------------------------------------------------------------


def _battles(n_prompts: int):
    from arena.services.battles import battle_get_or_create

    prompt_set, contenders = make_arena(n_prompts=n_prompts, slugs=("alpha", "bravo"))
    alpha, bravo = contenders
    return [
        battle_get_or_create(output_a=a, output_b=b)[0]
        for a, b in zip(alpha.outputs.order_by("prompt_id"), bravo.outputs.order_by("prompt_id"), strict=True)
    ]


def _say(battle, source, outcome, dimension="overall", voter=""):
    verdict_record(
        battle=battle, dimension=Dimension.objects.get(slug=dimension), source=source, outcome=outcome,
        voter_key=voter,
    )  # fmt: skip


def _jury_outcomes(jury) -> dict[int, str]:
    return dict(Verdict.objects.filter(source=jury.source).values_list("battle_id", "outcome"))


def test_a_majority_jury_needs_a_quorum_and_follows_its_members(three_judges):
    b = _battles(4)
    s1, s2, s3 = (judge.source for judge in three_judges)
    for source, outcome in ((s1, "a"), (s2, "a"), (s3, "b")):
        _say(b[0], source, outcome)  # two for A
    for source, outcome in ((s1, "a"), (s2, "b"), (s3, "tie")):
        _say(b[1], source, outcome)  # one each: a tie
    _say(b[2], s1, "b")
    _say(b[2], s2, "tie")  # two members of three speak: quorum; B against an abstention
    _say(b[3], s1, "a")  # one member alone never speaks for the jury
    jury = jury_create(
        slug="panel", name="Panel", method="majority", members=["judge-1", "judge-2", "judge-3"]
    )
    refreshed = jury_refresh(jury=jury)
    assert _jury_outcomes(jury) == {b[0].pk: "a", b[1].pk: "tie", b[2].pk: "b"}
    assert (refreshed.created, refreshed.changed, refreshed.removed) == (3, 0, 0)
    # Idempotent: with nothing new to read, a refresh skips the work (beat asks every 15 minutes).
    refreshed_at = Jury.objects.get(pk=jury.pk).refreshed
    assert jury_refresh(jury=jury).created == 0
    assert Jury.objects.get(pk=jury.pk).refreshed == refreshed_at
    # It follows its members: a member's verdict excluded by staff drops out.
    Verdict.objects.filter(source=s2, battle=b[2]).update(excluded=True)
    Verdict.objects.filter(source=s3, battle=b[0]).update(excluded=True)
    again = jury_refresh(jury=jury)
    assert (again.created, again.changed, again.removed) == (0, 0, 1)
    assert _jury_outcomes(jury) == {b[0].pk: "a", b[1].pk: "tie"}
    # Switched off, the jury loses its verdicts (and leaves the leaderboard); switched on, gets them back.
    Jury.objects.filter(pk=jury.pk).update(is_active=False)
    assert juries_refresh()["panel"].removed == 2 and not _jury_outcomes(jury)
    Jury.objects.filter(pk=jury.pk).update(is_active=True)
    assert juries_refresh()["panel"].created == 2


def test_learned_weights_follow_people_and_fall_back_to_majority_with_too_few(three_judges, settings):
    settings.JUDGES_JURY_MIN_TRAINING = 20
    b = _battles(30)
    s1, s2, s3 = (judge.source for judge in three_judges)
    for k, battle in enumerate(b):
        people_say = "a" if k % 2 else "b"
        other = "b" if people_say == "a" else "a"
        _say(battle, s1, people_say)  # judge 1 agrees with people
        _say(battle, s2, other)  # judge 2 always disagrees with them
        _say(battle, s3, other if k % 3 else people_say)  # judge 3 mostly disagrees
        for voter in ("s:1", "s:2"):
            _say(battle, people_source(), people_say, voter=voter)
    jury = jury_create(
        slug="learned", name="Learned", method="learned", members=["judge-1", "judge-2", "judge-3"]
    )
    jury_refresh(jury=jury)
    jury.refresh_from_db()
    record = jury.weights["overall"]
    assert record["method"] == "learned" and record["n_fitted"] == 30
    assert record["weights"]["judge-1"] > 0 > record["weights"]["judge-2"]
    # The majority would side with judges 2 and 3 on most battles; the learned jury sides with people.
    outcomes = _jury_outcomes(jury)
    agree = sum(outcomes[battle.pk] == ("a" if k % 2 else "b") for k, battle in enumerate(b))
    assert agree == 30
    from leaderboard.services.aggregation import data_fingerprint

    before = data_fingerprint({})
    settings.JUDGES_JURY_MIN_TRAINING = 31
    fallback = jury_refresh(jury=jury)
    # The majority now sides with judges 2 and 3 on the 20 battles judge 3 got wrong: 20 verdicts change,
    # and the leaderboard's data fingerprint notices (a scheduled recompute would not skip the change).
    assert (fallback.created, fallback.changed, fallback.removed) == (0, 20, 0)
    assert data_fingerprint({}) != before
    jury.refresh_from_db()
    assert jury.weights["overall"]["method"] == "majority"
    assert "needs 31 (setting JUDGES_JURY_MIN_TRAINING)" in jury.weights["overall"]["note"]


def test_only_a_jurys_verdicts_can_be_rewritten(three_judges):
    b = _battles(1)
    judge = three_judges[0].source
    _say(b[0], judge, "a")
    with pytest.raises(Invalid, match="only a jury's verdicts are derived"):
        derived_verdicts_sync(source=judge, outcomes={})
    assert Verdict.objects.filter(source=judge).count() == 1
    jury = jury_create(slug="panel", name="Panel", method="majority", members=["judge-1", "judge-2"])
    dimension = Dimension.objects.get(slug="overall").pk
    with pytest.raises(Invalid, match="Unknown outcome"):
        derived_verdicts_sync(source=jury.source, outcomes={(b[0].pk, dimension): "maybe"})
    with pytest.raises(Invalid, match="No battle with id"):
        derived_verdicts_sync(source=jury.source, outcomes={(b[0].pk + 999, dimension): "a"})
    assert not Verdict.objects.filter(source=jury.source).exists()


def _by_model(body):
    """Judges 1 and 2 prefer the marked answer in either order; judge 3 always names the first answer."""
    script = position_biased("A") if body["model"] == "m3" else prefer_marker()
    return script(body)


def _panel_after_a_campaign():
    """Three judges (two follow the marked answer, the third always names the first shown) judge 3 prompts;
    returns (campaign, a majority jury of the three, not yet refreshed)."""
    with OpenAIStub(script=_by_model) as stub:
        prompt_set, contenders = make_arena(n_prompts=3)
        for n in (1, 2, 3):
            make_judge(f"judge-{n}", model=f"m{n}", base_url=stub.base_url)
        campaign = start_campaign(prompt_set, contenders, "judge-1", "judge-2", "judge-3")
        run_inline(campaign)
    jury = jury_create(
        slug="panel", name="Panel", method="majority", members=["judge-1", "judge-2", "judge-3"]
    )
    return campaign, jury


def test_per_order_choices_combine_the_members_choices_in_that_order(db):
    campaign, jury = _panel_after_a_campaign()
    refreshed = jury_refresh(jury=jury)
    # Independently: the plurality of the members' positional labels per battle × order (ties break to "tie").
    labels: dict[tuple[int, str], list[str]] = {}
    for judgment in Judgment.objects.filter(campaign=campaign, status=WorkStatus.DONE):
        labels.setdefault((judgment.battle_id, judgment.order), []).append(judgment.verdicts["overall"])
    expected = {}
    for key, said in labels.items():
        votes = Counter(label for label in said if label != "tie")
        expected[key] = "tie" if votes["A"] == votes["B"] else max(("A", "B"), key=votes.__getitem__)
    stored = {(c.battle_id, c.order): c.choice for c in JuryOrderChoice.objects.filter(jury=jury)}
    assert stored == expected and refreshed.order_choices == len(expected) == 2 * 3 * 3
    # Judge 3's position bias is outvoted in both orders wherever one answer is marked.
    assert {c.n_members for c in JuryOrderChoice.objects.filter(jury=jury)} == {3}


def test_a_jury_is_a_leaderboard_source(three_judges, settings, client):
    from leaderboard.models import Snapshot
    from leaderboard.services.recompute import leaderboards_recompute

    settings.LEADERBOARD_MIN_VERDICTS = 2
    b = _battles(6)
    for k, battle in enumerate(b):
        for judge in three_judges:
            _say(battle, judge.source, "a" if k % 3 else "b")
    jury = jury_create(
        slug="panel", name="Panel", method="majority", members=["judge-1", "judge-2", "judge-3"]
    )
    jury_refresh(jury=jury)
    run = leaderboards_recompute(trigger="test")
    snapshot = Snapshot.objects.get(run=run, source_key="panel", category="")
    assert snapshot.source_kind == "jury" and snapshot.status == "ok" and snapshot.n_verdicts == 6
    # The pool of all judges still counts each judge's verdicts, not the jury's again.
    pool = Snapshot.objects.get(run=run, source_key="judges", category="")
    assert pool.n_verdicts == 18
    page = client.get("/leaderboard/", {"source": "panel"}).content.decode()
    assert "Panel (jury of LLM judges)" in page and 'data-contender="alpha"' in page


def test_staff_edit_a_jury_in_the_admin_and_one_member_is_refused(three_judges, client, staff):
    jury = jury_create(slug="panel", name="Panel", method="majority", members=["judge-1", "judge-2"])
    client.force_login(staff)
    url = f"/admin/judges/jury/{jury.pk}/change/"
    one = [three_judges[0].pk]
    refused = client.post(url, {"name": "Solo", "method": "majority", "members": one, "is_active": "on"})
    assert refused.status_code == 200
    assert "A jury needs at least two judge configs; 1 chosen." in refused.content.decode()
    jury.refresh_from_db()
    assert jury.name == "Panel" and jury.members.count() == 2
    everyone = [j.pk for j in three_judges]
    saved = client.post(url, {"name": "Trio", "method": "learned", "members": everyone, "is_active": "on"})
    assert saved.status_code == 302
    jury.refresh_from_db()
    assert (jury.name, jury.method, jury.members.count(), jury.source.name) == ("Trio", "learned", 3, "Trio")


def test_a_jury_has_a_report_card_from_its_per_order_choices(db):
    from judges.report.services import report_card_for_source

    campaign, jury = _panel_after_a_campaign()
    jury_refresh(jury=jury)
    overall = Dimension.objects.get(slug="overall")
    card = report_card_for_source(jury.source, overall, rounds=20)

    # Independently: a battle is consistent when its two orders' positional choices name the same answer.
    by_battle: dict[int, dict[str, str]] = {}
    for c in JuryOrderChoice.objects.filter(jury=jury, dimension=overall):
        by_battle.setdefault(c.battle_id, {})[c.order] = c.choice
    mapped_back = {"A": "B", "B": "A", "tie": "tie"}
    same = [orders["shown"] == mapped_back[orders["swapped"]] for orders in by_battle.values()]
    assert card["source_kind"] == "jury"
    assert card["counts"]["judgments"] == JuryOrderChoice.objects.filter(jury=jury, dimension=overall).count()
    assert card["counts"]["units_both_orders"] == len(by_battle) == 9
    assert card["consistent"] == pytest.approx(sum(same) / len(same))
    # The jury costs what its members' calls cost (the stub bills every call).
    members_cost = sum(
        float(j.cost) for j in Judgment.objects.filter(campaign=campaign, status=WorkStatus.DONE)
    )
    assert card["cost_per_1000"] == pytest.approx(1000 * members_cost / card["counts"]["judgments"])
