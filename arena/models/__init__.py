"""The arena's core domain: who competes, on what prompts, which battles, and every verdict on them."""

from arena.models.accounts import VerifiedEmail
from arena.models.battles import Battle
from arena.models.contenders import Contender
from arena.models.prompts import Dimension, Output, Prompt, PromptSet
from arena.models.tokens import ApiToken
from arena.models.verdicts import Outcome, Source, Verdict
from arena.models.voting import AnnotationTask, Annotator, Assignment, GoldBattle, VoteFlag

__all__ = [
    "AnnotationTask",
    "Annotator",
    "ApiToken",
    "Assignment",
    "Battle",
    "Contender",
    "Dimension",
    "GoldBattle",
    "Outcome",
    "Output",
    "Prompt",
    "PromptSet",
    "Source",
    "Verdict",
    "VerifiedEmail",
    "VoteFlag",
]
