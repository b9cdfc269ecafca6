"""ANPR: number-plate reads, hotlists with live alerts, and investigative search."""
