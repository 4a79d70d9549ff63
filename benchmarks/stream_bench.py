"""Stream speed, in one run: events/s over HTTP batches and over MQTT into windows and
rules, and event-to-notification latency (p50/p99) at a steady 10,000 events/s measured
against a local webhook receiver.

Three processes: the engine (tally.stream routes on uvicorn, the MQTT input, the ticker,
the raw log to a temporary lake), a webhook receiver that notes when each alert arrives,
and this one, which generates the load. Every 100 ms the load carries one probe event
whose rule fires at once; its latency is the receiver's arrival time minus the moment
the probe was handed to the HTTP client (one clock: same machine).

Usage: python benchmarks/stream_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path

import httpx
from hygiene import LoadWatch, free_port, temporary_folder

MQTT_URL = os.environ.get("TALLY_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
SENSORS = 1000

RULES = [
    {"name": "sensor_hot", "type": "threshold", "source": "sensors", "field": "temperature",
     "aggregate": "mean", "window": {"size": "1s", "lateness": "2s"}, "op": ">", "value": 80,
     "for": "10s"},
    {"name": "sensor_p99", "type": "threshold", "source": "sensors", "field": "temperature",
     "aggregate": "p99", "window": {"kind": "sliding", "size": "2s", "hop": "1s"}, "op": ">",
     "value": 95},
    {"name": "sensor_dead", "type": "absence", "source": "sensors", "seconds": "5m"},
    {"name": "probe", "type": "threshold", "source": "bench-probe", "field": "v",
     "aggregate": "max", "window": {"kind": "each"}, "op": ">", "value": 500},
]  # fmt: skip


def receive(port: int, out: str) -> None:
    """Child: a webhook receiver writing "<alert key> <arrival time>" per alert."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    log = open(out, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            arrived = time.time()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            for alert in body["alerts"]:
                log.write(f"{alert['labels']['key']} {arrived}\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()


def serve(port: int, hook_port: int, state: str, topic: str) -> None:
    """Child: the engine with its HTTP routes, MQTT input and ticker."""
    import uvicorn
    from starlette.applications import Starlette

    from tally.lake import Lake
    from tally.stream.engine import Engine
    from tally.stream.http import routes
    from tally.stream.inputs_mqtt import MqttInput
    from tally.stream.notifiers import build_notifiers
    from tally.stream.rules import parse_rules
    from tally.stream.settings import stream_settings

    settings = stream_settings({
        "state_dir": f"{state}/stream",
        "evaluate_every": 0.1,
        "route": {"receivers": ["hook"], "group_by": ["alertname", "key"], "group_wait": 0,
                  "group_interval": 60},
        "receivers": [{"name": "hook", "type": "webhook",
                       "url": f"http://127.0.0.1:{hook_port}/hook"}],
        "mqtt": {"url": MQTT_URL, "topics": [f"{topic}/+"], "qos": 1},
        "lake": {"batch_events": 100_000, "flush_seconds": 5},
    })  # fmt: skip
    engine = Engine(settings, parse_rules(RULES), lake=Lake(f"{state}/lake"), background=True,
                    notifiers=build_notifiers(settings.receivers))  # fmt: skip
    engine.inputs.append(MqttInput(engine, settings.mqtt))
    engine.start()
    app = Starlette(routes=routes(engine))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def sensor_batch(size: int, start: float, spread: float) -> list[dict[str, object]]:
    return [
        {"source": "sensors", "key": f"s{random.randrange(SENSORS)}",
         "time": start + spread * i / size, "values": {"temperature": 20 + random.random() * 5}}
        for i in range(size)
    ]  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to state a rate per CPU-second:
    on a shared machine wall-clock rates depend on what else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def received(client: httpx.Client, base: str) -> int:
    return int(client.get(f"{base}/api/stream/stats").json()["received"])


async def http_throughput(base: str, seconds: float, batch: int = 1000) -> tuple[int, float]:
    """Post pre-encoded batches on 4 connections for a while; (events, elapsed)."""
    bodies = [json.dumps(sensor_batch(batch, time.time() + i, 1.0)).encode() for i in range(20)]
    sent = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal sent
        index = offset
        while time.perf_counter() < deadline:
            answer = await client.post(
                f"{base}/api/events",
                content=bodies[index % 20],
                headers={"content-type": "application/json"},
            )
            answer.raise_for_status()
            sent += batch
            index += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(worker(client, n) for n in range(4)))
    return sent, time.perf_counter() - started


