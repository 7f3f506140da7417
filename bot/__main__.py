"""`python -m bot` is the `alertbot` command."""

import sys

from bot.cli import main

sys.exit(main())
