"""A user's own locustfile for pypiserver: the lab's recorder runs beside it and measures its requests."""

from locust import FastHttpUser, task


class IndexClient(FastHttpUser):
    @task(3)
    def simple(self) -> None:
        self.client.get("/simple/")

    @task
    def project(self) -> None:
        self.client.get("/simple/tinypkg/")
