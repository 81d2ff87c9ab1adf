"""Vector retrieval over Chroma: schema documents for LLM prompts and verified question->SQL pairs."""
