"""The report card of a live judge: a real campaign (offline lexical judge, run inline through the same
service a worker runs), people's votes on the same battles and both stored leaderboards."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from arena.models import Battle, Contender, Dimension, Source, Verdict
from arena.services.battles import people_source
from arena.services.verdicts import verdict_record
from judges.report.selectors import contender_is_own, model_family
from judges.report.services import report_card_for_source
from leaderboard.services.recompute import leaderboards_recompute
from tests.judges.conftest import make_judge, run_inline, start_campaign
from tests.support import factories

pytestmark = pytest.mark.django_db


def test_model_family_and_own_contenders():
    assert model_family("gpt-4o-mini") == "gpt" and model_family("meta/llama-3-70b") == "llama"
    assert model_family("o1") == ""  # too short to tell a family
    assert contender_is_own("gpt", Contender(slug="answer-gpt35", name="GPT-3.5"))
    assert not contender_is_own("gpt", Contender(slug="chatglm", name="ChatGLM"))  # "chatglm" is one run


@pytest.fixture
def judged_live(settings):
    settings.LEADERBOARD_BOOTSTRAP_ROUNDS = 20
    settings.LEADERBOARD_MIN_VERDICTS = 1
    factories.ensure_dimensions()
    prompt_set = factories.make_prompt_set("live-set", n_prompts=6)  # reference answers "answer {n}"
    contenders = []
    for slug, template in (("alpha", "{slug}: the answer {n}, in detail"), ("beta", "{slug} does not know"),
                           ("gamma", "{slug}: maybe answer {n}")):  # fmt: skip
        contender = factories.make_contender(slug)
        factories.make_outputs(contender, prompt_set, template=template)
        contenders.append(contender)
    make_judge("lex", provider="lexical", model="contains", sees_reference=True)
    campaign = start_campaign(prompt_set, contenders, "lex")
    assert set(run_inline(campaign)) == {"done"}
    overall = Dimension.objects.get(slug="overall")
    people = people_source()
    for i, battle in enumerate(Battle.objects.order_by("pk")):
        # People favour alpha, and split on the rest: one vote for A, one for B, one tie on every third.
        for k, outcome in enumerate(("a", "b") if "alpha" not in (battle.contender_a.slug, battle.contender_b.slug) else
                                    ["a" if battle.contender_a.slug == "alpha" else "b"] * 2):  # fmt: skip
            verdict_record(
                battle=battle, dimension=overall, source=people, outcome=outcome, voter_key=f"u:{k}"
            )
        if i % 3 == 0:
            verdict_record(battle=battle, dimension=overall, source=people, outcome="tie", voter_key="u:9")
    leaderboards_recompute(trigger="test")
    return Source.objects.get(key="judge-lex"), overall


def test_live_judge_card_against_the_ledger(judged_live):
    source, overall = judged_live
    card = report_card_for_source(source, overall, rounds=50)
    battles = Battle.objects.count()
    # The lexical judge reads the answers, not their order: every battle consistent.
    assert (card["consistent"], card["figures"]["consistent"]["n"]) == (1.0, battles)
    assert card["biased_first"] == card["error"] == 0.0
    # Agreement recomputed here from the verdict table: judge verdict vs the people's strict majority.
    label = {"a": "a", "b": "b", "tie": "d", "both_bad": "d"}
    votes: dict[int, Counter] = defaultdict(Counter)
    for battle_id, outcome in Verdict.objects.filter(source__kind="human").values_list(
        "battle_id", "outcome"
    ):
        votes[battle_id][label[outcome]] += 1
    compared = agreed = 0
    for battle_id, outcome in Verdict.objects.filter(source=source).values_list("battle_id", "outcome"):
        (top, n), *rest = votes[battle_id].most_common(2)
        if rest and rest[0][1] == n:
            continue  # no strict majority
        compared += 1
        agreed += label[outcome] == top
    assert compared > 0
    assert card["agreement"] == pytest.approx(agreed / compared, abs=1e-12)
    assert card["figures"]["agreement"]["n"] == compared
    # Both boards are stored, over the same three contenders: rank correlations exist.
    assert card["figures"]["kendall_tau_b"]["n"] == 3
    assert -1.0 <= card["kendall_tau_b"] <= 1.0 and -1.0 <= card["spearman_rho"] <= 1.0
    assert (
        card["people_alpha"] is not None and card["figures"]["people_alpha"]["n"] == battles
    )  # two or three votes each
    assert card["cost_per_1000"] == 0.0 and card["parse_failures_per_1000"] == 0.0


def test_a_registered_reader_gives_a_jury_like_source_its_card(monkeypatch):
    """Sources without per-order judgments of their own (e.g. a jury) feed their rows through a reader
    registered for their kind; the card is computed from exactly those rows."""
    from judges.report import selectors
    from judges.report.card import JudgmentRow, ReportRows, VerdictRow

    monkeypatch.setattr(selectors, "_READERS", {})  # leave the registry as it was after the test
    factories.ensure_dimensions()
    overall = Dimension.objects.get(slug="overall")
    jury = Source.objects.create(kind="judge", key="jury-like", name="Jury-like")  # no judge config
    assert selectors.source_rows(jury, overall) == selectors.ledger_rows(jury, overall)  # no reader yet

    rows = ReportRows(
        judgments=[
            JudgmentRow(1, "shown", "A"),
            JudgmentRow(1, "swapped", "A"),
            JudgmentRow(2, "shown", "B"),
            JudgmentRow(2, "swapped", "A"),
        ],  # fmt: skip
        verdicts=[VerdictRow(2, "b")],
    )
    seen = []
    selectors.row_reader_register("judge", lambda source, dimension: seen.append(source.key) or rows)
    card = report_card_for_source(jury, overall, rounds=0)
    assert seen == ["jury-like"]
    assert (card["biased_first"], card["consistent"], card["version"]) == (0.5, 0.5, None)
