"""Who carries an outgoing message to the person: the Bot API (production), or the terminal of
`manage.py chat`. A sender returns Telegram's message_id, or raises BotAPIError."""

from __future__ import annotations

import mimetypes
import sys
from pathlib import Path
from typing import Protocol, TextIO

from ..botapi import BotAPI
from ..models import OutgoingMessage
from ..replies import to_plain

Kind = OutgoingMessage.Kind
# sendPhoto/sendDocument: the multipart field, and the caption limit (the message text's is 4096).
_UPLOADS = {Kind.PHOTO: ("sendPhoto", "photo"), Kind.DOCUMENT: ("sendDocument", "document")}
CAPTION_CHARS = 1024


class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> int | None: ...


class BotAPISender:
    """sendMessage for text; sendPhoto / sendDocument with the file and the text as the caption."""

    def __init__(self, api: BotAPI | None = None) -> None:
        self.api = api or BotAPI()

    def send(self, message: OutgoingMessage) -> int | None:
        if message.kind == Kind.TEXT:
            result = self.api.call("sendMessage", chat_id=message.chat_id, text=message.text, parse_mode="HTML",
                                   http_timeout=15.0)
        else:
            method, field = _UPLOADS[Kind(message.kind)]
            caption = message.text[:CAPTION_CHARS] if message.text else None
            filename = message.filename or field
            result = self.api.upload(method, field=field, filename=filename, content=bytes(message.file or b""),
                                     mime_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
                                     chat_id=message.chat_id, caption=caption,
                                     parse_mode="HTML" if caption else None, http_timeout=60.0)
        return result.get("message_id") if isinstance(result, dict) else None


class TerminalSender:
    """`manage.py chat`: the terminal user's messages printed as the bot's, other chats' ignored. A
    file (a chart, an export) is saved in `files_dir` and its path printed."""

    def __init__(self, *, chat_id: int, out: TextIO = sys.stdout, prompt: str = "",
                 files_dir: Path | None = None) -> None:
        self.chat_id, self.out, self.prompt, self.files_dir = chat_id, out, prompt, files_dir
        self.count = 0
        self.at_prompt = True  # the prompt is on screen (false right after a reply, before input())

    def send(self, message: OutgoingMessage) -> int | None:
        if message.chat_id == self.chat_id:
            body = to_plain(message.text)
            if message.kind != Kind.TEXT:
                content = bytes(message.file or b"")
                name = Path(message.filename).name or f"{message.kind}-{message.pk}"
                body = f"[{message.kind}: {name}, {len(content)} bytes] {body}".rstrip()
                if self.files_dir is not None:
                    self.files_dir.mkdir(parents=True, exist_ok=True)
                    (self.files_dir / name).write_bytes(content)
                    body += f"\n     [saved: {self.files_dir / name}]"
            # At an interactive prompt: over the prompt's line, then the prompt again.
            over_prompt = bool(self.prompt) and self.at_prompt
            self.out.write(f"{chr(13) if over_prompt else ''}bot> {body}\n\n")
            if over_prompt:
                self.out.write(self.prompt)
            self.out.flush()
        self.count += 1
        return self.count
