"""A tiny bot run as a separate process against the fake (see test_bot_in_subprocess).

Honours DISCORD_API_BASE / DISCORD_GATEWAY_URL / DISCORD_TOKEN like the real entry point.
Syncs its commands to every guild once ready, answers /hello, exits on "!quit".
"""

from __future__ import annotations

import asyncio
import os

import discord
import yarl
from discord import app_commands


async def main() -> None:
    discord.http.Route.BASE = os.environ["DISCORD_API_BASE"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])

    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.1)
    tree = app_commands.CommandTree(client)

    @tree.command(name="hello", description="Say hello")
    async def hello(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"hello {interaction.user.name}", ephemeral=True)

    @client.event
    async def on_ready() -> None:
        for guild in client.guilds:
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)  # fine for this self-test; the product syncs on demand

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.content == "!quit":
            await client.close()

    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
