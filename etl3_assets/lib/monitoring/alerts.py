"""Failure alerts that leave Dagster: an SNS message and/or an email, each optional.

Sending an alert never raises: a failed delivery is returned as a warning for the
caller's log (the failure being reported is what matters; the alert is best effort).
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

SNS_SUBJECT_LIMIT = 100  # SNS refuses longer subjects


@dataclass(frozen=True)
class AlertSettings:
    sns_topic_arn: str | None = None
    email_to: tuple[str, ...] = ()
    email_from: str = "etl3@localhost"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    timeout_seconds: float = 10.0

    @classmethod
    def configured(cls, values: object, prefix: str = "alert_") -> AlertSettings:
        """From an object with ``<prefix><field>`` attributes (``Settings``, the resource)."""
        return cls(**{f: _coerce(f, getattr(values, prefix + f)) for f in CONFIGURED_FIELDS})

    @property
    def enabled(self) -> bool:
        return bool(self.sns_topic_arn or (self.email_to and self.smtp_host))


CONFIGURED_FIELDS = (
    "sns_topic_arn", "email_to", "email_from", "smtp_host", "smtp_port", "smtp_starttls", "smtp_user", "smtp_password",
)
"""The fields that come from settings (``ALERT_<FIELD>``); the rest keep their defaults."""


def _coerce(field: str, value: object) -> object:
    return tuple(value) if field == "email_to" else value


def send_alert(
    settings: AlertSettings, subject: str, body: str, *, sns_client: Callable[[], Any] | None = None
) -> list[str]:
    """Send ``subject``/``body`` to each configured channel; returns a line per channel
    (``sent …`` or ``failed …``)."""
    outcomes = []
    if settings.sns_topic_arn and sns_client is not None:
        try:
            sns_client().publish(
                TopicArn=settings.sns_topic_arn, Subject=_one_line(subject)[:SNS_SUBJECT_LIMIT], Message=body
            )
            outcomes.append(f"sent to SNS topic {settings.sns_topic_arn}")
        except Exception as error:  # noqa: BLE001 - reported, never raised
            outcomes.append(f"failed to send to SNS topic {settings.sns_topic_arn}: {type(error).__name__}: {error}")
    if settings.email_to and settings.smtp_host:
        try:
            _email(settings, subject, body, settings.email_to)
            outcomes.append(f"emailed {', '.join(settings.email_to)} via {settings.smtp_host}:{settings.smtp_port}")
        except Exception as error:  # noqa: BLE001 - reported, never raised
            outcomes.append(
                f"failed to email {', '.join(settings.email_to)} via {settings.smtp_host}:{settings.smtp_port}: "
                f"{type(error).__name__}: {error}"
            )
    return outcomes


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _email(settings: AlertSettings, subject: str, body: str, to: Sequence[str]) -> None:
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = ", ".join(to)
    message["Subject"] = _one_line(subject)
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)
