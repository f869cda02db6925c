"""Judges pages, exports and read API over an imported study with people's votes on the same battles."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command

from arena.models import Battle, Dimension
from arena.services.battles import people_source
from arena.services.verdicts import verdict_record
from judges.models import FinalVerdict
from tests.judges.test_import_judgments import make_qlora
from tests.support import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged(tmp_path):
    """The two-battle qlora fixture under judge source "gpt4-small", approved, and people's votes: on the
    battle the judge gave to B ("1") two people vote A (a disagreement); on the tied one ("2") two vote tie."""
    call_command("import_judgments", str(make_qlora(tmp_path / "s")), "--format", "qlora", "--source", "gpt4-small",
                 "--approve-new", stdout=io.StringIO())  # fmt: skip
    overall = Dimension.objects.get(slug="overall")
    people = people_source()
    for battle in Battle.objects.select_related("prompt"):
        outcome = "a" if battle.prompt.external_id == "1" else "tie"
        for voter in ("u:1", "u:2"):
            verdict_record(battle=battle, dimension=overall, source=people, outcome=outcome, voter_key=voter)
    return Battle.objects.get(prompt__external_id="1")


def test_overview_lists_the_judge_with_its_figures_and_sorts(client, judged):
    response = client.get("/judges/report/?dimension=overall")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-judge="gpt4-small-v1"' in html
    assert 'data-figure="consistent"' in html and "figure-position" in html and "figure-agreement" in html
    assert "<script>" not in html.replace('<script type="application/json"', "")  # CSP: no inline code
    assert client.get("/judges/report/?sort=-agreement").status_code == 200
    bad = client.get("/judges/report/?sort=nonsense")
    assert bad.status_code == 400 and "Unknown sort &#x27;nonsense&#x27;" in bad.content.decode()
    assert client.get("/judges/report/?dimension=nope").status_code == 400


def test_detail_lists_the_disagreement_and_links_the_battle(client, judged):
    response = client.get("/judges/report/gpt4-small/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-battle="{judged.pk}"' in html and f"/judges/report/battles/{judged.pk}/" in html
    # The tied battle: judge tie (a draw), people tie: agreement, so not listed.
    other = Battle.objects.exclude(pk=judged.pk).get()
    assert f'data-battle="{other.pk}"' not in html
    battle_page = client.get(f"/judges/report/battles/{judged.pk}/").content.decode()
    assert "Answer-Alpha" in battle_page or "answer-alpha" in battle_page  # approved, no open task: named
    assert client.get(f"/judges/report/battles/{10**30}/").status_code == 404


def test_blind_battles_hide_names_from_everyone_but_staff(client, judged):
    factories.make_voting_task(judged.prompt.prompt_set, slug="open-task")
    names = ("7b-beta", "answer-alpha")
    anonymous = client.get("/judges/report/gpt4-small/").content.decode()
    assert "hidden" in anonymous and not any(f">{n}<" in anonymous for n in names)
    battle_page = client.get(f"/judges/report/battles/{judged.pk}/").content.decode()
    assert not any(n in battle_page for n in names)
    client.force_login(factories.make_user("staffer", is_staff=True))
    staff = client.get("/judges/report/gpt4-small/").content.decode()
    assert any(f">{n}<" in staff for n in names)


def test_card_figures_match_the_votes(client, judged):
    card = client.get("/api/judge-reports/gpt4-small?dimension=overall").json()
    # Battle "1": judge b vs people a (disagree); battle "2": judge tie vs people tie (agree).
    assert (card["agreement"], card["figures"]["agreement"]["n"]) == (0.5, 2)
    assert card["agreement_no_ties"] == 0.0
    assert card["people_agreement"] == 1.0 and card["figures"]["people_agreement"]["n"] == 2
    assert FinalVerdict.objects.count() == 2


def test_exports_and_api_carry_the_same_numbers(client, judged):
    listed = client.get("/api/judge-reports/?dimension=overall").json()
    assert [c["source"] for c in listed] == ["gpt4-small"]
    exported = json.loads(client.get("/judges/report/export.json?dimension=overall").content)
    rows = list(csv.DictReader(io.StringIO(client.get("/judges/report/export.csv").content.decode())))
    for name in ("consistent", "biased_first", "prefer_first", "prefer_longer", "agreement"):
        assert exported["judges"][0][name] == listed[0][name]
        assert float(rows[0][name]) == pytest.approx(listed[0][name], abs=1e-12)  # CSV text round-trip
    assert client.get("/api/judge-reports/nope").status_code == 400
    assert client.get("/api/judge-reports/gpt4-small?version=3").json()["field"] == "version"
    huge = client.get(f"/api/judge-reports/gpt4-small?version={10**30}")
    assert huge.status_code in (400, 422)  # too big for the column: refused before the database sees it
    assert client.get(f"/judges/report/gpt4-small/?version={10**30}").status_code == 400


def test_leaderboard_and_nav_link_to_the_judges_pages(client, judged):
    html = client.get("/leaderboard/").content.decode()
    assert 'href="/judges/report/"' in html


def test_pending_contenders_are_not_named_to_the_public(client, judged):
    from arena.models import Contender

    Contender.objects.filter(slug="7b-beta").update(status=Contender.Status.PENDING)
    page = client.get("/judges/report/gpt4-small/").content.decode()
    assert "hidden" in page and ">7b-beta<" not in page and ">answer-alpha<" not in page
    battle_page = client.get(f"/judges/report/battles/{judged.pk}/").content.decode()
    assert "7b-beta" not in battle_page


def test_a_unicode_digit_as_version_is_a_400_not_a_500(client, judged):
    # "²" passes str.isdigit() but not int(): the page must refuse it, not crash.
    response = client.get("/judges/report/gpt4-small/?version=%C2%B2")
    assert response.status_code == 400 and "whole number" in response.content.decode()


def test_the_api_address_the_overview_names_answers(client, judged):
    import re

    html = client.get("/judges/report/?dimension=overall").content.decode()
    path = re.search(r"API: <code>([^<]+)</code>", html).group(1).replace("&amp;", "&")
    assert client.get(path).status_code == 200
