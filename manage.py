#!/usr/bin/env python
"""Django's command-line entry point for the arena."""

import os
import sys

# Commands that only read files and print: they get settings with no database and no secret key, so they
# run anywhere (see arena/settings_files.py). An explicit DJANGO_SETTINGS_MODULE still wins.
FILE_ONLY_COMMANDS = {"rate"}


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    settings = "arena.settings_files" if command in FILE_ONLY_COMMANDS else "arena.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
