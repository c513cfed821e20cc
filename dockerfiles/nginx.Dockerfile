# nginx for the flask_gunicorn_nginx stack: the official image online, the local Debian base
# (which has Debian's nginx) offline. The config is rendered per run and mounted at
# /etc/bench/nginx.conf; /tmp/work holds the pid file and temp folders it names.
ARG BASE_IMAGE=nginx:1.27
FROM ${BASE_IMAGE}
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN mkdir -p /tmp/work
STOPSIGNAL SIGQUIT
CMD ["nginx", "-c", "/etc/bench/nginx.conf", "-e", "stderr", "-g", "daemon off;"]
