"""The users API, built twice (Flask and FastAPI) on one shared core."""
