"""bench_votes: seeding the scratch database (Django in the bench process): an arena, annotators, served battles."""

from __future__ import annotations

import os
import random
import secrets
from dataclasses import dataclass

ANSWER = """## Answer {n}

The short version: **{verdict}**. Here is why, step by step:

1. Restate the question and what is asked.
2. Work it out, checking each intermediate result.
3. Compare with what a careful reader would expect.

| step | value |
|------|------:|
| one  | {n}   |
| two  | {m}   |

```python
def answer(x):
    return x * {n} + {m}
```

> A closing remark from model variant {variant}, kept short.
"""


@dataclass
class Person:
    cookie: str
    csrf: str
    token: str = ""


_SHARED = ("DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "STATIC_ROOT", "REDIS_URL")


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k
            in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "ARENA_REDIS_PREFIX", "STATIC_ROOT")
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
    import django

    django.setup()


def seed_arena(n_prompts: int, n_contenders: int):
    from arena.models import Battle, Contender, Dimension, Output, Prompt, PromptSet
    from arena.services.style import style_counts
    from arena.voting import task_create

    prompt_set = PromptSet.objects.create(slug="bench", name="Bench")
    Prompt.objects.bulk_create(
        Prompt(prompt_set=prompt_set, external_id=f"p{i}", text=f"Question {i}: explain step by step?")
        for i in range(n_prompts)
    )
    contenders = Contender.objects.bulk_create(
        Contender(slug=f"bench-{i}", name=f"Bench Model {i}", status="approved") for i in range(n_contenders)
    )
    rng = random.Random(7)
    outputs = []
    for prompt in prompt_set.prompts.all():
        for variant, contender in enumerate(contenders):
            text = ANSWER.format(
                n=prompt.pk, m=variant, verdict=rng.choice(["yes", "no", "it depends"]), variant=variant
            )
            outputs.append(Output(contender=contender, prompt=prompt, text=text, **style_counts(text)))
    outputs = Output.objects.bulk_create(outputs)
    by_prompt: dict[int, list[Output]] = {}
    for output in outputs:
        by_prompt.setdefault(output.prompt_id, []).append(output)
    battles = []
    for answers in by_prompt.values():
        for i, first in enumerate(answers):
            for second in answers[i + 1 :]:
                a, b = (first, second) if rng.random() < 0.5 else (second, first)
                battles.append(
                    Battle(
                        prompt_id=a.prompt_id,
                        output_a=a,
                        output_b=b,
                        contender_a_id=a.contender_id,
                        contender_b_id=b.contender_id,
                    )
                )
    battles = Battle.objects.bulk_create(battles)
    prompt_set.vote_dimensions.set(
        Dimension.objects.filter(slug="correctness")
    )  # one optional row, as the demo has
    task = task_create(slug="bench", name="Bench", prompt_set=prompt_set, votes_per_battle=50, gold_rate=0.0)
    return task, battles


def _cache_sessions(sessions, store) -> None:
    """Put the sessions in the session cache too, where signing in leaves them when the session engine is
    cached_db (the default with Redis): the voters are people who signed in, not cold cache entries."""
    from importlib import import_module

    from django.conf import settings
    from django.core.cache import caches

    engine = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(engine, "cache_key_prefix"):
        return
    entries = {engine(s.session_key).cache_key: store.decode(s.session_data) for s in sessions}
    caches[settings.SESSION_CACHE_ALIAS].set_many(entries, timeout=24 * 3600)


def seed_people(prefix: str, n: int) -> list[tuple[int, Person]]:
    """Signed-in annotators: users, their sessions (as a browser would hold them) and Annotator rows."""
    from datetime import timedelta

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from arena.models import Annotator

    User = get_user_model()
    users = User.objects.bulk_create(
        User(username=f"{prefix}-{i}", password=make_password(None)) for i in range(n)
    )
    store, expires, people, sessions = SessionStore(), timezone.now() + timedelta(days=1), [], []
    for user in users:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        key, csrf = secrets.token_hex(16), secrets.token_hex(16)
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        people.append((user.pk, Person(cookie=f"sessionid={key}; csrftoken={csrf}", csrf=csrf)))
    Session.objects.bulk_create(sessions)
    _cache_sessions(sessions, store)
    Annotator.objects.bulk_create(Annotator(voter_key=f"u:{pk}", user_id=pk) for pk, _ in people)
    return people


def serve_directly(task, battles, people: list[tuple[int, Person]]) -> None:
    """One open assignment per annotator, as the battle page would have served it half a minute ago."""
    from datetime import timedelta

    from django.utils import timezone

    from arena.models import Annotator, Assignment
    from arena.voting.serving import new_token

    annotators = dict(
        Annotator.objects.filter(user_id__in=[pk for pk, _ in people]).values_list("user_id", "pk")
    )
    served = timezone.now() - timedelta(seconds=30)
    rows = []
    for i, (pk, person) in enumerate(people):
        person.token = new_token()
        rows.append(
            Assignment(
                token=person.token,
                task=task,
                annotator_id=annotators[pk],
                battle=battles[i % len(battles)],
                left_is_a=bool(i % 2),
                served_at=served,
                min_read_ms=8000,
            )
        )
    Assignment.objects.bulk_create(rows, batch_size=2000)
