"""Staff: tasks need ≥ 2 votes per battle, gold battles, excluding annotators (now and later), the staff page."""

import pytest
from django.urls import reverse

from arena.errors import Invalid
from arena.models import AnnotationTask, Annotator, Assignment, Verdict
from arena.voting.ballots import Ballot
from arena.voting.identity import annotator_for
from arena.voting.recording import vote_record
from arena.voting.staff import annotator_set_excluded, assignments_exclude_votes, gold_add, task_create
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def task(db):
    return factories.make_voting_arena(n_contenders=3, n_prompts=3)[0]


def _vote(task, user, choice="left"):
    assignment = factories.serve_to(task, user)
    vote_record(token=assignment.token, voter=factories.voter_of(user), ballot=Ballot(choice))
    return assignment


def test_a_task_needs_at_least_two_votes_per_battle(db):
    prompt_set = factories.make_prompt_set("s")
    with pytest.raises(Invalid, match="at least 2"):
        task_create(slug="t", name="T", prompt_set=prompt_set, votes_per_battle=1)
    assert not AnnotationTask.objects.exists()


def test_gold_battles_must_belong_to_the_task_and_have_a_known_outcome(task, db):
    other_task, _ = factories.make_voting_arena(slug="other-set", prefix="other", task_slug="other")
    battle = factories.serve_to(other_task, factories.make_annotator_user("x")).battle
    with pytest.raises(Invalid, match="not on the prompt set"):
        gold_add(task=task, battle=battle, expected="a")
    with pytest.raises(Invalid, match="Unknown expected outcome 'left'"):
        gold_add(task=other_task, battle=battle, expected="left")


def test_excluding_an_annotator_excludes_past_and_future_votes(task):
    spammer, honest = factories.make_annotator_user("spammer"), factories.make_annotator_user("honest")
    _vote(task, spammer)
    _vote(task, honest)
    annotator = annotator_for(factories.voter_of(spammer))
    assert annotator_set_excluded(annotator=annotator, excluded=True, reason="clicks without reading")
    assert annotator_set_excluded(annotator=annotator, excluded=True) is False  # nothing changed
    _vote(task, spammer)
    assert set(Verdict.objects.filter(voter_key=annotator.voter_key).values_list("excluded", flat=True)) == {
        True
    }
    assert not Verdict.objects.get(voter_key=f"u:{honest.pk}").excluded
    annotator_set_excluded(annotator=annotator, excluded=False)
    assert not Verdict.objects.filter(excluded=True).exists()


def test_flagged_votes_can_be_excluded_one_by_one(task):
    person = factories.make_annotator_user("p")
    first, second = _vote(task, person), _vote(task, person)
    assert assignments_exclude_votes(Assignment.objects.filter(pk=first.pk).select_related("annotator")) == 1
    assert list(Verdict.objects.order_by("battle_id").values_list("battle_id", "excluded")) == sorted(
        [(first.battle_id, True), (second.battle_id, False)]
    )


def test_the_staff_page_lists_annotators_and_excludes_with_htmx(client, task):
    staff = factories.make_annotator_user("boss", is_staff=True)
    person = factories.make_annotator_user("person")
    _vote(task, person)
    client.force_login(staff)
    page = client.get(reverse("voting:staff"))
    assert page.status_code == 200 and b"person" in page.content and b"Exclude" in page.content
    annotator = Annotator.objects.get(user=person)
    row = client.post(reverse("voting:staff-exclusion", args=[annotator.pk]), {"excluded": "1"}, **HX)
    assert row.status_code == 200 and b"excluded" in row.content and b"Count again" in row.content
    assert Verdict.objects.get().excluded


def test_the_staff_page_is_for_staff_only(client, task):
    assert client.get(reverse("voting:staff")).status_code == 302  # to sign in
    client.force_login(factories.make_annotator_user("nobody"))
    page = client.get(reverse("voting:staff"))
    assert page.status_code == 403 and "for staff" in page.content.decode()
    annotator = annotator_for(factories.voter_of(factories.make_annotator_user("x")))
    refused = client.post(reverse("voting:staff-exclusion", args=[annotator.pk]), {"excluded": "1"})
    assert refused.status_code == 403 and "is for staff" in refused.content.decode()
    assert not Annotator.objects.get(pk=annotator.pk).excluded


def test_the_admin_exclude_action_uses_the_service(client, task):
    admin = factories.make_annotator_user("root", is_staff=True, is_superuser=True)
    person = factories.make_annotator_user("person")
    _vote(task, person)
    client.force_login(admin)
    annotator = Annotator.objects.get(user=person)
    response = client.post(
        reverse("admin:arena_annotator_changelist"),
        {"action": "exclude_votes", "_selected_action": [annotator.pk]},
        follow=True,
    )
    assert b"1 annotator(s) excluded from ratings" in response.content
    assert Verdict.objects.get().excluded
    assert client.get(reverse("admin:arena_annotationtask_change", args=[task.pk])).status_code == 200
    assert client.get(reverse("admin:arena_assignment_changelist") + "?flagged__exact=1").status_code == 200
