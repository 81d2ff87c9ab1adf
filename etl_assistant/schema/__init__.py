"""Schema inference: dialect sniffing, type detection, streaming profiling, relationship discovery."""
