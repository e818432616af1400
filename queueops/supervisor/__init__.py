"""Supervisor as every kind, observation and runbook sees it, operator side: where program
files live, which of them queueops wrote, what supervisord must do so they run, and the
invariants of every rendered program. Its host half is agent/supervisor*.py."""
