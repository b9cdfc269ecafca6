"""Online crime reporting: the public reports with evidence, staff triage, victims track."""
