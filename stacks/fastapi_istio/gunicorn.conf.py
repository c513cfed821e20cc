# gunicorn settings of the fastapi_istio stack (seed 000:
# `gunicorn app:app -w 4 -k uvicorn.workers.UvicornWorker`, without its --reload).
workers = 4
worker_class = "uvicorn.workers.UvicornWorker"
accesslog = None
graceful_timeout = 5
# gunicorn 27 otherwise opens one control socket (~/.gunicorn/gunicorn.ctl) shared by every
# gunicorn on the machine; a stack must not take it from another one running beside it.
control_socket_disable = True
