"""CloudWatch metrics and failure alerts as a Dagster resource: off unless configured
(``CLOUDWATCH_NAMESPACE``; ``ALERT_SNS_TOPIC_ARN`` or ``ALERT_EMAIL_TO`` with
``ALERT_SMTP_HOST``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Optional

import dagster as dg

from etl3_assets.defs.s3 import Etl3S3Resource, s3_connection
from etl3_assets.lib.monitoring.alerts import CONFIGURED_FIELDS, AlertSettings, send_alert
from etl3_assets.lib.monitoring.cloudwatch import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    CloudWatchPublisher,
    PublishOutcome,
)
from etl3_assets.lib.settings import Settings

_DEFAULTS = Settings()
MONITORING_ATTEMPTS = 3  # boto3 standard retries: a CloudWatch outage costs seconds, not minutes


class MonitoringResource(dg.ConfigurableResource):
    """Where metrics and alerts go. The CloudWatch and SNS endpoints are ``endpoint_url``
    if set, else boto3's own resolution (``AWS_ENDPOINT_URL_CLOUDWATCH``,
    ``AWS_ENDPOINT_URL_SNS``, ``AWS_ENDPOINT_URL``, AWS); credentials and region are the
    S3 resource's."""

    namespace: Optional[str] = _DEFAULTS.cloudwatch_namespace
    environment: str = _DEFAULTS.environment
    deadline_seconds: float = _DEFAULTS.cloudwatch_deadline_seconds
    endpoint_url: Optional[str] = None
    alert_sns_topic_arn: Optional[str] = _DEFAULTS.alert_sns_topic_arn
    alert_email_to: list[str] = list(_DEFAULTS.alert_email_to)
    alert_email_from: str = _DEFAULTS.alert_email_from
    alert_smtp_host: Optional[str] = _DEFAULTS.alert_smtp_host
    alert_smtp_port: int = _DEFAULTS.alert_smtp_port
    alert_smtp_starttls: bool = _DEFAULTS.alert_smtp_starttls
    alert_smtp_user: Optional[str] = _DEFAULTS.alert_smtp_user
    alert_smtp_password: Optional[str] = _DEFAULTS.alert_smtp_password
    s3: Optional[Etl3S3Resource] = None

    @property
    def publishing(self) -> bool:
        return bool(self.namespace)

    def client(self, service: str) -> Any:
        """A client with standard retries and short timeouts."""
        connection = dataclasses.replace(s3_connection(self.s3), retry_mode="standard", max_attempts=MONITORING_ATTEMPTS)
        return connection.client(
            service, endpoint_url=self.endpoint_url, timeouts=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
        )

    def publish(
        self, asset: str, values: Mapping[str, float], *, month: str | None = None, warn: Callable[[str], None]
    ) -> PublishOutcome | None:
        """Publish ``values`` on the asset's series (and the month's); None when off."""
        if not self.publishing:
            return None
        publisher = CloudWatchPublisher(
            lambda: self.client("cloudwatch"), self.namespace, self.environment, deadline_seconds=self.deadline_seconds
        )
        return publisher.publish(asset, values, month=month, warn=warn)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> MonitoringResource:
        alert_fields = {f"alert_{f}": getattr(settings, f"alert_{f}") for f in CONFIGURED_FIELDS}
        return cls(
            namespace=settings.cloudwatch_namespace,
            environment=settings.environment,
            deadline_seconds=settings.cloudwatch_deadline_seconds,
            **{**alert_fields, "alert_email_to": list(settings.alert_email_to)},
            **overrides,
        )

    def alert(self, subject: str, body: str) -> list[str]:
        """Send a failure alert to each configured channel; a line per channel, none when off."""
        settings = AlertSettings.configured(self)
        if not settings.enabled:
            return []
        return send_alert(settings, subject, body, sns_client=lambda: self.client("sns"))


def published_metadata(published: PublishOutcome | None) -> dict[str, object]:
    """What publishing to CloudWatch did, for the materialization (nothing when it is off)."""
    if published is None:
        return {}
    return {
        "cloudwatch_metrics": published.datums,
        "cloudwatch_seconds": published.seconds,
        **({"cloudwatch_warning": published.warning} if published.warning else {}),
    }
