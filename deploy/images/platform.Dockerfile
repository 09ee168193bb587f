# The platform's image: the Tron, the Runner, the queue source, the
# controller, `dev` and the embedded Temporal, all the `funcatron-wf`
# command. Built by `funcatron-wf images build` (deploy/images.py) from a
# wheelhouse and the Node tools made on the host: the build reaches no
# package index (it runs with no network at all).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/funcatron \
 && /opt/funcatron/bin/pip install --no-index --no-cache-dir --find-links /tmp/wheels funcatron-wf \
 && rm -rf /tmp/wheels
COPY node_modules /opt/funcatron-node/node_modules
# Never root: an unprivileged user whose home is /tmp, the one place a part
# writes besides the stores it is given (run it with --read-only and a tmpfs
# /tmp; Kubernetes and Swarm do). uid 10001 is the manifests' runAsUser.
# No setuid or setgid programs either: nothing in it can become root again.
RUN useradd --system --uid 10001 --user-group --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin funcatron \
 && find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
USER 10001:10001
ENV PATH=/opt/funcatron/bin:/opt/funcatron-node/node_modules/.bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
ENTRYPOINT ["funcatron-wf"]
CMD ["--help"]
