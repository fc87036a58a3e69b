"""Where live frames wait inside the app's server: a probe, loaded only when asked for.

    FER_QUEUE_LOG=/tmp/queues.log PYTHONPATH=$PWD:benchmarks/queue_probe \\
        python benchmarks/live_latency.py --streams 3 --seconds 30

Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``, so every Python process
started this way (the Streamlit server included) loads this file; with
``$FER_QUEUE_LOG`` set it wraps aiortc 1.16's frame queues and appends to that file:

* every 5 s, the largest size seen of each queue a frame waits in: the decoded frames of
  each incoming track (``RemoteStreamTrack``) and each buffered ``MediaRelay``
  subscription, named by what it relays (``relay<AsyncVideoProcessTrack>`` is the one
  in front of the encoder on streamlit-webrtc's callback path, ``relay<RelayStreamTrack
  <ProcessedTrack>>`` on this app's);
* every second, the encoded frames waiting for each decoder thread, and the largest lag
  of the event loop that carries every stream's packets (a timer due every 100 ms).

A diagnostic for the README's "Live latency" section, never part of the app.
"""

import os
import threading
import time

if os.environ.get("FER_QUEUE_LOG"):
    from aiortc import rtcrtpreceiver
    from aiortc.contrib import media

    _largest: dict[str, int] = {}
    _decoder_queues: list = []
    _lag = {"max": 0.0}

    def _name(track) -> str:
        source = getattr(track, "_source", None)
        inner = getattr(source, "_source", None)
        relayed = type(source).__name__ + (f"<{type(inner).__name__}>" if inner is not None else "")
        return f"relay<{relayed}>#{id(track) % 10000}"

    _relay_recv = media.RelayStreamTrack.recv

    async def _relay_recv_probed(self):
        if self._queue is not None and self._source is not None:
            key = _name(self)
            _largest[key] = max(_largest.get(key, 0), self._queue.qsize())
        return await _relay_recv(self)

    media.RelayStreamTrack.recv = _relay_recv_probed
    _remote_recv = rtcrtpreceiver.RemoteStreamTrack.recv

    async def _remote_recv_probed(self):
        key = f"RemoteStreamTrack#{id(self) % 10000}"
        _largest[key] = max(_largest.get(key, 0), self._queue.qsize())
        return await _remote_recv(self)

    rtcrtpreceiver.RemoteStreamTrack.recv = _remote_recv_probed
    _decoder_worker = rtcrtpreceiver.decoder_worker

    def _decoder_worker_probed(loop, input_q, output_q, *args):
        _decoder_queues.append(input_q)
        if len(_decoder_queues) == 1:  # one timer on the loop all streams share
            def tick(due: float) -> None:
                now = time.monotonic()
                _lag["max"] = max(_lag["max"], now - due)
                loop.call_later(0.1, tick, now + 0.1)

            loop.call_soon_threadsafe(tick, time.monotonic())
        return _decoder_worker(loop, input_q, output_q, *args)

    rtcrtpreceiver.decoder_worker = _decoder_worker_probed

    def _report() -> None:
        start, n = time.monotonic(), 0
        with open(os.environ["FER_QUEUE_LOG"], "a") as log:
            while True:
                time.sleep(1)
                n += 1
                t = f"{time.monotonic() - start:.0f}s pid {os.getpid()}"
                if _decoder_queues:
                    log.write(f"{t} decoder inputs " + ",".join(str(q.qsize()) for q in _decoder_queues)
                              + f"; event loop lag up to {_lag['max'] * 1000:.0f} ms\n")
                    _lag["max"] = 0.0
                if n % 5 == 0 and _largest:
                    snapshot = dict(_largest)
                    _largest.clear()
                    log.write(f"{t} largest queues " + " ".join(f"{k}={v}" for k, v in sorted(snapshot.items())) + "\n")
                log.flush()

    threading.Thread(target=_report, name="fer-queue-probe", daemon=True).start()
