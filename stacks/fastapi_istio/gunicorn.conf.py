# gunicorn settings of the fastapi_istio stack (seed 000:
# `gunicorn app:app -w 4 -k uvicorn.workers.UvicornWorker`, without its --reload).
workers = 4
worker_class = "uvicorn.workers.UvicornWorker"
accesslog = None
graceful_timeout = 5
