"""``manage.py rate``: ratings straight from battle files, without touching the database.

Thin on purpose: parse options and files, call the rating core, print. The JSON rows are exactly
``RatingResult.to_rows()`` (bt, elo) or ``WinRateResult.to_rows()`` (winrate, in percent); without a
bootstrap the interval bounds are ``null`` — there is no interval, and repeating the point would fake one.
Diagnostics (disconnected graph, unbeaten contenders, regularisation) and skipped records go to stderr, so
``--json`` output stays parseable. ``manage.py`` runs this command with ``arena.settings_files``: no secret key
and no database are needed.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard.battle_files import FORMATS, BattleFileError, ParsedBattles, ReadOptions, read_battle_files
from leaderboard.rating import (
    DEFAULT_ANCHOR,
    DEFAULT_ELO_SETTINGS,
    Anchor,
    EloSettings,
    RatingError,
    fit_bradley_terry,
    fit_elo,
    fit_elo_orderings,
    pair_counts_from_sequence,
    win_rate_against,
)

METHODS = ("bt", "elo", "winrate")
ELO_OPTIONS = ("k", "initial", "scale", "base", "permutations")


class Command(BaseCommand):
    help = "Rate contenders from battle files (Bradley–Terry, online Elo or win rate); no database access."
    # Pure computation on files: the project's system checks (database, URLs, templates) are irrelevant here.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "files",
            nargs="+",
            metavar="FILE",
            help="battle files (or directories of them), read in the order given",
        )
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=FORMATS,
            required=True,
            help="fastchat (Chatbot Arena JSON/JSONL), csv (left,right,winner), alpaca_eval (annotations), "
            "qlora (<A>-vs-<B>-gpt-4-reviewer-threeclass.jsonl reviews), mtbench (FastChat llm_judge pairwise)",
        )
        parser.add_argument("--method", choices=METHODS, default="bt", help="bt (default), elo or winrate")
        parser.add_argument("--bootstrap", type=int, default=0, metavar="N", help="rounds for 95%% intervals")
        parser.add_argument(
            "--seed", type=int, default=0, help="seed of bootstrap and orderings (default 0: reproducible)"
        )
        elo = parser.add_argument_group("online Elo (--method elo)")
        elo.add_argument(
            "--k", type=float, metavar="K", help=f"K-factor (default {DEFAULT_ELO_SETTINGS.k:g})"
        )
        elo.add_argument(
            "--initial",
            type=float,
            metavar="RATING",
            help=f"every contender's starting rating (default {DEFAULT_ELO_SETTINGS.initial:g})",
        )
        elo.add_argument(
            "--scale", type=float, help=f"logistic scale in points (default {DEFAULT_ELO_SETTINGS.scale:g})"
        )
        elo.add_argument("--base", type=float, help=f"logistic base (default {DEFAULT_ELO_SETTINGS.base:g})")
        elo.add_argument(
            "--permutations",
            type=int,
            metavar="N",
            help="average over N seeded random orderings of the battles; the interval is the 2.5/97.5 "
            "percentiles across orderings (or across --bootstrap rounds, each resampled in random order)",
        )
        parser.add_argument(
            "--ties",
            choices=("half", "drop"),
            default="half",
            help="half: a tie scores 0.5 for each side (default); drop: leave ties out",
        )
        parser.add_argument(
            "--unparsed",
            choices=("drop", "tie"),
            help="qlora: reviews scored -1 are left out and counted (drop, the default) or count as ties",
        )
        parser.add_argument(
            "--turn",
            type=int,
            action="append",
            metavar="N",
            help="mtbench: keep judgments of this turn only (repeat for several; default: every turn)",
        )
        parser.add_argument("--anchor", metavar="SLUG=RATING", help="pin one contender (default: mean 1000)")
        parser.add_argument("--baseline", metavar="NAME", help="the contender win rates are measured against")
        parser.add_argument("--per-component", action="store_true", help="fit each disconnected group apart")
        parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        _refuse_mismatched_options(options)
        read_options = ReadOptions(
            unparsed=options["unparsed"] or "drop",
            turns=frozenset(options["turn"]) if options["turn"] else None,
        )
        try:
            parsed = read_battle_files(options["files"], options["file_format"], read_options)
            rows, notes = _rate(parsed, options)
        except (BattleFileError, RatingError) as error:
            raise CommandError(str(error)) from error
        for note in notes:
            self.stderr.write(f"note: {note}")
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False))
        elif options["method"] == "winrate":
            self.stdout.write(win_rate_table(rows, options["baseline"]))
        else:
            self.stdout.write(rating_table(rows))


def _refuse_mismatched_options(options: dict[str, Any]) -> None:
    method = options["method"]
    if options["bootstrap"] < 0:
        raise CommandError(f"--bootstrap must be 0 or more, not {options['bootstrap']}")
    if method == "winrate" and not options["baseline"]:
        raise CommandError("--method winrate needs --baseline NAME (the contender everyone is compared with)")
    if method == "winrate" and (options["anchor"] or options["bootstrap"]):
        raise CommandError("--anchor and --bootstrap apply to bt and elo; winrate reports a standard error")
    if method != "winrate" and options["baseline"]:
        raise CommandError("--baseline applies to --method winrate only")
    given = [f"--{name}" for name in ELO_OPTIONS if options[name] is not None]
    if method != "elo" and given:
        raise CommandError(f"{', '.join(given)}: only for --method elo (this run uses --method {method})")
    _refuse_bad_elo_settings(options)
    if options["unparsed"] and options["file_format"] != "qlora":
        raise CommandError("--unparsed applies to --format qlora only (its reviews scored -1)")
    if options["turn"] and options["file_format"] != "mtbench":
        raise CommandError("--turn applies to --format mtbench only")
    if options["turn"] and min(options["turn"]) < 1:
        raise CommandError(f"--turn must be 1 or more, not {min(options['turn'])}")


def _refuse_bad_elo_settings(options: dict[str, Any]) -> None:
    for name in ("k", "initial", "scale", "base"):
        if options[name] is not None and not math.isfinite(options[name]):
            raise CommandError(f"--{name} must be a finite number, not {options[name]}")
    for name in ("k", "scale"):
        if options[name] is not None and not options[name] > 0:
            raise CommandError(f"--{name} must be a positive number, not {options[name]:g}")
    if options["base"] is not None and not options["base"] > 1:
        raise CommandError(f"--base must be above 1 (10 for Elo's usual scale), not {options['base']:g}")
    if options["permutations"] is not None and options["permutations"] < 1:
        raise CommandError(f"--permutations must be 1 or more, not {options['permutations']}")


def elo_settings(options: dict[str, Any]) -> EloSettings:
    """The Elo settings the options ask for, the defaults elsewhere."""
    given = {name: options[name] for name in ("k", "initial", "scale", "base") if options[name] is not None}
    return EloSettings(**{**asdict(DEFAULT_ELO_SETTINGS), **given})


def _rate(parsed: ParsedBattles, options: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for the chosen method, and notes worth telling the user."""
    notes = list(parsed.skip_notes)
    method, sequence = options["method"], parsed.sequence
    if options["ties"] == "drop":
        sequence = sequence.without_ties()
        notes.append(f"left out {len(parsed.sequence) - len(sequence)} ties (--ties drop)")
        if not len(sequence):
            raise RatingError("every battle is a tie, and --ties drop leaves none to rate")
    if method == "winrate":
        return win_rate_against(pair_counts_from_sequence(sequence), options["baseline"]).to_rows(), notes
    anchor = parse_anchor(options["anchor"])
    if method == "elo" and options["permutations"]:
        result = fit_elo_orderings(
            sequence,
            permutations=options["permutations"],
            settings=elo_settings(options),
            anchor=anchor,
            bootstrap_rounds=options["bootstrap"],
            seed=options["seed"],
        )
    elif method == "elo":
        result = fit_elo(
            sequence,
            settings=elo_settings(options),
            anchor=anchor,
            bootstrap_rounds=options["bootstrap"],
            seed=options["seed"],
        )
    else:
        result = fit_bradley_terry(
            pair_counts_from_sequence(sequence),
            anchor=anchor or DEFAULT_ANCHOR,
            bootstrap_rounds=options["bootstrap"],
            seed=options["seed"],
            per_component=options["per_component"],
        )
    return result.to_rows(), notes + result.diagnostics.notes()


