"""Loopback fake of Discord (REST v10 + gateway) for end-to-end tests of the bot.

Quick start::

    from tests.fakediscord import FakeDiscord

    async with FakeDiscord() as fake:
        guild = fake.add_guild("Metro PD")
        practice = fake.add_text_channel(guild, "practice")
        instructor = fake.add_role(guild, "Instructor")
        alice = fake.add_member(guild, "alice", roles=[instructor])
        # start the bot with env=fake.env() (subprocess) or inside `with fake.patch_discord():`
        await fake.wait_for_bot_ready()
        rec = await fake.invoke_slash(practice, alice, "roleplay", subcommand="start",
                                      options={"scenario": "traffic_stop"})
        assert rec.response_type == 4 and rec.ephemeral

See :mod:`tests.fakediscord.server` for the full API.
"""

from .server import FakeDiscord, RequestRecord
from .state import ApiError, Interaction, World

__all__ = ["ApiError", "FakeDiscord", "Interaction", "RequestRecord", "World"]
