"""The bot's gettext catalogues: <lang>/LC_MESSAGES/<domain>.po (edited by people) and the
.mo files compiled from them (read at run time). See bot/core/i18n.py."""
