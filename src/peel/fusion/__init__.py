"""Multi-agency data fusion: link records into people, surface risk for expert review."""