def parse_anchor(text: str | None) -> Anchor | None:
    """``"SLUG=RATING"`` → :class:`Anchor`; the last ``=`` splits, so names may contain one."""
    if text is None:
        return None
    model, separator, rating = text.rpartition("=")
    try:
        value = float(rating)
    except ValueError:
        value = None
    if not separator or not model or value is None:
        raise CommandError(f"--anchor expects SLUG=RATING, e.g. gpt-4=1200, not {text!r}")
    return Anchor(rating=value, model=model)


def rating_table(rows: list[dict[str, Any]]) -> str:
    """Aligned text table of rating rows; the interval column appears only when there is one."""
    width = max(len("model"), *(len(row["model"]) for row in rows))
    with_ci = rows[0]["ci_low"] is not None
    interval_header = f"  {'95% interval':^17}" if with_ci else ""
    header = f"{'rank':>4}  {'model':<{width}}  {'rating':>8}{interval_header}  {'n':>7}"
    lines = [header, "-" * len(header)]
    for row in rows:
        interval = f"  {row['ci_low']:>7.1f} – {row['ci_high']:<7.1f}" if with_ci else ""
        lines.append(
            f"{row['rank_ub']:>4}  {row['model']:<{width}}  {row['rating']:>8.1f}{interval}  {row['n']:>7}"
        )
    return "\n".join(lines)


def win_rate_table(rows: list[dict[str, Any]], baseline: str) -> str:
    """Aligned text table of win rates (percent) against ``baseline``."""
    width = max(len("model"), *(len(row["model"]) for row in rows))
    header = f"{'model':<{width}}  {'win rate':>8}  {'s.e.':>6}  {'n':>7}"
    lines = [f"win rate against {baseline} (%)", header, "-" * len(header)]
    for row in rows:
        rate = "—" if row["win_rate"] is None else f"{row['win_rate']:.1f}"
        error = "—" if row["standard_error"] is None else f"{row['standard_error']:.1f}"
        lines.append(f"{row['model']:<{width}}  {rate:>8}  {error:>6}  {row['n']:>7}")
    return "\n".join(lines)
