"""The local stack: services started, checked and stopped by PID."""
