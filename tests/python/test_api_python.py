#!/usr/bin/python3
"""The Python module (docs/api.md, "Python") as a user drives it: three processes
average a hand-written linear-regression gradient held in NumPy arrays and end
with the same model at the true weights; a peer killed mid-run leaves the
other two training to the end; bad buffers and bad configs raise errors that
say what is wrong. Run by CTest: test_api_python.py BUILD_DIR."""
import multiprocessing as mp
import os
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(sys.argv[1], "python"))
import numpy as np  # noqa: E402
import meshtrain  # noqa: E402

TRUE_W = np.array([1.5, -2.0], dtype=np.float32)
TRUE_B = 0.5


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def write_config(directory, n, extra=""):
    path = os.path.join(directory, "cluster.toml")
    with open(path, "w") as f:
        for k, port in enumerate(free_ports(n)):
            f.write(f'[[cluster.peers]]\nid = "p{k}"\nendpoint = "tcp://127.0.0.1:{port}"\n\n')
        f.write('[sync]\nmode = "ring"\nstart_timeout_ms = 30000\n' + extra)
    return path


def train(config, peer_id, steps, out, delay=0.0):
    rng = np.random.default_rng(int(peer_id[1:]) + 7)
    x = rng.standard_normal((512, 2)).astype(np.float32)
    y = x @ TRUE_W + TRUE_B + 0.01 * rng.standard_normal(512).astype(np.float32)
    peer = meshtrain.Peer(config, peer_id, steps)
    params = np.zeros(3, dtype=np.float32)
    velocity = np.zeros(3, dtype=np.float32)
    grads = np.zeros(3, dtype=np.float32)
    peer.attach(params, velocity)
    peer.start()
    out.put(("started", peer_id))
    while not peer.done:
        if not peer.begin_step():
            continue
        idx = (peer.step * 32 + np.arange(32)) % 512
        err = x[idx] @ params[:2] + params[2] - y[idx]
        grads[:2] = 2 * (err[:, None] * x[idx]).mean(axis=0)
        grads[2] = 2 * err.mean()
        if not peer.all_reduce(grads, 32):
            continue  # a peer died or came back: redo the step
        velocity *= 0.9
        velocity += grads
        params -= 0.05 * velocity
        peer.end_step()
        if delay:
            time.sleep(delay)
    peer.finish()
    out.put((peer_id, params.tobytes(), peer.step))


def check(condition, what):
    if not condition:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def three_peers_agree(directory):
    config = write_config(directory, 3)
    out = mp.Queue()
    procs = [mp.Process(target=train, args=(config, f"p{k}", 300, out)) for k in range(3)]
    for p in procs:
        p.start()
    results = [r for r in (out.get(timeout=120) for _ in range(6)) if r[0] != "started"]
    for p in procs:
        p.join(30)
        check(p.exitcode == 0, f"a peer process exited {p.exitcode}")
    models = {r[1] for r in results}
    check(len(models) == 1, "the three processes end with the same model, bit for bit")
    params = np.frombuffer(results[0][1], dtype=np.float32)
    print("model:", params)
    check(np.all(np.abs(params[:2] - TRUE_W) < 1e-2) and abs(params[2] - TRUE_B) < 1e-2, "w and b within 1e-2")


def a_kill_leaves_the_others_training(directory):
    config = write_config(directory, 3)
    out = mp.Queue()
    procs = [mp.Process(target=train, args=(config, f"p{k}", 150, out, 0.02)) for k in range(3)]
    for p in procs:
        p.start()
    started = [out.get(timeout=120) for _ in range(3)]
    check(all(r[0] == "started" for r in started), "the three peers started")
    time.sleep(0.5)  # a few steps together
    os.kill(procs[2].pid, signal.SIGKILL)
    results = [out.get(timeout=120) for _ in range(2)]
    for p in procs[:2]:
        p.join(30)
        check(p.exitcode == 0, f"a survivor exited {p.exitcode}")
    procs[2].join(5)
    check(sorted(r[0] for r in results) == ["p0", "p1"] and all(r[2] == 150 for r in results),
          "after p2's kill -9, p0 and p1 train on to the last step")
    check(results[0][1] == results[1][1], "the survivors end with the same model")


def errors_say_what_is_wrong(directory):
    config = write_config(directory, 1)
    try:
        meshtrain.Peer(os.path.join(directory, "missing.toml"), "p0", 10)
        check(False, "a missing config raises")
    except meshtrain.Error as e:
        check("missing.toml" in str(e), f"a missing config raises meshtrain.Error naming it: {e}")
    try:
        meshtrain.Peer(config, "p0", 10, ["sync.mode=sideways"])
        check(False, "a bad key raises")
    except meshtrain.Error as e:
        check("sync.mode" in str(e), f"a bad value raises meshtrain.Error naming the key: {e}")
    peer = meshtrain.Peer(config, "p0", 10)
    try:
        peer.attach(np.zeros(4, dtype=np.float64))
        check(False, "float64 raises")
    except ValueError as e:
        check("float32" in str(e), f"a float64 buffer raises ValueError: {e}")
    try:
        peer.attach(np.zeros((4, 4), dtype=np.float32)[:, 1])
        check(False, "a strided view raises")
    except ValueError as e:
        check("C-contiguous" in str(e), f"a strided view raises ValueError: {e}")


if __name__ == "__main__":
    mp.set_start_method("spawn")
    with tempfile.TemporaryDirectory() as d:
        errors_say_what_is_wrong(d)
        three_peers_agree(d)
        a_kill_leaves_the_others_training(d)
