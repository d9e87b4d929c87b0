"""A real `nacos-sdk-python` 2.0.11 client (its 1.x HTTP module) for tests/live.rs.

    py_client.py SERVER SERVICE register PORT BEAT_SECONDS META_JSON   register and beat, forever
    py_client.py SERVER SERVICE subscribe POLL_SECONDS SECONDS         poll, print ADDED/DELETED

Prints JSON lines: `registered`, `event` (the SDK's listener calls).
"""
import json
import os
import sys
import tempfile
import time

import nacos
from nacos.listener import SubscribeListener


def out(kind, **kw):
    kw.update(kind=kind, t=time.time())
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


server, service, mode = sys.argv[1:4]
client = nacos.NacosClient(server, logDir=tempfile.mkdtemp(prefix="nacos-py-"))
if mode == "register":
    port, beat, meta = int(sys.argv[4]), float(sys.argv[5]), json.loads(sys.argv[6])
    ok = client.add_naming_instance(service, "127.0.0.1", port, cluster_name="DEFAULT", metadata=meta,
                                    heartbeat_interval=beat)
    out("registered", ok=ok)
    while True:
        time.sleep(1)
else:
    poll, seconds = float(sys.argv[4]), float(sys.argv[5])
    listener = SubscribeListener(lambda event, slc: out("event", event=event, port=slc.instance["port"]), "test")
    client.subscribe(listener, poll, service_name=service)
    time.sleep(seconds)
    out("done")
    os._exit(0)  # the SDK's poll timers are not daemon threads
