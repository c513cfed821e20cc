"""Schema fuzzing: schemathesis against the FastAPI server, every request replayed to Flask."""
