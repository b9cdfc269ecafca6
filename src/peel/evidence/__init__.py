"""Digital evidence: cases, items, a verifiable chain of custody, retention, redaction and sharing."""  # noqa: E501
