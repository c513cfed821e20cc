# gunicorn settings of the flask_gunicorn_nginx stack; the bind address comes from the command
# line because local runs pick a free port and containers listen on 0.0.0.0.
workers = 4  # seed 002: `gunicorn -w 4`
worker_class = "sync"
accesslog = None  # logging every request would measure the disk, not the stack
graceful_timeout = 5
# gunicorn 27 otherwise opens one control socket (~/.gunicorn/gunicorn.ctl) shared by every
# gunicorn on the machine; a stack must not take it from another one running beside it.
control_socket_disable = True
