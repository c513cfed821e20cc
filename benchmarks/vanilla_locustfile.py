"""A vanilla locust user: the lab's request mix with nothing of the lab's recording.

benchmarks/lab_vs_wrk.py runs it beside bench/load/locustfile.py against the floor nginx, so the
lab's own per-request work (its histogram, windows, open-model bookkeeping) is priced: the
lab's locustfile should drive the same target within 10 % of this one's rate.
"""

from __future__ import annotations

import random

from locust import FastHttpUser, task

USER_IDS = (0, 1, 2)
POST_IDS = range(100, 200)


class VanillaUser(FastHttpUser):
    """The seven requests of bench/load/locustfile.py, in equal shares, closed loop, no wait."""

    @task
    def root(self) -> None:
        self.client.get("/")

    @task
    def health(self) -> None:
        self.client.get("/health")

    @task
    def metadata(self) -> None:
        self.client.get("/metadata")

    @task
    def name_by_path(self) -> None:
        self.client.get(f"/users_name/{random.choice(USER_IDS)}", name="/users_name/[id]")

    @task
    def name_by_query(self) -> None:
        self.client.get(f"/users_name/?users_id={random.choice(USER_IDS)}", name="/users_name/?users_id=[id]")

    @task
    def attribute(self) -> None:
        name = random.choice(("name", "age"))
        self.client.get(f"/users/{name}?users_id={random.choice(USER_IDS)}", name="/users/[attribute]?users_id=[id]")

    @task
    def add_user(self) -> None:
        user_id = random.choice(POST_IDS)
        self.client.post("/add_users/", json={"id": user_id, "name": f"user{user_id}", "age": str(20 + user_id % 50)})
