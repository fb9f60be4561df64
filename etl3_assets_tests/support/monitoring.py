"""What the monitoring tests share: a failed month run, the run-failure sensor evaluated
on it against the real instance, CloudWatch read back, and SNS delivered into an SQS
queue on the loopback moto server."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import dagster as dg

from etl3_assets.defs.dagster_features import relying_on
from etl3_assets.defs.warehouse.sensors import report_failed_month
from etl3_assets_tests.support.s3_servers import test_resource

NAMESPACE = "HealthcareDataLake/ETL3"
BUILD_CONTEXT_REPOSITORY_DEF = (
    dg.BetaWarning, "Parameter `repository_def` of function `build_run_status_sensor_context` is currently in beta"
)


def fail_month(d, month: str) -> dg.DagsterRun:
    """Run the month job of deployment ``d`` for a month that fails; the failed run."""
    job = d.defs.resolve_job_def("warehouse_month_job")
    result = job.execute_in_process(partition_key=month, instance=d.instance, raise_on_error=False)
    assert not result.success
    return d.instance.get_run_by_id(result.run_id)


def evaluate_failure_sensor(d, run: dg.DagsterRun, monitoring=None) -> None:
    """Evaluate ``report_failed_month`` on the run's failure, as the daemon would."""
    failure = d.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    # relies on the beta `repository_def` parameter (the sensor names the failed asset from it)
    with relying_on(BUILD_CONTEXT_REPOSITORY_DEF):
        status_context = dg.build_run_status_sensor_context(
            sensor_name="report_failed_month",
            dagster_event=failure[0].event_log_entry.dagster_event,
            dagster_instance=d.instance,
            dagster_run=run,
            repository_def=d.defs.get_repository_def(),
            resources={"monitoring": monitoring or d.resources["monitoring"]},
        )
    with status_context.for_run_failure() as context:
        report_failed_month(context)


def unique_environment() -> str:
    """An Environment dimension of its own, so tests sharing the moto server see only their series."""
    return f"test-{uuid.uuid4().hex[:10]}"


def aws_client(endpoint: str, service: str):
    return test_resource(endpoint).connection().client(service, endpoint_url=endpoint)


def published_series(cloudwatch, environment: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric, ((dimension, value), ...)) of every series of ``environment``, by ListMetrics."""
    found = set()
    for page in cloudwatch.get_paginator("list_metrics").paginate(
        Namespace=NAMESPACE, Dimensions=[{"Name": "Environment", "Value": environment}]
    ):
        for metric in page["Metrics"]:
            found.add((metric["MetricName"], tuple((d["Name"], d["Value"]) for d in metric["Dimensions"])))
    return found


def statistic(cloudwatch, metric: str, dimensions: list[dict], stat: str, period: int = 300) -> list[float]:
    """``stat`` of one series (exactly these dimensions, as CloudWatch matches them) per
    period with data over the last hour, by GetMetricData."""
    now = datetime.now(timezone.utc)
    response = cloudwatch.get_metric_data(
        MetricDataQueries=[{
            "Id": "q",
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
                "Period": period,
                "Stat": stat,
            },
        }],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
    )
    return list(response["MetricDataResults"][0]["Values"])


def sns_to_queue(endpoint: str, topic_name: str) -> tuple[str, object, str]:
    """A topic with an SQS queue subscribed (raw delivery): (topic ARN, sqs client, queue URL)."""
    sns, sqs = aws_client(endpoint, "sns"), aws_client(endpoint, "sqs")
    topic = sns.create_topic(Name=topic_name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{topic_name}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, sqs, queue_url


def received(sqs, queue_url: str) -> list[dict]:
    """The SNS notifications in the queue (Subject, Message)."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


class SmtpInbox:
    """A real SMTP server on a free loopback port (the protocol's HELO/EHLO, MAIL, RCPT,
    DATA, QUIT, enough for ``smtplib``), keeping each message it receives."""

    def __init__(self):
        import socketserver
        import threading

        self.messages: list[dict] = []
        inbox = self

        class Session(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())

            def handle(self) -> None:
                self.reply("220 etl3-test ESMTP")
                envelope: dict = {"to": []}
                while line := self.rfile.readline():
                    command = line.decode().rstrip("\r\n")
                    verb = command[:4].upper()
                    if verb in ("HELO", "EHLO"):
                        self.reply("250 etl3-test")
                    elif verb == "MAIL":
                        envelope = {"from": command.split(":", 1)[1].strip(" <>"), "to": []}
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        envelope["to"].append(command.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = []
                        while (body := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(body[1:] if body.startswith(b"..") else body)
                        inbox.messages.append({**envelope, "data": b"".join(data)})
                        self.reply("250 OK: queued")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "SmtpInbox":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def emails(self):
        """The received messages, parsed."""
        from email import message_from_bytes
        from email.policy import default

        return [message_from_bytes(m["data"], policy=default) for m in self.messages]
