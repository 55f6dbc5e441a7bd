"""What passes between a citizen and a lawyer in a consultation, as pushes (``Note``) and
as the stored message: each labelled with the consultation, the citizen shown masked
(张**) and any phone number in their words masked too; the lawyer named by name and
firm, never by a WeChat id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.consultation import (
    NOTICE,
    TO_CITIZEN,
    TO_LAWYER,
    ConsultationRecord,
    LawyerRecord,
    mask_name,
)
from domain.contact import mask_phones
from domain.messages import Outbound
from domain.texts import Texts
from handlers.commands import VOICE
from storage.consultations import Note


@dataclass(frozen=True, slots=True)
class Said:
    """One message of a side, as kept: its kind, its text, the media id of an image."""

    kind: str
    text: str = ""
    media_id: str | None = None


def who(texts: Texts, consultation: ConsultationRecord) -> str:
    """How a lawyer sees the citizen: 张**, or 市民 when no name was given."""
    return mask_name(consultation.name) or texts("lawyer_citizen")


def to_lawyer(texts: Texts, consultation: ConsultationRecord, said: Said) -> Sequence[Note]:
    """The citizen's message as the lawyer gets it."""
    short, name = consultation.short, who(texts, consultation)
    if said.kind == "text":
        return [Note("lawyer", TO_LAWYER, texts("lawyer_from_citizen", short=short, who=name,
                                                text=mask_phones(said.text)))]
    label = texts("lawyer_from_citizen_media", short=short, who=name,
                  kind=texts(f"consult_kind_{said.kind}"))
    if said.text:  # a voice message's transcription
        label += mask_phones(said.text)
    return [Note("lawyer", TO_LAWYER, label),
            Note("lawyer", TO_LAWYER, label, message=_media(said))]


def to_citizen(texts: Texts, consultation: ConsultationRecord, lawyer: LawyerRecord,
               said: Said, *, notice: dict[str, str] | None = None) -> Sequence[Note]:
    """The lawyer's message as the citizen gets it; with ``notice`` (the template's
    fields), first a template telling a citizen out of reach that an answer waits."""
    notes: list[Note] = []
    if notice is not None:
        notes.append(Note("citizen", NOTICE, texts("consult_answer_waiting"), fields=notice))
    if said.kind == "text":
        notes.append(Note("citizen", TO_CITIZEN, texts("consult_from_lawyer",
                                                       lawyer=lawyer.name, text=said.text)))
        return notes
    label = texts("consult_from_lawyer_media", lawyer=lawyer.name,
                  kind=texts(f"consult_kind_{said.kind}"))
    if said.text:
        label += said.text
    notes += [Note("citizen", TO_CITIZEN, label),
              Note("citizen", TO_CITIZEN, label, message=_media(said))]
    return notes


def said_in(kind: str, text: str, payload: Mapping[str, object]) -> Said | None:
    """What a message says, if it can be relayed: a text, an image, or a voice message
    (with its transcription, when the platform made one)."""
    voice = payload.get(VOICE)
    if kind == "text" and isinstance(voice, str) and voice:
        return Said("voice", text, media_id=voice)
    if kind == "text" and text.strip():
        return Said("text", text)
    media_id = payload.get("media_id")
    if kind in ("image", "voice") and isinstance(media_id, str) and media_id:
        return Said(kind, media_id=media_id)
    return None


def _media(said: Said) -> dict[str, object]:
    media = said.media_id or ""
    return (Outbound.of_voice(media) if said.kind == "voice" else Outbound.of_image(media)
            ).to_json()
