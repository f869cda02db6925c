"""The demo arena's prompts, written for this project: each with a category, a reference answer, a short
explanation and a plausible wrong answer, from which the demo contenders' answers are composed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoPrompt:
    id: str
    category: str
    text: str
    reference: str
    why: str
    wrong: str


PROMPTS = [
    DemoPrompt(
        "math-1",
        "math",
        "What is 17 multiplied by 23?",
        "391",
        "17 × 20 = 340 and 17 × 3 = 51, so 340 + 51 = 391.",
        "381",
    ),
    DemoPrompt(
        "math-2",
        "math",
        "What is the derivative of x^3 with respect to x?",
        "3x^2",
        "By the power rule, d/dx x^n = n·x^(n−1).",
        "x^2",
    ),
    DemoPrompt(
        "math-3",
        "math",
        "How many degrees are in the interior angles of a hexagon, summed?",
        "720 degrees",
        "A polygon with n sides has (n − 2) × 180 degrees; (6 − 2) × 180 = 720.",
        "540 degrees",
    ),
    DemoPrompt(
        "math-4",
        "math",
        "What is the probability of rolling two sixes with two fair dice?",
        "1/36",
        "Each die shows six with probability 1/6, and the dice are independent: 1/6 × 1/6.",
        "1/12",
    ),
    DemoPrompt(
        "know-1",
        "knowledge",
        "Which element has the chemical symbol Fe?",
        "Iron",
        "Fe comes from the Latin word ferrum.",
        "Fluorine",
    ),
    DemoPrompt(
        "know-2",
        "knowledge",
        "What is the largest planet in the Solar System?",
        "Jupiter",
        "Jupiter's mass is more than twice that of all the other planets combined.",
        "Saturn",
    ),
    DemoPrompt(
        "know-3",
        "knowledge",
        "In which year did the first human land on the Moon?",
        "1969",
        "Apollo 11 landed on 20 July 1969.",
        "1972",
    ),
    DemoPrompt(
        "know-4",
        "knowledge",
        "What gas do plants absorb from the air for photosynthesis?",
        "Carbon dioxide",
        "Plants combine carbon dioxide and water into sugars using light energy.",
        "Oxygen",
    ),
    DemoPrompt(
        "code-1",
        "coding",
        "In Python, which built-in returns the number of items in a list?",
        "len()",
        "len(my_list) returns how many elements the list holds.",
        "count()",
    ),
    DemoPrompt(
        "code-2",
        "coding",
        "What does the SQL clause GROUP BY do?",
        "It groups rows that share values so aggregates are computed per group",
        "Combined with COUNT, SUM or AVG it yields one row per group.",
        "It sorts the rows in ascending order",
    ),
    DemoPrompt(
        "code-3",
        "coding",
        "Which HTTP status code means 'Not Found'?",
        "404",
        "4xx codes are client errors; 404 says the resource does not exist.",
        "500",
    ),
    DemoPrompt(
        "code-4",
        "coding",
        "What is the time complexity of binary search on a sorted array?",
        "O(log n)",
        "Each comparison halves the remaining search interval.",
        "O(n)",
    ),
    DemoPrompt(
        "reason-1",
        "reasoning",
        "If all bloops are razzies and all razzies are lazzies, are all bloops lazzies?",
        "Yes",
        "The inclusion is transitive: bloops ⊂ razzies ⊂ lazzies.",
        "Not necessarily",
    ),
    DemoPrompt(
        "reason-2",
        "reasoning",
        "A bat and a ball cost $1.10 together; the bat costs $1.00 more than the ball. How much is the ball?",
        "5 cents",
        "If the ball is x, then x + (x + 1.00) = 1.10, so x = 0.05.",
        "10 cents",
    ),
    DemoPrompt(
        "write-1",
        "writing",
        "Give a one-word antonym of 'generous'.",
        "Stingy",
        "Stingy describes someone unwilling to give or spend.",
        "Kind",
    ),
    DemoPrompt(
        "write-2",
        "writing",
        "What is the plural of 'criterion'?",
        "Criteria",
        "Criterion comes from Greek and keeps its Greek plural.",
        "Criterions",
    ),
]

# Contender profiles: how often each answers with which style (weights over styles, seeded draws).
CONTENDERS = [
    {
        "slug": "atlas-70b",
        "name": "Atlas 70B",
        "organization": "Northwind Labs",
        "license": "Apache-2.0",
        "styles": {"good": 9, "wrong": 1},
    },
    {
        "slug": "ember-34b",
        "name": "Ember 34B",
        "organization": "Kiln AI",
        "license": "MIT",
        "styles": {"markdown": 8, "wrong": 2},
    },
    {
        "slug": "borealis-13b",
        "name": "Borealis 13B",
        "organization": "Aurora Collective",
        "license": "Llama-3",
        "styles": {"terse": 7, "wrong": 3},
    },
    {
        "slug": "cirrus-8b",
        "name": "Cirrus 8B",
        "organization": "Skyline",
        "license": "Apache-2.0",
        "styles": {"verbose": 6, "wrong": 4},
    },
    {
        "slug": "dune-3b",
        "name": "Dune 3B",
        "organization": "Sandbox",
        "license": "CC-BY-4.0",
        "styles": {"terse": 4, "wrong": 6},
    },
    {
        "slug": "fjord-7b",
        "name": "Fjord 7B",
        "organization": "Nordic NLP",
        "license": "Apache-2.0",
        "styles": {"good": 5, "wrong": 5},
        "pending": True,
    },
]


def answer(prompt: DemoPrompt, style: str) -> str:
    """Compose a demo answer in one of five styles."""
    if style == "good":
        return f"{prompt.reference}. {prompt.why}"
    if style == "terse":
        return prompt.reference
    if style == "verbose":
        return (
            f"What a great question! Let us think about it carefully. {prompt.why} Taking all of that into account, "
            f"the answer is {prompt.reference}. I hope this helps, and let me know if you have any other questions!"
        )
    if style == "markdown":
        return f"## Answer\n\n**{prompt.reference}**\n\n### Why\n\n- {prompt.why}\n- Checked against the definition.\n"
    if style == "wrong":
        return f"{prompt.wrong}."
    raise ValueError(f"unknown demo answer style {style!r}")


@dataclass(frozen=True)
class DemoConversation:
    """A two-turn prompt: the second user turn follows up on the model's first reply. `short` are the correct
    replies in a few words, `why` what a good reply adds, `wrong` a plausible reply that goes wrong at turn 2."""

    id: str
    category: str
    turns: tuple[str, str]
    reference: str
    short: tuple[str, str]
    why: tuple[str, str]
    wrong: tuple[str, str]


CONVERSATIONS = [
    DemoConversation(
        "chat-math-1",
        "math",
        ("A recipe for 4 people needs 300 g of flour. How much flour for 6 people?",
         "And how much for 10 people?"),
        "450 g for 6 people; 750 g for 10 people.",
        ("450 g", "750 g"),
        ("300 g ÷ 4 = 75 g per person, and 75 g × 6 = 450 g.", "At 75 g per person, 75 g × 10 = 750 g."),
        ("450 g.", "600 g."),
    ),
    DemoConversation(
        "chat-know-1",
        "knowledge",
        ("Which planet is closest to the Sun?", "Is it also the hottest planet?"),
        "Mercury; no, Venus is the hottest.",
        ("Mercury", "No, Venus is hotter"),
        ("Mercury orbits at about 0.39 astronomical units.",
         "Venus's thick carbon dioxide atmosphere traps heat, so its surface is hotter than Mercury's."),
        ("Mercury.", "Yes, being closest to the Sun makes it the hottest planet."),
    ),
    DemoConversation(
        "chat-code-1",
        "coding",
        ("In Python, how do I reverse a list called items?", "How do I do it without changing the original list?"),
        "items.reverse() in place; items[::-1] or list(reversed(items)) for a new list.",
        ("items.reverse()", "items[::-1]"),
        ("`reverse()` changes the list in place and returns None.",
         "Slicing with a step of -1 makes a reversed copy; `list(reversed(items))` does too."),
        ("items.reverse()", "Call items.reverse() again on a copy made with items = items."),
    ),
]  # fmt: skip


def conversation_answer(conversation: DemoConversation, style: str) -> list[str]:
    """A demo contender's replies to both turns, in one of the five answer styles."""
    pairs = zip(conversation.short, conversation.why, strict=True)
    if style == "good":
        return [f"{short}. {why}" for short, why in pairs]
    if style == "terse":
        return list(conversation.short)
    if style == "verbose":
        return [
            f"Happy to help! {why} So, in short: {short}. Anything else I can do?" for short, why in pairs
        ]
    if style == "markdown":
        return [f"## Answer\n\n**{short}**\n\n- {why}\n" for short, why in pairs]
    if style == "wrong":
        return list(conversation.wrong)
    raise ValueError(f"unknown demo answer style {style!r}")
