# gunicorn settings of the gateway's upstream instances. One worker each: seven processes share the
# stack's core with Envoy. Flask runs on threads (gthread keeps Envoy's upstream connections alive,
# where the sync worker would close each one); FastAPI instances pass `-k uvicorn_worker.UvicornWorker`.
workers = 1
worker_class = "gthread"
threads = 8
accesslog = None  # the traced instance logs through the apps' own trace log (BENCH_TRACE_LOG)
# Envoy keeps its upstream connections open between requests (for an hour unless told). gunicorn's
# default of 2 s closed idle ones between phases, and Envoy, reusing a connection being closed, answered
# 503 (a reset, which Istio's default retries do not cover). The gateway, not the app, closes them.
keepalive = 75
graceful_timeout = 5
# gunicorn 27 otherwise opens one control socket (~/.gunicorn/gunicorn.ctl) shared by every
# gunicorn on the machine; a stack must not take it from another one running beside it.
control_socket_disable = True
