"""Answers and battles cannot be edited in the admin once they exist (ratings cache them per battle)."""

from arena.models import Battle, Output
from arena.services.battles import battle_get_or_create
from tests.support import factories


def test_staff_cannot_change_an_answer_or_a_battle_in_the_admin(client, db):
    staff = factories.make_annotator_user("root", is_staff=True, is_superuser=True)
    client.force_login(staff)
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    first, second = Output.objects.order_by("pk")[:2]
    battle, _ = battle_get_or_create(output_a=first, output_b=second)
    before = (first.text, first.n_chars, battle.contender_a_id, battle.output_a_id)

    page = client.get(f"/admin/arena/output/{first.pk}/change/").content.decode()
    assert 'name="n_chars"' not in page and 'name="text"' not in page  # shown, not editable
    client.post(f"/admin/arena/output/{first.pk}/change/", {"text": "edited", "n_chars": 1})
    client.post(f"/admin/arena/battle/{battle.pk}/change/", {"contender_a": second.contender_id})

    first.refresh_from_db(), battle.refresh_from_db()
    assert (first.text, first.n_chars, battle.contender_a_id, battle.output_a_id) == before
    assert Battle.objects.count() == 1
