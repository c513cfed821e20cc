"""The deployment benchmark lab: bring stacks up, load them with locust, report."""
