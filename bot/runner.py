"""A role-play bound to the store: the one path every front end uses to play a scene.

Each trainee line is committed (with the reply it got) before the reply is returned, so
whatever the front end shows has already been saved. A session is resumed by replaying
its stored lines, with the signals stored for them, through a fresh Session with the
same seed: the engine is deterministic, so state, mood, counters, rubric progress and
the next line variation come out exactly as before the interruption.
"""

from __future__ import annotations

import secrets

from bot.engine.machine import ScenarioMachine
from bot.engine.scenario import Scenario
from bot.engine.scoring import Score
from bot.engine.session import Session, Turn
from bot.engine.signals import Detection, Evidence
from bot.errors import SessionError, StoreError
from bot.store import EvidenceRow, NewSession, SessionRow, Store, TurnRow
from bot.store.rows import SkillEvidenceRow


class SceneRunner:
    def __init__(self, store: Store, play: Session, session: SessionRow) -> None:
        self.store = store
        self.play = play
        self.session = session

    @classmethod
    async def start(
        cls,
        store: Store,
        scenario: Scenario,
        *,
        trainee: str,
        seed: int | None = None,
        machine: ScenarioMachine | None = None,
        mode: str = "practice",
        guild_id: int = 0,
        channel_id: int | None = None,
        thread_id: int | None = None,
        trainee_id: int | None = None,
    ) -> SceneRunner:
        seed = secrets.randbelow(2**31) if seed is None else seed
        play = Session.start(scenario, machine, seed=seed)
        member = await store.ensure_member(trainee, guild_id=guild_id, discord_id=trainee_id)
        session = await store.start_session(
            NewSession(
                scenario_id=scenario.id, scenario_digest=scenario.digest, trainee=trainee, seed=seed,
                state=play.state, mood=play.mood, mode=mode, guild_id=guild_id,
                channel_id=channel_id, thread_id=thread_id, trainee_id=trainee_id, member_id=member.id,
            ),
            play.opening,
        )
        return cls(store, play, session)

    @classmethod
    async def resume(cls, store: Store, session_id: int, scenario: Scenario, machine: ScenarioMachine | None = None) -> SceneRunner:
        """Rebuild an unfinished session from its rows; SessionError says why when it cannot be."""
        session = await store.get_session(session_id)
        if session is None:
            raise SessionError(f"there is no session {session_id}")
        if session.status != "active":
            raise SessionError(f"session {session_id} has ended ({session.outcome}, score {session.score}); nothing to resume")
        runner = cls(store, await _replay(store, session, scenario, machine), session)
        if runner.play.ended:
            # The process died after the last turn was saved but before the session was closed.
            await runner.finish()
        return runner

    @classmethod
    async def reopen_ended(cls, store: Store, session_id: int, scenario: Scenario) -> tuple[SceneRunner, Score]:
        """An ended session rebuilt read-only, with its score (to post feedback that was owed)."""
        session = await store.get_session(session_id)
        if session is None or session.status != "ended":
            raise SessionError(f"session {session_id} has not ended")
        play = await _replay(store, session, scenario, None)
        play.abandon()  # no-op when the replay reached an ending
        return cls(store, play, session), play.score()

    @property
    def session_id(self) -> int:
        return self.session.id

    @property
    def ended(self) -> bool:
        return self.play.ended

    @property
    def last_resident_line(self) -> str:
        return self.play.turns[-1].reply if self.play.turns else self.play.opening

    async def step(self, text: str, source_message_id: str | None = None) -> Turn | None:
        """Play one trainee line; None when that source message was already played (a replayed event)."""
        if source_message_id is not None and await self.store.message_seen(source_message_id):
            return None
        turn = self.play.step(text)
        try:
            recorded = await self.store.record_turn(
                TurnRow(
                    session_id=self.session.id, seq=turn.number, speaker="trainee", text=turn.trainee,
                    signals=tuple(EvidenceRow(e.signal, e.start, e.end, e.quote, e.detail) for e in turn.detection.evidence),
                    mood=turn.mood_after, state=turn.state_after, source_message_id=source_message_id,
                ),
                TurnRow(self.session.id, turn.number, "resident", turn.reply, (), turn.mood_after, turn.state_after),
            )
            if not recorded:
                # Only one consumer per session exists, so this means two processes drive one scene.
                raise StoreError(f"message {source_message_id} of session {self.session.id} was recorded by another process")
        except BaseException:
            # Unsaved means unplayed: put the scene back as the database has it.
            await self._rebuild()
            raise
        if self.play.ended:
            await self.finish()
        return turn

    async def _rebuild(self) -> None:
        self.play.abandon()  # leaves the shared machine
        scenario, machine = self.play.scenario, self.play.machine
        self.play = (await SceneRunner.resume(self.store, self.session.id, scenario, machine)).play

    async def abandon(self) -> Score:
        self.play.abandon()
        return await self.finish()

    async def finish(self) -> Score:
        score = self.play.score()
        evidence = tuple(
            SkillEvidenceRow(s.name, s.label, s.status.value, s.points, s.max_points, s.turn, s.quote)
            for s in score.skills
        )
        # The score's outcome, not the scene's: a critical signal fails even an abandoned scene.
        await self.store.finish_session(self.session.id, score.outcome.value, score.total, evidence)
        return score


async def _replay(store: Store, session: SessionRow, scenario: Scenario, machine: ScenarioMachine | None) -> Session:
    if session.scenario_id != scenario.id:
        raise SessionError(f"session {session.id} is a '{session.scenario_id}' session, not '{scenario.id}'")
    changed = session.scenario_digest != scenario.digest
    play = Session.start(scenario, machine, seed=session.seed)
    for row in (row for row in await store.turns(session.id) if row.speaker == "trainee"):
        missing = row.state not in scenario.states
        if missing or play.ended:
            play.abandon()
            why = f"state '{row.state}' no longer exists" if missing else f"the scene now ends before turn {row.seq}"
            raise SessionError(f"cannot resume session {session.id}: {scenario.path} changed since it started and {why}")
        turn = play.step(row.text, _stored_detection(row))
        if (turn.state_after, turn.mood_after) != (row.state, row.mood):
            play.abandon()
            cause = f"{scenario.path} changed since it started, and " if changed else ""
            raise SessionError(
                f"cannot resume session {session.id}: {cause}turn {row.seq} now leads to "
                f"'{turn.state_after}' (mood {turn.mood_after}) instead of '{row.state}' (mood {row.mood})"
            )
    return play


def _stored_detection(row: TurnRow) -> Detection:
    """The signals as detected when the line was first played, so a lexicon update cannot change history."""
    evidence = tuple(Evidence(signal=e.name, start=e.start, end=e.end, quote=e.quote, detail=e.detail) for e in row.signals)
    return Detection(text=row.text, evidence=evidence)
