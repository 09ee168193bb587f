# The HTTP front's image: nginx with the Lua module, its config rendered by
# `funcatron-wf front` from the same settings as every other part.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
ENTRYPOINT ["funcatron-wf", "front"]
CMD []
