"""The official Python `kubernetes` client against strata: list, create and watch a custom resource.

Usage: custom_resource.py KUBECONFIG. Exits non-zero with a message on any mismatch.
"""
import sys
import threading

from kubernetes import client, config, watch

GROUP, VERSION, PLURAL = "strata.io", "v1alpha1", "apps"


def main(kubeconfig: str) -> None:
    config.load_kube_config(config_file=kubeconfig)
    api = client.CustomObjectsApi()
    listed = api.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert listed["items"] == [], f"expected no apps, got {listed['items']}"
    rv = listed["metadata"]["resourceVersion"]

    seen = []
    done = threading.Event()

    def watcher() -> None:
        w = watch.Watch()
        for event in w.stream(api.list_namespaced_custom_object, GROUP, VERSION, "default", PLURAL,
                              resource_version=rv, timeout_seconds=20):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) >= 2:
                w.stop()
        done.set()

    t = threading.Thread(target=watcher, daemon=True)
    t.start()
    app = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "App",
        "metadata": {"name": "py-app"},
        "spec": {"cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 32},
    }
    created = api.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, app)
    assert created["metadata"]["uid"], created
    api.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "py-app",
                                       {"spec": {"instances": 3}})
    done.wait(20)
    assert ("ADDED", "py-app") in seen, f"watch saw {seen}"
    assert ("MODIFIED", "py-app") in seen, f"watch saw {seen}"
    got = api.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "py-app")
    assert got["spec"]["instances"] == 3, got
    listed = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["py-app"], listed
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
