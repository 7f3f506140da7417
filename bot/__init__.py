"""Who hears about it, and when: the CLI, the checker, charts, state (and the Telegram bot)."""
