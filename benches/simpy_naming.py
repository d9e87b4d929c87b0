"""The naming-10k benchmark workload written in SimPy, to compare with `nacos-sim run benches/naming-10k.json`.

Same shape as the Rust scenario, with the hot paths modelled the same way and nothing extra:
one server; 100 apps x 100 instances, registered over the first 5 s; each instance beats every
5 s after its previous beat returned (1 ms each way, server-side ClientBeatProcessor scheduled
"now"); one ClientBeatCheckTask per service every 5 s walking its instances (strict >);
10 subscribers polling 10 services each (cacheMillis 10 s). No Nacos logic beyond that, so the
comparison flatters SimPy.

    pip install simpy && python3 benches/simpy_naming.py [simulated_seconds]
"""

import random
import resource
import sys
import time

import simpy

LATENCY = 0.001
BEAT_PERIOD = 5.0
CHECK_PERIOD = 5.0
UNHEALTHY_AFTER = 15.0
POLL_PERIOD = 10.0


class Server:
    def __init__(self, env):
        self.env = env
        self.services = {}  # name -> {(ip, port): [last_beat, healthy]}
        self.events = 0

    def register(self, svc, key):
        self.events += 1
        if svc not in self.services:
            self.services[svc] = {}
            self.env.process(self.check_task(svc))
        self.services[svc][key] = [self.env.now, True]

    def beat(self, svc, key):
        self.events += 1
        # ClientBeatProcessor is scheduled "now" on the health executor.
        yield self.env.timeout(0)
        self.events += 1
        inst = self.services[svc].get(key)
        if inst is not None:
            inst[0] = self.env.now
            inst[1] = True

    def check_task(self, svc):
        while True:
            yield self.env.timeout(CHECK_PERIOD)
            self.events += 1
            now = self.env.now
            for inst in self.services[svc].values():
                if now - inst[0] > UNHEALTHY_AFTER and inst[1]:
                    inst[1] = False

    def list(self, svc):
        self.events += 1
        return [k for k, v in self.services.get(svc, {}).items() if v[1]]


def instance(env, server, svc, key, start):
    yield env.timeout(start)
    yield env.timeout(LATENCY)
    server.register(svc, key)
    yield env.timeout(LATENCY)
    while True:
        yield env.timeout(BEAT_PERIOD)
        yield env.timeout(LATENCY)
        yield env.process(server.beat(svc, key))
        yield env.timeout(LATENCY)
        server.events += 1


def subscriber(env, server, services):
    yield env.timeout(6.0)
    while True:
        for svc in services:
            yield env.timeout(LATENCY)
            server.list(svc)
            yield env.timeout(LATENCY)
        yield env.timeout(POLL_PERIOD)


def main():
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
    rng = random.Random(1)
    env = simpy.Environment()
    server = Server(env)
    n = 0
    for app in range(100):
        svc = f"svc-{app}-0"
        for i in range(100):
            env.process(instance(env, server, svc, (f"10.2.{app}.{i}", 8080), rng.uniform(0, 5.0)))
            n += 1
    for s in range(10):
        env.process(subscriber(env, server, [f"svc-{s * 10 + j}-0" for j in range(10)]))
    t0 = time.perf_counter()
    env.run(until=duration)
    wall = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"simpy: {n} instances, {duration:.0f} s simulated, {wall:.2f} s wall, "
          f"{n * duration / wall:,.0f} instance-seconds per wall second, "
          f"{server.events:,} model events, {rss_mb:.0f} MB peak RSS")


if __name__ == "__main__":
    main()
