"""Whole EQ-Bench 4 transcripts (`arena import replies DIR --format eqbench4 --turns all`).

Each transcript's first answer is its model's reply to the opening message, exactly as `--turns first` stores it;
the whole conversation becomes a Conversation owned by that reply (mode 'transcript', the scenario's id) with a
Turn per message on side 'own': exchange 0 is the starter and the first answer, then each persona message and
its answer. A reply that already owns the same transcript is left as it is (a re-import adds nothing); one that
owns a different transcript is refused, naming the file, rather than silently replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.ingest.eqbench4 import Transcript
from arena.ingest.records import RecordError
from arena.ingest.reply_import import ReplyImportSummary, import_reply
from arena.models import Conversation, Reply, Turn


@dataclass(frozen=True)
class TranscriptImportSummary:
    replies: ReplyImportSummary
    transcripts: int
    turns: int
    kept: int

    def __str__(self) -> str:
        return f"{self.replies}; {self.transcripts} transcripts added ({self.turns} turns), {self.kept} already present"


def _turn_rows(transcript: Transcript, reply: Reply) -> list[Turn]:
    rows = []
    for turn in transcript.turns:
        persona = turn.role == "user"
        rows.append(
            Turn(
                idx=turn.idx,
                side="own",
                role=turn.role,
                content=turn.content,
                author="persona" if persona else "model",
                model_id=None if persona else reply.model_id,
                # The source records the persona's state only before the conversation starts.
                persona_state=transcript.initial_state if persona and turn.idx == 0 else None,
                meta=dict(turn.meta),
            )
        )
    return rows


def _same_turns(stored: Conversation, transcript: Transcript) -> bool:
    kept = sorted((t.idx, t.role, t.content) for t in stored.turns)
    return kept == sorted((t.idx, t.role, t.content) for t in transcript.turns)


def import_transcripts(session: Session, transcripts: Iterable[tuple[int, Transcript]]) -> TranscriptImportSummary:
    read = replies = kept_replies = prompts = models = 0
    added = turns = kept = 0
    for line, transcript in transcripts:
        read += 1
        reply, created, prompt_created, model_created = import_reply(session, line, transcript.record)
        replies += created
        kept_replies += not created
        prompts += prompt_created
        models += model_created
        stored = session.scalar(select(Conversation).where(Conversation.reply_id == reply.id))
        if stored is not None:
            if not _same_turns(stored, transcript):
                raise RecordError(
                    line,
                    f"{transcript.where}: its first reply already opens a different stored transcript "
                    f"(scenario {stored.scenario}); remove that one first",
                )
            kept += 1
            continue
        conversation = Conversation(reply_id=reply.id, mode="transcript", scenario=transcript.scenario,
                                    meta=dict(transcript.meta))  # fmt: skip
        conversation.turns = _turn_rows(transcript, reply)
        session.add(conversation)
        session.flush()
        added += 1
        turns += len(conversation.turns)
    return TranscriptImportSummary(ReplyImportSummary(read, replies, kept_replies, prompts, models), added, turns, kept)
