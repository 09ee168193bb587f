"""The substrate `funcatron-wf controller` sizes, chosen by the settings:
Kubernetes Deployments or Marathon apps. (The local and swarm pools are
sized by the controller `up` runs in its own process.)"""

from __future__ import annotations

from funcatron_wf.deploy.kubernetes_substrate import KubernetesSubstrate, api_client_and_namespace
from funcatron_wf.deploy.marathon_substrate import MarathonSubstrate, app_definition_from
from funcatron_wf.engine.errors import ConfigError
from funcatron_wf.engine.settings import Settings


def kubernetes_substrate(settings: Settings) -> KubernetesSubstrate:
    api, namespace = api_client_and_namespace(settings)
    return KubernetesSubstrate(api, namespace, template=settings.runner_template)


def marathon_substrate(settings: Settings) -> MarathonSubstrate:
    if not settings.marathon_url:
        raise ConfigError("the mesos substrate needs Marathon's address: FUNCATRON_MARATHON_URL")
    return MarathonSubstrate(
        settings.marathon_url,
        app_definition_from(settings.marathon_app),
        tron_app=settings.marathon_tron_app,
    )


def cluster_substrate(settings: Settings) -> KubernetesSubstrate | MarathonSubstrate:
    if settings.substrate == "kubernetes":
        return kubernetes_substrate(settings)
    if settings.substrate == "mesos":
        return marathon_substrate(settings)
    raise ConfigError(
        f"on the {settings.substrate} substrate `funcatron-wf up` sizes the pools itself; "
        "the controller is for kubernetes and mesos (FUNCATRON_SUBSTRATE / --substrate)"
    )