def mqtt_throughput(
    base: str, topic: str, messages: int, per_message: int, qos: int = 1
) -> tuple[float, int]:
    """Publish messages and time until the engine has their events; (events/s,
    events lost). The publisher stays at most 500 messages ahead of the engine, because
    Mosquitto drops what queues up beyond max_queued_messages (1000) for a slow subscriber."""
    from urllib.parse import urlparse

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    address = urlparse(MQTT_URL)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.max_inflight_messages_set(1000)
    publisher.connect(address.hostname or "127.0.0.1", address.port or 1883)
    publisher.loop_start()
    payloads = []
    for n in range(200):
        events = sensor_batch(per_message, time.time() + n * 0.01, 0.01)
        payloads.append(json.dumps(events[0] if per_message == 1 else events).encode())
    with httpx.Client() as client:
        before = received(client, base)
        target = before + messages * per_message
        started = time.perf_counter()
        for n in range(messages):
            if n % 250 == 0:
                while (n - 500) * per_message > received(client, base) - before:
                    time.sleep(0.005)
            publisher.publish(f"{topic}/s{n % SENSORS}", payloads[n % 200], qos=qos)
        deadline = time.perf_counter() + 30
        while (count := received(client, base)) < target and time.perf_counter() < deadline:
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    publisher.loop_stop()
    publisher.disconnect()
    return (count - before) / elapsed, target - count


def percentiles(sent: dict[str, float], arrivals: Path) -> tuple[int, int, float, float]:
    """(probes arrived, missing, p50, p99) of arrival minus send time."""
    arrived: dict[str, float] = {}
    for line in arrivals.read_text().splitlines():
        key, moment = line.split()
        arrived.setdefault(key, float(moment))
    latencies = sorted(arrived[k] - sent[k] for k in sent if k in arrived)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies), len(sent) - len(latencies), statistics.median(latencies), p99


async def latency_run(
    base: str, seconds: float, rate: int, prefix: str
) -> tuple[dict[str, float], float, int]:
    """Send `rate` events/s as 10 batches a second, each batch carrying one probe event;
    returns (probe send times, seconds it took, failed requests)."""
    sent: dict[str, float] = {}
    size = rate // 10
    batches = int(seconds * 10)
    failed = 0
    # bodies made beforehand with a placeholder for the time, so the generator's own work
    # per batch is one replace (it shares the 2 cores with the engine)
    templates = [
        json.dumps(sensor_batch(size - 1, 0.0, 0.0))[:-1].replace("0.0,", "TIME,")
        for _ in range(10)
    ]
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as client:
        pending: set[asyncio.Task[httpx.Response]] = set()
        for n in range(batches):
            await asyncio.sleep(max(0.0, started + n / 10 - time.perf_counter()))
            key = f"probe-{prefix}{n}"
            now = repr(time.time())
            probe = {"source": "bench-probe", "key": key, "time": float(now), "values": {"v": 1000}}
            body = f"{templates[n % 10].replace('TIME', now)},{json.dumps(probe)}]".encode()
            sent[key] = time.time()
            pending.add(asyncio.create_task(client.post(f"{base}/api/events", content=body)))
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            failed += isinstance(outcome, BaseException) or outcome.status_code != 202
    return sent, time.perf_counter() - started, failed


