"""Test helpers shared by the warehouse, catalog and load tests (real engines, no mocks)."""
