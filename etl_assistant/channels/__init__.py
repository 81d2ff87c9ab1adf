"""How people reach the assistant: each channel encodes the agent's RunEvents in its own wire format."""
