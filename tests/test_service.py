"""`lrface serve` as a real process on a free loopback port: every endpoint, the token, and concurrent
enrol + identify (also with a CLI `gallery add`) with nothing lost."""

from __future__ import annotations

import json
import threading
import time

import pytest
from service_helpers import TOKEN, png, pngs, request, run_lrface

import lrface


def test_health_identify_verify_list(served):
    port, _g, probes, model = served
    status, h = request(port, "GET", "/health")
    assert status == 200 and h["status"] == "ok" and h["identities"] >= 6
    assert h["thresholds"]["identify"]["value"] is None
    files = sorted(probes.glob("*/*.png"))
    right = 0
    for f in files:
        status, r = request(port, "POST", "/identify?top_k=2", [("image", f.read_bytes())])
        assert status == 200 and len(r["matches"]) == 2 and r["threshold"] is None
        right += r["identity"] == f.parent.name
    assert right == len(files)  # as the CLI's identify of the same gallery (test_identify); chance is 1/6
    status, r = request(port, "POST", "/identify", [("image", files[0].read_bytes())] + [("threshold", "1.0")])
    assert status == 200 and r["identity"] == "unknown" and r["threshold"] == 1.0
    a, b = probes / "Bob" / "0013.png", probes / "Bob" / "0014.png"
    status, v = request(port, "POST", "/verify?threshold=-1", [("a", a.read_bytes()), ("b", b.read_bytes())])
    expected = lrface.Recognizer(model).verify(a, b, threshold=-1).score  # the same model in this process
    assert status == 200 and v["same"] is True and v["score"] == pytest.approx(expected, abs=1e-5)
    status, v = request(port, "POST", "/verify", [("a", a.read_bytes()), ("b", b.read_bytes())])
    assert status == 400 and "threshold" in v["error"]  # gallery not calibrated, none given
    status, ids = request(port, "GET", "/identities")
    assert status == 200 and {r["identity"]: r["samples"] for r in ids["identities"]}["Zoë"] == 5


def test_token_enrol_remove(served):
    port, _g, _probes, _ = served
    carol = pngs(101, 3)  # one person: faces 0 and 1 enrolled, face 2 the probe
    fields = [("image", carol[0]), ("image", carol[1])]
    assert request(port, "POST", "/identities/Carol", fields)[0] == 401
    assert request(port, "POST", "/identities/Carol", fields, token="wrong")[0] == 401
    assert request(port, "DELETE", "/identities/Bob")[0] == 401
    status, r = request(port, "POST", "/identities/Carol", fields, token=TOKEN)
    assert status == 200 and (r["identity"], r["added"], r["duplicates"]) == ("Carol", 2, 0)
    status, r = request(port, "POST", "/identities/Carol", fields[:1], token=TOKEN)
    assert status == 200 and (r["added"], r["duplicates"]) == (0, 1)
    status, r = request(port, "POST", "/identify?top_k=2", [("image", carol[2])])
    assert r["identity"] == "Carol" and r["matches"][1]["identity"] != "Carol"
    status, r = request(port, "DELETE", "/identities/Carol", token=TOKEN)
    assert status == 200 and r["removed_samples"] == 2
    assert request(port, "DELETE", "/identities/Carol", token=TOKEN)[0] == 404
    assert request(port, "POST", "/identities/..", fields, token=TOKEN)[0] in (400, 404)


def test_concurrent_enrol_identify_and_cli_add_lose_nothing(served, tmp_path):
    port, g, probes, _model = served
    probe = (probes / "Bob" / "0013.png").read_bytes()
    stop, failures, answered = threading.Event(), [], [0]

    def identify_loop():
        while not stop.is_set():
            status, r = request(port, "POST", "/identify", [("image", probe)])
            if status != 200 or r["identity"] != "Bob":
                failures.append((status, r))
            answered[0] += 1

    readers = [threading.Thread(target=identify_loop) for _ in range(4)]
    for t in readers:
        t.start()
    enrolled = {}

    def enrol(k0):
        for k in range(k0, k0 + 6):
            status, r = request(
                port, "POST", f"/identities/new{k}", [("image", png(1000 + k)), ("image", png(2000 + k))], token=TOKEN
            )
            if status == 200 and r["added"] == 2:
                enrolled[f"new{k}"] = 2
            else:
                failures.append((status, r))

    writers = [threading.Thread(target=enrol, args=(k0,)) for k0 in (0, 100)]
    for t in writers:
        t.start()
    cli_dir = tmp_path / "cli"  # meanwhile a CLI `gallery add` writes to the same directory
    cli_dir.mkdir()
    for k in range(3):
        (cli_dir / f"{k}.png").write_bytes(png(3000 + k))
    run_lrface("gallery", "add", g, cli_dir, "--identity", "from cli")
    for t in writers:
        t.join()
    time.sleep(0.2)
    stop.set()
    for t in readers:
        t.join()
    assert not failures, failures[:3]
    assert answered[0] > 10 and len(enrolled) == 12
    _, ids = request(port, "GET", "/identities")
    served_ids = {r["identity"]: r["samples"] for r in ids["identities"]}
    assert all(served_ids.get(n) == c for n, c in enrolled.items()), served_ids
    assert served_ids.get("from cli") == 3  # the service picked up the CLI's generation
    on_disk = json.loads(run_lrface("gallery", "list", g, "--json").stdout)
    disk_ids = {r["identity"]: r["samples"] for r in on_disk["identities"]}
    assert disk_ids == served_ids
    for k in list(enrolled):
        assert request(port, "DELETE", f"/identities/{k}", token=TOKEN)[0] == 200
    assert request(port, "DELETE", "/identities/from%20cli", token=TOKEN)[0] == 200


def test_calibration_by_the_cli_is_picked_up_and_reported(served):  # last: it changes the served gallery
    port, g, probes, _ = served
    cal = json.loads(run_lrface("gallery", "calibrate", g, "--far", "0.05", "--json").stdout)
    status, h = request(port, "GET", "/health")
    assert h["thresholds"]["identify"]["value"] == cal["identify_threshold"]
    assert h["thresholds"]["verify"]["source"].startswith("gallery calibration (FAR 0.05")
    assert h["thresholds"]["verify"]["far"] == 0.05
    status, r = request(port, "POST", "/identify", [("image", (probes / "Bob" / "0013.png").read_bytes())])
    assert status == 200 and r["threshold"] == cal["identify_threshold"]
    assert r["identity"] == ("Bob" if r["score"] >= cal["identify_threshold"] else "unknown")
    a, b = (probes / "Bob" / "0013.png").read_bytes(), (probes / "Bob" / "0014.png").read_bytes()
    status, v = request(port, "POST", "/verify", [("a", a), ("b", b)])
    assert status == 200 and v["threshold"] == cal["verify_threshold"] and v["threshold_far"] == 0.05
    assert v["same"] == (v["score"] >= cal["verify_threshold"])
    assert "stale" not in h["thresholds"]["identify"]["source"]
    dave = [("image", png(4000)), ("image", png(4001))]
    assert request(port, "POST", "/identities/Dave", dave, token=TOKEN)[0] == 200  # a change after calibration
    now = f"stale: the gallery now holds {cal['identities'] + 1} identities, {cal['samples'] + 2} samples"
    assert now in request(port, "GET", "/health")[1]["thresholds"]["identify"]["source"]
    status, r = request(port, "POST", "/identify", [("image", (probes / "Bob" / "0013.png").read_bytes())])
    assert (
        status == 200 and now in r["threshold_source"] and "re-run `lrface gallery calibrate" in r["threshold_source"]
    )
