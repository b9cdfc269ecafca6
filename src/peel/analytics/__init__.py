"""Crime analytics: hot spots, predictive risk surfaces and honest back-testing."""
