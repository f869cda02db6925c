"""LLM judges: configs and versions, campaigns, the claimable work items, and order-checked final verdicts."""

from judges.models.calls import PaidCall
from judges.models.campaigns import Campaign
from judges.models.configs import JudgeConfig, JudgeConfigVersion, JudgeTurns
from judges.models.juries import Jury, JuryOrderChoice
from judges.models.verdicts import FinalVerdict
from judges.models.work import ACTIVE_STATUSES, ErrorKind, Generation, Judgment, WorkStatus

__all__ = [
    "ACTIVE_STATUSES",
    "Campaign",
    "ErrorKind",
    "FinalVerdict",
    "Generation",
    "JudgeConfig",
    "JudgeConfigVersion",
    "JudgeTurns",
    "Judgment",
    "Jury",
    "JuryOrderChoice",
    "PaidCall",
    "WorkStatus",
]
