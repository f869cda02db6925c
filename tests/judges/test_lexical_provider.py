"""The "lexical" offline judges: reference-based verdicts in the same JSON an LLM judge gives."""

import json

import pytest

from judges.providers import BattleContext, CompletionRequest, PermanentProviderError, get_provider
from judges.providers.lexical import contains_score, normalise_tokens, token_f1_score
from judges.verdict_parsing import parse_verdicts

DIMENSIONS = ("overall", "correctness")


@pytest.fixture
def lexical():
    return get_provider("lexical")


def judge(lexical, variant, answer_a, answer_b, reference="Paris", dimensions=DIMENSIONS):
    battle = BattleContext(
        question="What is the capital of France?",
        answer_a=answer_a,
        answer_b=answer_b,
        dimensions=dimensions,
        reference=reference,
    )
    return lexical.complete(CompletionRequest(model=variant, battle=battle))


def verdict(response, dimension="overall"):
    return parse_verdicts(response.text, list(DIMENSIONS)).verdicts[dimension]


@pytest.mark.parametrize(
    ("answer_a", "answer_b", "expected"),
    [
        ("The capital is Paris.", "It is Lyon.", "A"),
        ("Lyon", "paris!", "B"),
        ("Paris, of course.", "PARIS", "tie"),
        ("Lyon", "Marseille", "tie"),
        (
            "Parisian cafés are nice.",
            "I think it is Paris",
            "B",
        ),  # token boundaries: "parisian" is not "paris"
    ],
)
def test_contains_prefers_the_answer_that_contains_the_reference(lexical, answer_a, answer_b, expected):
    assert verdict(judge(lexical, "contains", answer_a, answer_b)) == expected


def test_contains_ignores_case_punctuation_and_articles(lexical):
    response = judge(lexical, "contains", "It's the Eiffel Tower!", "A bridge.", reference="Eiffel tower")
    assert verdict(response) == "A"


def test_contains_matches_whole_numbers_only():
    assert contains_score(normalise_tokens("the answer is 42"), normalise_tokens("4")) == 0.0
    assert contains_score(normalise_tokens("the answer is 4."), normalise_tokens("4")) == 1.0


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        ("Paris", "Paris", 1.0),
        ("the cat sat", "a cat sat on the mat", 2 * 1.0 * 0.5 / 1.5),  # articles dropped: [cat sat] vs 4
        ("dog", "cat", 0.0),
        ("", "cat", 0.0),
        ("cat cat", "cat", 2 * 0.5 * 1.0 / 1.5),  # repeated tokens count once per match
    ],
)
def test_token_f1_follows_the_squad_definition(answer, reference, expected):
    score = token_f1_score(normalise_tokens(answer), normalise_tokens(reference))
    assert score == pytest.approx(expected)


def test_token_f1_prefers_the_closer_answer(lexical):
    response = judge(
        lexical, "token_f1", "cat on a mat", "a cat sat on the mat", reference="The cat sat on the mat."
    )
    assert verdict(response) == "B"


def test_token_f1_needs_more_than_the_margin_to_name_a_winner(lexical):
    reference = "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10"
    clear = judge(lexical, "token_f1", "w1 w2 w3 w4 w5 w6 w7 w8", "w1 w2 w3 w4 w5", reference=reference)
    assert clear.raw["score_a"] - clear.raw["score_b"] == pytest.approx(16 / 18 - 10 / 15)
    assert verdict(clear) == "A"
    close = judge(
        lexical, "token_f1", "w1 w2 w3 w4 w5 w6 w7 w8", "w1 w2 w3 w4 w5 w6 w7 w8 xx", reference=reference
    )
    assert 0 < close.raw["score_a"] - close.raw["score_b"] < 0.05  # 0.889 vs 0.842
    assert verdict(close) == "tie"


def test_the_same_verdict_is_given_for_every_dimension_in_llm_judge_json(lexical):
    response = judge(lexical, "contains", "Paris", "Lyon")
    body = json.loads(response.text)
    assert body["verdicts"] == {"overall": "A", "correctness": "A"}
    assert body["rationale"] == "contains: A=1.000, B=0.000, margin 0"
    assert parse_verdicts(response.text, list(DIMENSIONS)).verdicts == body["verdicts"]


def test_it_costs_nothing_and_records_its_scores(lexical):
    response = judge(lexical, "token_f1", "Paris", "Lyon")
    assert (response.tokens_in, response.tokens_out) == (0, 0)
    assert response.model == "token_f1"
    assert response.raw == {"variant": "token_f1", "score_a": 1.0, "score_b": 0.0, "margin": 0.05}


@pytest.mark.parametrize("reference", [None, "", "   ", "The."])
def test_a_prompt_without_a_reference_answer_is_a_permanent_error(lexical, reference):
    with pytest.raises(PermanentProviderError, match="the prompt has no reference answer"):
        judge(lexical, "contains", "Paris", "Lyon", reference=reference)


def test_an_unknown_variant_is_a_permanent_error_naming_the_choices(lexical):
    with pytest.raises(PermanentProviderError, match="no variant 'bleu'.*contains, token_f1"):
        judge(lexical, "bleu", "Paris", "Lyon")


def test_it_cannot_generate_answers(lexical):
    request = CompletionRequest(model="contains", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(PermanentProviderError, match="cannot generate answers"):
        lexical.complete(request)


def test_it_needs_dimensions(lexical):
    with pytest.raises(PermanentProviderError, match="no dimensions"):
        judge(lexical, "contains", "Paris", "Lyon", dimensions=())


def test_config_errors_accept_only_known_variants(lexical):
    assert lexical.offline
    assert lexical.config_errors(model="token_f1", base_url="") == []
    assert "choose one of: contains, token_f1" in lexical.config_errors(model="f1", base_url="")[0]
