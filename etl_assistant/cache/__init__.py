"""The semantic cache: verified SQL reused for questions that mean the same (same literals too)."""
