"""Provisions the simulator with VAST's own Python client, vastpy, as an
administrator would script a cluster, checks what VMS keeps, and prints the
S3 keys it created as JSON.

    python3 vastpy_session.py ADDRESS CA_BUNDLE BUCKET
"""
import json
import sys

from vastpy import RESTFailure, VASTClient

address, ca, bucket = sys.argv[1:4]


def client(**auth):
    return VASTClient(address=address, cert_file=ca, cert_server_name="localhost", **auth)


def refused(call, status):
    try:
        call()
    except RESTFailure as e:
        assert e.status == status, f"{e.status} != {status}: {e}"
        return
    raise AssertionError(f"expected a refusal with {status}")


c = client(user="admin", password="123456")
calls = 0

cluster = c.clusters.get()[0]
assert cluster["state"] == "ONLINE", cluster
assert c.versions.get(status="success")[0]["sys_version"]
calls += 2

provider = [p for p in c.localproviders.get() if p["name"] == "local"][0]
tenant = c.tenants.post(name="nbu")
assert c.tenants[tenant["id"]].get()["name"] == "nbu"
assert [t["name"] for t in c.tenants.get(name="nbu")] == ["nbu"]
calls += 4

refused(lambda: c.users.post(name="no-provider"), 400)
user = c.users.post(name="vastpy-user", local_provider_id=provider["id"])
assert c.users.get(name="vastpy-user")[0]["id"] == user["id"]
assert c.users[user["id"]].get()["local_provider_id"] == provider["id"]
calls += 4

policy = c.viewpolicies.get(name="s3_default_policy")[0]
view = c.views.post(path="/" + bucket, policy_id=policy["id"], protocols=["S3"], bucket=bucket,
                    bucket_owner="vastpy-user", create_dir=True)
assert view["protocols"] == ["S3"] and view["bucket_owner"] == "vastpy-user", view
nfs = c.views.post(path="/nfs-export", policy_id=1, protocols=["NFS"], create_dir=True)
assert nfs["protocols"] == ["NFS"] and "bucket" not in nfs, nfs
c.views[nfs["id"]].patch(alias="/exp")
assert c.views[nfs["id"]].get()["alias"] == "/exp"
c.views[nfs["id"]].delete()
refused(lambda: c.views[nfs["id"]].get(), 404)
assert c.views[view["id"]].get()["bucket"] == bucket, "ids are stable"
assert [v["id"] for v in c.views.get(bucket=bucket)] == [view["id"]]
refused(lambda: c.views.post(path="/no-policy"), 400)
calls += 10

quota = c.quotas.post(name=bucket, path="/" + bucket, hard_limit=1 << 30)
c.quotas[quota["id"]].patch(hard_limit=2 << 30)
assert c.quotas[quota["id"]].get()["hard_limit"] == 2 << 30
calls += 3

keys = c.users[user["id"]].access_keys.post()
extra = c.users[user["id"]].access_keys.post()
c.users[user["id"]].access_keys.delete(access_key=extra["access_key"])
assert [k["access_key"] for k in c.users[user["id"]].get()["access_keys"]] == [keys["access_key"]]
calls += 4

pool = c.vippools.get(name="protocols")[0]
assert pool["ip_ranges"] and pool["role"] == "PROTOCOLS", pool
own = c.s3keys.post()
assert own["access_key"] and own["secret_key"]
token = c.apitokens.post(name="vastpy")
assert client(token=token["token"]).clusters.get()[0]["name"] == cluster["name"]
calls += 4

refused(lambda: client(user="admin", password="wrong").clusters.get(), 401)
calls += 1

json.dump({"access_key": keys["access_key"], "secret_key": keys["secret_key"], "calls": calls}, sys.stdout)
