"""Evaluation data and runners: seeded sample data, accuracy sets for routing, NL->SQL and inference."""
