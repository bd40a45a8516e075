"""discord.py adapters: the bot, its transport, cogs, views and embeds. Thin: the session service plays, stores and sends."""
