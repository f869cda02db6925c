"""Answers and prompts keep their rendered Markdown (arena.rendering, "HTML stored with the texts"): the stored
HTML is what live rendering gives for the same texts, hostile input included; a battle served from it renders
nothing; HTML of other texts or of another renderer is never shown, and is stored again when served."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError
from django.urls import reverse

from arena import rendering, tasks
from arena.models import ApiToken, Output, Prompt
from arena.models.prompts import StoredHtmlQuerySet
from arena.rendering import RECENTLY_RENDERED, html_prime, html_stamp, render_markdown
from arena.services.stored_html import stored_html_fill
from tests.support import factories

HX = {"HTTP_HX_REQUEST": "true"}
HOSTILE = [
    "<script>alert(1)</script> **bold**",
    "[click](javascript:alert(1)) and ![pixel](https://tracker.example/p.gif)",
    '<img src=x onerror="alert(1)"> <a href="https://ok.example" onclick="steal()">ok</a>',
    "```python\nprint('<b>not bold</b>')\n```",
    "| a | b |\n|---|--:|\n| 1 | 2 |",
]


@pytest.fixture(autouse=True)
def _limits(settings):
    factories.fresh_rate_limits(settings)


def _live(texts):
    RECENTLY_RENDERED.clear()  # rendered here and now, not taken from an earlier copy
    return [str(render_markdown(text)) for text in texts]


def _assert_safe(html: list[str]) -> None:
    """No script or image tag, no event handler attribute, no javascript: link (as text, escaped, is fine)."""
    joined = "".join(html)
    assert "<script" not in joined and "<img" not in joined
    assert not re.search(r"<[^>]*\son\w+=", joined) and not re.search(r"href=\W*javascript", joined)


def test_saved_and_bulk_created_rows_store_what_live_rendering_gives(db):
    prompt_set = factories.make_prompt_set("stored", n_prompts=0)
    contender = factories.make_contender("m1")
    prompt = Prompt.objects.create(
        prompt_set=prompt_set, external_id="x", text=HOSTILE[0], system_message=HOSTILE[1],
        later_turns=[HOSTILE[2]],
    )  # fmt: skip
    saved = Output.objects.create(
        contender=contender, prompt=prompt, text=HOSTILE[3], later_replies=[HOSTILE[2]]
    )
    other = Prompt.objects.bulk_create(
        [Prompt(prompt_set=prompt_set, external_id="y", text=HOSTILE[4], later_turns=[HOSTILE[0]])]
    )[0]
    bulk = Output.objects.bulk_create([Output(contender=contender, prompt=other, text=HOSTILE[1])])[0]

    for row in (prompt, saved, other, bulk):
        stored = type(row).objects.get(pk=row.pk)  # as read back from the database
        assert stored.html == _live(stored.rendered_texts()), row
        assert stored.html_stamp == html_stamp(stored.rendered_texts())
        _assert_safe(stored.html)
    assert prompt.rendered_texts() == [HOSTILE[1], HOSTILE[0], HOSTILE[2]]  # system message first
    assert "&lt;b&gt;not bold&lt;/b&gt;" in saved.html[0] and "<strong>bold</strong>" in prompt.html[1]


def test_writes_that_change_a_text_store_its_new_html(db):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=2)
    first, second = Output.objects.order_by("pk")[:2]
    first.text = "now *emphasised*"
    first.save(update_fields=["text"])
    second.text = "bulk **changed**"
    Output.objects.bulk_update([second], ["text"])
    prompt = Prompt.objects.order_by("pk").first()
    prompt.category = "relabelled"  # a save that changes no text renders nothing new and keeps the stamp
    stamp = prompt.html_stamp
    prompt.save()

    first.refresh_from_db(), second.refresh_from_db(), prompt.refresh_from_db()
    assert first.html == ["<p>now <em>emphasised</em></p>\n"]
    assert second.html == ["<p>bulk <strong>changed</strong></p>\n"]
    assert prompt.html_stamp == stamp and prompt.html == _live(prompt.rendered_texts())


def _served_html(client, task) -> str:
    response = client.get(reverse("voting:task", args=[task.slug]) + "?start=1", **HX)
    assert response.status_code == 200
    return response.content.decode()


def test_a_battle_with_current_stored_html_is_served_without_rendering(client, db, monkeypatch):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    Output.objects.filter(contender__slug="model-1").update(text="**left** answer")
    Output.objects.filter(contender__slug="model-2").update(text="`right` answer")
    for output in Output.objects.all():
        output.save()  # the update above skipped the model: store their HTML as an import would
    client.force_login(factories.make_annotator_user("alice"))
    RECENTLY_RENDERED.clear()

    rendered = []
    clean = rendering._clean

    def recorded(html):
        rendered.append(html)
        return clean(html)

    monkeypatch.setattr(rendering, "_clean", recorded)
    page = _served_html(client, task)
    assert rendered and not [
        html for html in rendered if "left" in html or "right" in html or "Question" in html
    ]
    assert "<strong>left</strong> answer" in page and "<code>right</code> answer" in page
    assert "Model Number" not in page and "model-1" not in page  # still blind


def test_stored_html_of_other_texts_is_never_shown_and_is_stored_again(client, db):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    # Texts changed without the model (raw update): the stored HTML is of the old texts.
    Output.objects.update(text="fresh <script>alert(1)</script> *text*")
    old = Output.objects.first()
    assert old.html == ["<p>Answer 1 from a model, in plain words.</p>\n"]
    assert not html_prime(old)
    client.force_login(factories.make_annotator_user("alice"))

    page = _served_html(client, task)
    assert "Answer 1 from a model" not in page
    assert page.count("<p>fresh &lt;script&gt;alert(1)&lt;/script&gt; <em>text</em></p>") == 2
    for output in Output.objects.all():  # stored again for the next serve
        assert output.html == _live(output.rendered_texts())
        assert html_prime(output)


def test_html_from_another_renderer_is_not_used(client, db, monkeypatch):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    forged = "<p>from an older renderer</p>"
    Output.objects.update(html=[forged])  # stamps still say the current renderer: shown as is
    assert html_prime(Output.objects.first())
    # A new renderer (its version bumped, or a library or an allow-list changed) changes every stamp; it comes
    # with new web processes, whose own copies of rendered texts start empty.
    monkeypatch.setattr("arena.rendering.RENDERER", "another")
    RECENTLY_RENDERED.clear()
    output = Output.objects.first()
    assert not html_prime(output)
    client.force_login(factories.make_annotator_user("alice"))
    page = _served_html(client, task)
    assert forged not in page and page.count("Answer 1 from a model, in plain words.") == 2
    output.refresh_from_db()
    assert output.html_stamp.startswith("another:") and output.html == _live(output.rendered_texts())


def test_the_renderer_fingerprint_follows_the_allow_lists(monkeypatch):
    before = rendering._renderer_fingerprint()
    monkeypatch.setattr(rendering, "_TAGS", {*rendering._TAGS, "img"})
    assert rendering._renderer_fingerprint() != before
    assert re.fullmatch(r"[0-9a-f]{12}", before)


def _recording_renders(monkeypatch) -> list[str]:
    rendered: list[str] = []
    clean = rendering._clean

    def recorded(html):
        rendered.append(html)
        return clean(html)

    monkeypatch.setattr(rendering, "_clean", recorded)
    return rendered


@pytest.mark.parametrize("through", ["page", "api"])
def test_a_web_upload_renders_nothing_and_a_task_after_commit_stores_the_html(
    client, db, monkeypatch, django_capture_on_commit_callbacks, through
):
    owner = factories.make_user("owner")
    prompt_set = factories.make_prompt_set("uploaded", n_prompts=2)
    factories.make_contender("up", user=owner)
    lines = [{"prompt_id": "p1", "output": HOSTILE[3]}, {"prompt_id": "p2", "output": HOSTILE[0]}]
    upload = SimpleUploadedFile("o.jsonl", "\n".join(json.dumps(line) for line in lines).encode())
    sent = []
    monkeypatch.setattr(tasks.stored_html_fill_task, "delay", lambda *args: sent.append(args))
    RECENTLY_RENDERED.clear()
    rendered = _recording_renders(monkeypatch)

    with django_capture_on_commit_callbacks(execute=True):
        if through == "page":
            client.force_login(owner)
            url, headers = "/contenders/up/upload/", {}
        else:
            _, token = ApiToken.issue(user=owner, name="ci")
            url, headers = "/api/contenders/up/outputs", {"Authorization": f"Bearer {token}"}
        response = client.post(url, {"prompt_set": prompt_set.slug, "file": upload}, headers=headers)
    assert response.status_code in (201, 302), response.content
    assert not [
        html for html in rendered if "print" in html or "bold" in html
    ]  # nothing rendered in the request
    outputs = list(Output.objects.order_by("pk"))
    assert [o.html_stamp for o in outputs] == ["", ""] and [o.html for o in outputs] == [[], []]
    assert sent == [("arena.Output", [o.pk for o in outputs])]  # queued once, after the commit

    assert tasks.stored_html_fill_task(*sent[0]) == 2  # what the worker runs
    for output in Output.objects.order_by("pk"):
        assert output.html == _live(output.rendered_texts()) and html_prime(output)


def test_answers_not_yet_filled_are_rendered_by_the_serve_which_the_task_then_leaves_alone(client, db):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    Output.objects.update(text="**uploaded** answer", html=[], html_stamp="")  # as a web upload stores them
    client.force_login(factories.make_annotator_user("alice"))

    assert _served_html(client, task).count("<p><strong>uploaded</strong> answer</p>") == 2
    served = {o.pk: (o.html, o.html_stamp) for o in Output.objects.all()}
    assert all(
        html == ["<p><strong>uploaded</strong> answer</p>\n"] and stamp for html, stamp in served.values()
    )
    assert stored_html_fill(model_label="arena.Output", ids=list(served)) == 0
    assert {o.pk: (o.html, o.html_stamp) for o in Output.objects.all()} == served


def test_a_serve_does_not_store_over_html_written_since_it_read_the_row(client, db, monkeypatch):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    Output.objects.update(text="an *older* answer", html=[], html_stamp="")
    client.force_login(factories.make_annotator_user("alice"))
    render_many = rendering.render_markdown_many

    def meanwhile(texts):  # another writer stores the rows' HTML while this serve renders them
        Output.objects.update(html=["<p>newer</p>"], html_stamp="newer")
        return render_many(texts)

    monkeypatch.setattr("arena.voting.serving.render_markdown_many", meanwhile)
    assert _served_html(client, task).count("<p>an <em>older</em> answer</p>") == 2
    assert set(Output.objects.values_list("html_stamp", flat=True)) == {"newer"}


def test_a_failed_store_of_the_rendered_html_still_serves_the_page(client, db, monkeypatch):
    task, _ = factories.make_voting_arena(n_contenders=2, n_prompts=1)
    Output.objects.update(text="a *stale* answer", html=[], html_stamp="")
    client.force_login(factories.make_annotator_user("alice"))

    def refused(self, **values):
        raise DatabaseError("the write was refused")

    monkeypatch.setattr(StoredHtmlQuerySet, "update", refused)
    assert _served_html(client, task).count("<p>a <em>stale</em> answer</p>") == 2
    assert set(Output.objects.values_list("html_stamp", flat=True)) == {""}
