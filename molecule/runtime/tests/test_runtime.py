"""container_runtime on both lab nodes: docker applies what daemon.json says (behaviour).

daemon.json is only data; docker proves it took it: `docker info` reports the log driver, cgroup
driver and live-restore, and a container created afterwards carries the inventory's log limits
(cluster_log_max_size 20m / cluster_log_max_file 2, not the role's defaults). Containers are
created, never started: nested `docker run` fails on the lab's cgroup mounts.
"""

import json

testinfra_hosts = ["km-molrt-node1", "km-molrt-node2"]


def test_docker_info_shows_the_managed_settings(host):
    info = host.check_output("docker info --format "
                             "'{{.LoggingDriver}} {{.CgroupDriver}} {{.LiveRestoreEnabled}}'")
    assert info.split() == ["json-file", "systemd", "true"]


def test_new_containers_get_the_inventory_log_limits(host):
    host.check_output("printf x > /tmp/probe && tar -C /tmp -c probe | "
                      "docker import - kubemedic-molecule/probe:1 >/dev/null")
    cid = host.check_output("docker create kubemedic-molecule/probe:1 /probe")
    try:
        config = json.loads(host.check_output(
            f"docker inspect --format '{{{{json .HostConfig.LogConfig}}}}' {cid}"))
    finally:
        host.run(f"docker rm -f {cid}")
    assert config == {"Type": "json-file", "Config": {"max-file": "2", "max-size": "20m"}}


def test_docker_packages_are_held(host):
    held = host.check_output("apt-mark showhold").split()
    assert "docker.io" in held and "containerd" in held
