"""The conversation: LangGraph graph, state, chat models, checkpointer wiring and the run stream."""
