"""The `docker` back end around the SDK boundary (a recording stand-in for docker.DockerClient; the real engine
is exercised by `make test-docker`): every container's security options, the mount check, labels, listing by
label, removal, and the orchestrator removing every sibling when one server never becomes ready."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.support.launcher import PUBLIC_BASE_URL, TOKEN, auth, sid


@dataclass
class FakeContainer:
    name: str
    labels: dict
    status: str = "running"
    attrs: dict = field(default_factory=lambda: {"State": {"StartedAt": "2030-01-01T00:00:00Z"}})
    removed: bool = False
    stopped_with: int | None = None

    @property
    def image(self):
        return type("Image", (), {"tags": ["lightserv/cloudvolume:1"]})()

    def reload(self):
        pass

    def stop(self, timeout):
        self.stopped_with = timeout
        self.status = "exited"

    def remove(self, force=False):
        self.removed = True

    def logs(self, tail=20):
        return b"server: error: something\n"


class FakeContainers:
    def __init__(self, client):
        self.client = client

    def run(self, **kwargs):
        self.client.runs.append(kwargs)
        if kwargs["image"] == "missing:1":
            raise RuntimeError("404 Client Error: pull access denied for missing")
        container = FakeContainer(kwargs["name"], kwargs["labels"], status=self.client.status_after_run)
        self.client.made[kwargs["name"]] = container
        return container

    def get(self, name):
        container = self.client.made.get(name)
        if container is None or container.removed:
            raise RuntimeError("404 No such container")
        return container

    def list(self, **kwargs):  # the SDK's list(all=..., filters=...)
        wanted = dict(item.split("=", 1) for item in (kwargs.get("filters") or {}).get("label", []))
        return [c for c in self.client.made.values()
                if not c.removed and all(c.labels.get(k) == v for k, v in wanted.items())]  # fmt: skip


class FakeDocker:
    def __init__(self, status_after_run="running"):
        self.runs: list[dict] = []
        self.made: dict[str, FakeContainer] = {}
        self.status_after_run = status_after_run
        self.containers = FakeContainers(self)

    def ping(self):
        return True


def docker_config(layer_dir, tmp_path, **overrides):
    from viewer_launcher import LauncherConfig

    values = dict(
        token=TOKEN, allowed_roots=(layer_dir,), public_base_url=PUBLIC_BASE_URL, backend="docker", mode="PROD",
        state_dir=tmp_path,
        images={"cloudvolume": "lightserv/cloudvolume:1", "annotation": "lightserv/cloudvolume:1",
                "neuroglancer:general": "lightserv/neuroglancer:1",
                "neuroglancer:registration": "lightserv/neuroglancer-registration:1"},
        network="lightserv_viewer", container_uid="1500:1500", container_groups=("2000",),
        ready_timeout=0.6, probe_interval=0.1,
    )  # fmt: skip
    values.update(overrides)
    return LauncherConfig(**values)


def start_request(layer_dir, role="cloudvolume", path=None, kind="precomputed"):
    from viewer_launcher.backends.base import StartRequest, labels_for

    s = sid()
    return StartRequest(f"lsv-{s}-{role}-0", role, labels_for(s, role, "img", "alice", "PROD", "2030-01-01T00:00:00Z"),
                        path if path is not None else layer_dir / "img", kind)  # fmt: skip


def test_a_layer_container_is_locked_down(layer_dir, tmp_path):
    from viewer_launcher.backends.docker import DockerBackend

    backend = DockerBackend(docker_config(layer_dir, tmp_path), client=FakeDocker())
    options = backend.run_options(start_request(layer_dir))
    assert options["image"] == "lightserv/cloudvolume:1"
    assert options["user"] == "1500:1500" and options["group_add"] == ["2000"]
    assert options["read_only"] is True and options["tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=64m"}
    assert options["cap_drop"] == ["ALL"] and options["security_opt"] == ["no-new-privileges:true"]
    assert options["pids_limit"] == 256 and options["nano_cpus"] == 1_000_000_000 and options["mem_limit"] == "1g"
    assert options["restart_policy"] == {"Name": "no"} and options["network"] == "lightserv_viewer"
    assert "ports" not in options and "privileged" not in options  # nothing published, never privileged
    assert options["volumes"] == {str(layer_dir / "img"): {"bind": "/mnt/data", "mode": "ro"}}
    assert options["labels"]["org.lightserv.managed"] == "true" and options["labels"]["org.lightserv.env"] == "PROD"
    # HOME: the read-only root has no home for the user; caches go to the tmpfs (found by the Docker tier)
    expected_env = {"CV_ROOT": "/mnt/data", "CV_PORT": "1337", "CV_KIND": "precomputed", "HOME": "/tmp"}
    assert options["environment"] == expected_env


def test_annotation_and_neuroglancer_containers_get_their_own_images_limits_and_mounts(layer_dir, tmp_path):
    from viewer_launcher.backends.base import StartRequest
    from viewer_launcher.backends.docker import DockerBackend

    backend = DockerBackend(docker_config(layer_dir, tmp_path, static_content_url=""), client=FakeDocker())
    annotation = backend.run_options(start_request(layer_dir, "annotation", layer_dir / "cells", "static"))
    assert annotation["mem_limit"] == "256m" and annotation["environment"]["CV_ROOT"] == "/web"
    assert annotation["volumes"] == {str(layer_dir / "cells"): {"bind": "/web", "mode": "ro"}}
    ng = backend.run_options(StartRequest("lsv-x-neuroglancer-0", "neuroglancer", {}, None, "registration",
                                          {"NG_TOKEN": "t"}))  # fmt: skip
    assert ng["image"] == "lightserv/neuroglancer-registration:1" and ng["mem_limit"] == "2g"
    assert ng["volumes"] == {} and ng["environment"]["NG_PORT"] == "8080" and ng["cap_drop"] == ["ALL"]


@pytest.mark.parametrize("where", ["outside", "escape", "relative"])
def test_a_mount_outside_the_allowed_roots_is_never_passed_to_docker(layer_dir, tmp_path, where):
    from viewer_launcher.backends.base import BackendError
    from viewer_launcher.backends.docker import DockerBackend

    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    path = {"outside": outside, "escape": layer_dir / "img" / ".." / ".." / "outside", "relative": "img"}[where]
    client = FakeDocker()
    backend = DockerBackend(docker_config(layer_dir, tmp_path), client=client)
    with pytest.raises(BackendError, match="outside the allowed roots"):
        backend.start(start_request(layer_dir, path=path))
    assert client.runs == []


def test_a_root_container_user_is_refused(layer_dir, tmp_path):
    from viewer_launcher.backends.base import BackendError
    from viewer_launcher.backends.docker import DockerBackend

    backend = DockerBackend(docker_config(layer_dir, tmp_path, container_uid="0:0"), client=FakeDocker())
    with pytest.raises(BackendError, match="non-root"):
        backend.run_options(start_request(layer_dir))


def test_list_and_remove_go_by_labels_and_ignore_what_is_gone(layer_dir, tmp_path):
    from viewer_launcher.backends.docker import DockerBackend

    client = FakeDocker()
    backend = DockerBackend(docker_config(layer_dir, tmp_path), client=client)
    mine = backend.start(start_request(layer_dir))
    assert mine.target == f"http://{mine.name}:1337" and mine.image == "lightserv/cloudvolume:1"
    other_env = start_request(layer_dir)
    client.made["foreign"] = FakeContainer("foreign", {**other_env.labels, "org.lightserv.env": "DEV"})
    client.made["unmanaged"] = FakeContainer("unmanaged", {"org.lightserv.session": mine.session_id})
    assert [r.name for r in backend.list()] == [mine.name]
    assert backend.remove([mine.name, "never-existed", "unmanaged"], grace=5) == 1
    assert client.made[mine.name].stopped_with == 5 and client.made[mine.name].removed
    assert not client.made["unmanaged"].removed  # not ours: never touched
    assert backend.remove([mine.name], grace=5) == 0


def test_an_image_that_cannot_start_fails_the_session_and_removes_every_sibling(layer_dir, tmp_path):
    from viewer_launcher import create_app
    from viewer_launcher.backends.docker import DockerBackend

    images = {"cloudvolume": "lightserv/cloudvolume:1", "annotation": "missing:1",
              "neuroglancer:general": "lightserv/neuroglancer:1", "neuroglancer:registration": "x:1"}  # fmt: skip
    config = docker_config(layer_dir, tmp_path, images=images)
    client = FakeDocker()
    app = create_app(config, DockerBackend(config, client=client))
    session_id = sid()
    doc = {"session_id": session_id, "owner": "alice", "variant": "general",
           "layers": [{"name": "img", "type": "image", "host_path": str(layer_dir / "img")},
                      {"name": "cells", "type": "annotation", "host_path": str(layer_dir / "cells")}],
           "access_key": "ab" * 32, "neuroglancer": {"token": sid(), "public_base_url": PUBLIC_BASE_URL}}  # fmt: skip
    resp = app.test_client().post("/v1/sessions", json=doc, headers=auth())
    assert resp.status_code == 502 and resp.json["layer"] == "cells" and "did not start" in resp.json["error"]
    assert [c.removed for c in client.made.values()] == [True]  # the cloudvolume sibling is gone too


def test_a_container_that_never_answers_times_out_and_every_sibling_is_removed(layer_dir, tmp_path):
    from viewer_launcher import create_app
    from viewer_launcher.backends.docker import DockerBackend

    config = docker_config(layer_dir, tmp_path)
    client = FakeDocker()  # containers "run" but their names resolve nowhere: probes never succeed
    app = create_app(config, DockerBackend(config, client=client))
    doc = {"session_id": sid(), "owner": "alice", "variant": "general",
           "layers": [{"name": "img", "type": "image", "host_path": str(layer_dir / "img")},
                      {"name": "img2", "type": "image", "host_path": str(layer_dir / "img2")}],
           "access_key": "ab" * 32, "neuroglancer": {"token": sid(), "public_base_url": PUBLIC_BASE_URL}}  # fmt: skip
    resp = app.test_client().post("/v1/sessions", json=doc, headers=auth())
    assert resp.status_code == 504 and "did not answer within 0.6 s" in resp.json["error"]
    assert len(client.made) == 2 and all(c.removed for c in client.made.values())
    assert app.test_client().get("/v1/sessions", headers=auth()).json == {"sessions": []}


def test_a_container_that_exits_fails_at_once_with_its_last_log_line(layer_dir, tmp_path):
    from viewer_launcher import create_app
    from viewer_launcher.backends.docker import DockerBackend

    config = docker_config(layer_dir, tmp_path, ready_timeout=30.0)
    client = FakeDocker(status_after_run="exited")
    app = create_app(config, DockerBackend(config, client=client))
    doc = {"session_id": sid(), "owner": "alice", "variant": "general",
           "layers": [{"name": "img", "type": "image", "host_path": str(layer_dir / "img")}],
           "access_key": "ab" * 32, "neuroglancer": {"token": sid(), "public_base_url": PUBLIC_BASE_URL}}  # fmt: skip
    resp = app.test_client().post("/v1/sessions", json=doc, headers=auth())
    assert resp.status_code == 502 and "exited before it was ready (server: error: something)" in resp.json["error"]
    assert all(c.removed for c in client.made.values())


def test_a_viewer_pointed_at_another_host_is_refused_by_the_docker_back_end(layer_dir, tmp_path):
    from viewer_launcher import create_app
    from viewer_launcher.backends.docker import DockerBackend

    config = docker_config(layer_dir, tmp_path)
    app = create_app(config, DockerBackend(config, client=FakeDocker()))
    doc = {"session_id": sid(), "owner": "alice", "variant": "general",
           "layers": [{"name": "img", "type": "image", "host_path": str(layer_dir / "img")}],
           "access_key": "ab" * 32, "neuroglancer": {"token": sid(), "public_base_url": "https://evil.example"}}
    resp = app.test_client().post("/v1/sessions", json=doc, headers=auth())
    assert resp.status_code == 400 and "configured PUBLIC_BASE_URL" in resp.json["error"]
