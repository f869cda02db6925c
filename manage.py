#!/usr/bin/env python
"""Django's command-line entry point for the arena."""

import importlib
import os
import sys

# Commands that only read files and print, and the module of each: they get settings with no database and no
# secret key, so they run anywhere (see arena/settings_files.py). An explicit DJANGO_SETTINGS_MODULE still wins.
FILE_ONLY_COMMANDS = {"rate": "leaderboard.management.commands.rate"}


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in FILE_ONLY_COMMANDS and "DJANGO_SETTINGS_MODULE" not in os.environ:
        file_only_command_run(command)
        return
    settings = "arena.settings_files" if command in FILE_ONLY_COMMANDS else "arena.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    from django.conf import settings as django_settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Load the settings before Django's command machinery does: it swallows a settings error for some
        # commands and carries on without the app registry (an AppRegistryNotReady traceback, or a `help`
        # that lists Django's commands only).
        django_settings.INSTALLED_APPS  # noqa: B018
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # a setting is missing or malformed: say which, not a traceback
        sys.exit(f"manage.py: {exc}")


def file_only_command_run(command: str) -> None:
    """Run a file-only command without ``django.setup()``: it needs no app registry, and loading every app's
    models (and what they import) is most of such a short command's start-up. Same parser, same errors."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "arena.settings_files"
    module = importlib.import_module(FILE_ONLY_COMMANDS[command])
    module.Command().run_from_argv(sys.argv)


if __name__ == "__main__":
    main()
