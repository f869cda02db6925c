"""A real Celery worker process on Redis runs an arena task that writes to the test database."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from arena.models import Battle, Output
from arena.rendering import RECENTLY_RENDERED, html_stamp, render_markdown
from arena.tasks import battles_ensure_all_pairs_task
from tests.support import factories
from tests.support.celery_worker import wait_until

pytestmark = pytest.mark.worker


def test_a_real_worker_creates_battles_from_a_queued_task(celery_worker):
    prompt_set = factories.make_prompt_set("worker-set", n_prompts=4)
    contenders = [factories.make_contender(slug) for slug in ("w-a", "w-b", "w-c")]
    for contender in contenders:
        factories.make_outputs(contender, prompt_set)
    battles_ensure_all_pairs_task.delay(prompt_set.pk, [c.pk for c in contenders], 3)
    # 3 pairs per prompt × 4 prompts, each once whatever side is drawn.
    wait_until(lambda: Battle.objects.count() == 12, timeout=60, what="the worker to create 12 battles")
    pairs = {frozenset((b.contender_a_id, b.contender_b_id)) for b in Battle.objects.all()}
    assert len(pairs) == 3
    assert any("arena.battles_ensure_all_pairs" in line and "succeeded" in line for line in celery_worker.log)


def test_a_real_worker_stores_the_html_of_answers_uploaded_through_the_web(celery_worker, client):
    owner = factories.make_user("owner")
    prompt_set = factories.make_prompt_set("upload-set", n_prompts=2)
    factories.make_contender("up", user=owner)
    client.force_login(owner)
    data = b'{"prompt_id": "p1", "output": "**one**"}\n{"prompt_id": "p2", "output": "```python\\nx = 1\\n```"}\n'
    response = client.post(
        "/contenders/up/upload/", {"prompt_set": prompt_set.slug, "file": SimpleUploadedFile("o.jsonl", data)}
    )
    assert response.status_code == 302
    wait_until(
        lambda: not Output.objects.filter(html_stamp="").exists(),
        timeout=60,
        what="the worker to store the HTML",
    )
    RECENTLY_RENDERED.clear()
    for output in Output.objects.all():
        assert output.html == [str(render_markdown(text)) for text in output.rendered_texts()]
        assert output.html_stamp == html_stamp(output.rendered_texts())
    assert any("arena.stored_html_fill" in line and "succeeded" in line for line in celery_worker.log)
