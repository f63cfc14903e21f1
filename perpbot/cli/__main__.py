"""Provides `python -m perpbot.cli`: the same as the `perpbot` command."""

import sys

from perpbot.cli import main

sys.exit(main())
