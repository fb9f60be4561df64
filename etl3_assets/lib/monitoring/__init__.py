"""Operating the warehouse: CloudWatch metrics (``cloudwatch.py``), the alarms and the
dashboard as code (``alarms.py``), and failure alerts by SNS or email (``alerts.py``)."""
