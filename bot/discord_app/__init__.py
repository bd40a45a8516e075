"""discord.py adapters: the bot, its cogs, views and embeds. Thin: the engine plays, the store keeps."""
