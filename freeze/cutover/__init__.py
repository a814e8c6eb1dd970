"""The cutover runbook: plan, journal, executor, runner (nova-cutover)."""
