# gunicorn settings, rendered per run from the stack's parameters ([params] in its stack.toml;
# `python -m bench stack NAME --set workers=2` changes them). The bind address comes from the
# command line because local runs pick a free port and containers listen on 0.0.0.0.
workers = 4
worker_class = "uvicorn_worker.UvicornWorker"
threads = 1  # gthread: threads per worker (other worker classes ignore it)
keepalive = 2  # s a connection stays open between requests (sync workers close every one)
backlog = 2048  # the listen queue the kernel keeps for connections not yet accepted
accesslog = None  # logging every request would measure the disk, not the stack
graceful_timeout = 5
# gunicorn 27 otherwise opens one control socket (~/.gunicorn/gunicorn.ctl) shared by every
# gunicorn on the machine; a stack must not take it from another one running beside it.
control_socket_disable = True