def in_process_latency(state: str, seconds: float, rate: int) -> tuple[float, float]:
    """The engine alone, fed batches directly (no HTTP): p50 and p99 from a probe's ingest
    to its notification reaching a receiver object (same rules, ticker, raw log)."""
    from tally.lake import Lake
    from tally.stream.engine import Engine
    from tally.stream.events import parse_batch
    from tally.stream.notifiers import Notification, Notifier
    from tally.stream.rules import parse_rules
    from tally.stream.settings import ReceiverSpec, stream_settings

    arrived: dict[str, float] = {}

    class Receiver(Notifier):
        def send(self, notification: Notification) -> None:
            for alert in notification["alerts"]:
                arrived.setdefault(alert["labels"]["key"], time.time())

    settings = stream_settings({
        "state_dir": f"{state}/in-process", "evaluate_every": 0.1,
        "route": {"receivers": ["r"], "group_by": ["alertname", "key"], "group_wait": 0},
        "lake": {"batch_events": 100_000, "flush_seconds": 5},
    })  # fmt: skip
    receiver = Receiver(ReceiverSpec(name="r", type="webhook", url="http://unused"))
    engine = Engine(settings, parse_rules(RULES), lake=Lake(f"{state}/lake-in-process"),
                    notifiers={"r": receiver}, background=True)  # fmt: skip
    engine.start()
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for n in range(int(seconds * 10)):
        time.sleep(max(0.0, started + n / 10 - time.perf_counter()))
        events = sensor_batch(rate // 10, time.time(), 0.1)
        events[-1] = {"source": "bench-probe", "key": f"p{n}", "time": time.time(),
                      "values": {"v": 1000}}  # fmt: skip
        sent[f"p{n}"] = time.time()
        engine.ingest(parse_batch(events, "bench", time.time())[0])
    time.sleep(1)
    engine.stop()
    latencies = sorted(arrived[k] - sent[k] for k in sent if k in arrived)
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (for CI)")
    parser.add_argument(
        "--rates", type=int, nargs="+", default=[10_000, 2_000], help="latency loads, events/s"
    )
    args = parser.parse_args()
    seconds = 3 if args.quick else 10
    latency_seconds = 5 if args.quick else 20
    mqtt_messages = 5_000 if args.quick else 20_000
    watch = LoadWatch()
    # Every file of the run (engine state, raw-event lake, arrivals) lives in one folder that
    # is removed at the end: runs used to leave 17-24 MB behind in the temporary directory.
    with temporary_folder("tally-stream-bench-") as folder:
        state = str(folder)
        arrivals = Path(state) / "arrivals.txt"
        port, hook_port = free_port(), free_port()
        topic = f"tally-bench-{os.getpid()}/sensors"
        spawn = multiprocessing.get_context("spawn")
        children = [
            spawn.Process(target=receive, args=(hook_port, str(arrivals)), daemon=True),
            spawn.Process(target=serve, args=(port, hook_port, state, topic), daemon=True),
        ]
        for child in children:
            child.start()
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client() as client:
                for _ in range(200):
                    try:
                        received(client, base)
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
            time.sleep(0.5)  # let the MQTT input subscribe
            engine_pid = children[1].pid
            assert engine_pid is not None  # started above
            cpu_before = cpu_seconds(engine_pid)
            events, elapsed = asyncio.run(http_throughput(base, seconds))
            http_rate = events / elapsed
            http_per_cpu = events / (cpu_seconds(engine_pid) - cpu_before)
            print(f"HTTP done: {http_rate:,.0f} events/s", flush=True)
            mqtt_single, lost_single = mqtt_throughput(base, topic, mqtt_messages, 1)
            mqtt_zero, lost_zero = mqtt_throughput(base, topic, mqtt_messages, 1, qos=0)
            mqtt_batched, lost_batched = mqtt_throughput(base, topic, mqtt_messages // 10, 100)
            latency = []
            for rate in args.rates:
                sent, run_seconds, failed = asyncio.run(
                    latency_run(base, latency_seconds, rate, f"{rate}-")
                )
                time.sleep(3)  # the last probes' notifications
                latency.append((rate, run_seconds, failed, *percentiles(sent, arrivals)))
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.join()  # nothing may write into the folder once it is removed
        alone = in_process_latency(state, latency_seconds, 10_000)
    watch.finish()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"HTTP batches of 1000, 4 connections, {seconds} s: {http_rate:,.0f} events/s "
          f"({http_per_cpu:,.0f} per CPU-second of the engine process)")  # fmt: skip
    print(f"MQTT, 1 event per message (QoS 1), {mqtt_messages:,} messages: "
          f"{mqtt_single:,.0f} events/s ({lost_single} lost)")  # fmt: skip
    print(f"MQTT, 1 event per message (QoS 0), {mqtt_messages:,} messages: "
          f"{mqtt_zero:,.0f} events/s ({lost_zero} lost)")  # fmt: skip
    print(f"MQTT, 100 events per message (QoS 1), {mqtt_messages // 10:,} messages: "
          f"{mqtt_batched:,.0f} events/s ({lost_batched} lost)")  # fmt: skip
    for rate, run_seconds, failed, count, missing, p50, p99 in latency:
        print(f"event-to-notification at {rate:,} events/s over HTTP, 10 batches/s "
              f"({run_seconds:.1f} s for {latency_seconds} s of load, {failed} failed requests), "
              f"{count} probes ({missing} missing): "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")  # fmt: skip
    print(f"event-to-notification in process (no HTTP) at 10,000 events/s: "
          f"p50 {alone[0] * 1000:.0f} ms, p99 {alone[1] * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
