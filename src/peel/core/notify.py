"""Sending messages to people outside Peel: a mail folder by default, SMTP in production."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from peel.core.config import Settings
from peel.core.db import new_id, utcnow


class Notifier(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = utcnow().strftime("%a, %d %b %Y %H:%M:%S +0000")
    message.set_content(body)
    return message


class MailFolderNotifier:
    """Development default: each message is written as a .eml file to read with any mail app."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%dT%H%M%S}-{new_id()[:8]}.eml"
        (self.folder / name).write_bytes(bytes(_message(self.sender, to, subject, body)))


class SmtpNotifier:
    """Production: hand messages to the force's mail relay (STARTTLS when it offers it)."""

    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    def send(self, to: str, subject: str, body: str) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            smtp.send_message(_message(self.sender, to, subject, body))


def notifier_from_settings(settings: Settings) -> Notifier:
    if settings.smtp_host:
        return SmtpNotifier(settings.smtp_host, settings.smtp_port, settings.mail_from)
    return MailFolderNotifier(settings.data_dir / "mail", settings.mail_from)
