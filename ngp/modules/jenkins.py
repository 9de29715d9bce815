"""The jenkins module: a Jenkins master on Marathon with a persistent volume, reachable over
the VPN at its VIP, named for the env. Example output (env dev):
jenkins_url = http://jenkins-dev.marathon.l4lb.thisdcos.directory:8080
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ngp.modules import routing
from ngp.modules.base import Built, ModuleSettings, module
from ngp.modules.marathon_apps import app as marathon_app
from ngp.modules.marathon_apps import app_id, mesos_http_check, vip_host, vip_label

if TYPE_CHECKING:
    from ngp.config import Settings


# The jenkins/jenkins image runs Jenkins as user jenkins, uid and gid 1000 (its Dockerfile:
# ARG uid=1000, USER ${user}; https://github.com/jenkinsci/docker), but Mesos makes a local
# persistent volume owned by root, so Jenkins cannot write its home. The task starts as root,
# gives the volume's top to uid 1000, then runs the image's own entrypoint (tini, jenkins.sh)
# as that user: setpriv is util-linux's, in every Debian-based jenkins image. A cmd replaces
# the image's entrypoint (Mesos runs it with `/bin/sh -c`), hence the entrypoint spelled out.
JENKINS_UID = 1000
HOME = "/var/jenkins_home"
START = (f"chown {JENKINS_UID}:{JENKINS_UID} {HOME} && exec setpriv --reuid={JENKINS_UID} "
         f"--regid={JENKINS_UID} --init-groups /usr/bin/tini -- /usr/local/bin/jenkins.sh")


class JenkinsSettings(ModuleSettings):
    image: str = "jenkins/jenkins:lts-jdk17"
    cpus: float = Field(1.0, gt=0)
    mem: int = Field(2048, ge=512)
    volume_gib: int = Field(10, ge=1, le=1024)


@module("jenkins", summary="a Jenkins master on Marathon, with a persistent volume",
        settings=JenkinsSettings, marathon=True)
def build(settings: Settings) -> Built:
    jenkins: JenkinsSettings = settings.module("jenkins")
    app = {
        "id": app_id(settings, "jenkins"), "instances": 1, "cpus": jenkins.cpus, "mem": jenkins.mem,
        "cmd": START,
        "container": {
            "type": "DOCKER",
            "docker": {"image": jenkins.image,
                       "parameters": [{"key": "user", "value": "0:0"}]},
            "volumes": [
                {"containerPath": "jenkins_home", "mode": "RW",
                 "persistent": {"size": jenkins.volume_gib * 1024}},
                {"containerPath": HOME, "hostPath": "jenkins_home", "mode": "RW"}],
            "portMappings": [{"containerPort": 8080, "hostPort": 0, "name": "http",
                              "labels": {"VIP_0": vip_label(settings, "jenkins", 8080)}}]},
        "networks": [{"mode": "container/bridge"}],
        "env": {"JAVA_OPTS": "-Djenkins.install.runSetupWizard=true"},
        "healthChecks": [mesos_http_check("/login", grace=600)],
        # A local volume pins it to its agent: stop the old task before starting a new one.
        "upgradeStrategy": {"minimumHealthCapacity": 0, "maximumOverCapacity": 0},
        "unreachableStrategy": "disabled",
        "labels": {"MARATHON_SINGLE_INSTANCE_APP": "true", **routing.labels(settings, "jenkins")},
    }
    vhost = routing.host(settings, "jenkins")
    url = f"http://{vhost}" if vhost else f"http://{vip_host(settings, 'jenkins')}:8080"
    return Built([marathon_app(settings, "jenkins.app", app)], {"jenkins_url": url})
