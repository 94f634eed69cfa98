"""What answers an endpoint's requests: TensorFlow models served without code, or a
deployment's entry script in its own worker process. The server swaps one backend for another
on update(); `close()` waits for the requests the old one is still answering."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runyard.serving.spec import EndpointSpec


class Backend:
    no_code = False

    def __init__(self):
        self.inflight = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.inflight += 1
        self.idle.clear()

    def leave(self) -> None:
        self.inflight -= 1
        if not self.inflight:
            self.idle.set()

    def stats(self) -> dict:
        return {"inflight": self.inflight}

    async def drain_and_close(self, timeout: float = 60.0) -> None:
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            pass
        await self.close()

    async def close(self) -> None:
        pass


class NoCodeBackend(Backend):
    """TensorFlow SavedModels and Keras files, TensorFlow Serving's REST API, batching."""

    no_code = True

    def __init__(self, spec: EndpointSpec):
        super().__init__()
        self.spec = spec
        self.models: dict[str, dict[int, object]] = {}
        self.batchers: dict[tuple, object] = {}
        # One thread runs the models: TensorFlow parallelises each call over the cores itself.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="predict")

    async def start(self) -> None:
        from runyard.serving.tf_model import LoadedModel

        loop = asyncio.get_running_loop()
        for served in self.spec.models:
            loaded = await loop.run_in_executor(
                self.executor, LoadedModel, served.name, served.version, Path(served.path))
            self.models.setdefault(served.name, {})[served.version] = loaded
            print(f"Loaded model {served.name}:{served.version} from {served.path} "
                  f"(signatures: {', '.join(loaded.signatures)})", flush=True)

    def model(self, name: str | None, version: int | None):
        from runyard.serving.tf_model import BadRequest

        if name is None:
            if len(self.models) != 1:
                raise BadRequest(f"This service serves several models ({', '.join(self.models)}): "
                                 "POST to /v1/models/<name>:predict.")
            name = next(iter(self.models))
        versions = self.models.get(name)
        if versions is None:
            raise LookupError(f"Model {name!r} is not served here. Models: {', '.join(self.models)}.")
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise LookupError(f"Model {name!r} version {version} is not served here. Versions: "
                              f"{', '.join(map(str, sorted(versions)))}.")
        return versions[version]

    async def predict(self, model, body: bytes) -> dict:
        from runyard.serving.batching import Batcher
        from runyard.serving.tf_model import format_response, parse_request

        signature, inputs, fmt, rows = parse_request(body, model)
        if signature.batchable:
            key = (model.name, model.version, signature.name)
            batcher = self.batchers.get(key)
            if batcher is None:
                batcher = self.batchers[key] = Batcher(
                    signature, self.spec.max_batch_size, self.spec.batch_timeout_micros, self.executor)
            outputs = await batcher.predict(inputs, rows)
        else:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self.executor, signature.predict, inputs)
        return format_response(outputs, fmt)

    def stats(self) -> dict:
        """Batching counters per model and signature: model calls and the rows they served."""
        return {**super().stats(), "batching": [
            {"model": name, "version": version, "signature": signature,
             "batches": b.batches, "rows": b.batched_rows}
            for (name, version, signature), b in self.batchers.items()]}

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.close()
        self.executor.shutdown(wait=False)


class ScriptBackend(Backend):
    """The entry script's init() and run(raw_data), in a worker process that uses the
    deployment's environment. A worker that dies is replaced (init() runs again)."""

    def __init__(self, spec: EndpointSpec, source_dir: Path, interpreter: str, env: dict[str, str]):
        super().__init__()
        self.spec, self.source_dir = spec, source_dir
        self.interpreter, self.env = interpreter, env
        # One thread talks to the worker: it answers one request at a time, in order.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="score")
        self.proc: subprocess.Popen | None = None
        self.requests_w: int | None = None  # our ends of the two pipes
        self.answers_r: int | None = None

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self._start_worker)

    def _start_worker(self) -> None:
        from runyard.serving.score_worker import read_frame

        requests_r, self.requests_w = os.pipe()
        self.answers_r, answers_w = os.pipe()
        script = str(self.source_dir / self.spec.entry_script)
        self.proc = subprocess.Popen(
            [self.interpreter, "-u", "-m", "runyard.serving.score_worker", script,
             str(requests_r), str(answers_w)],
            cwd=str(self.source_dir), env=self.env, pass_fds=(requests_r, answers_w),
            stdin=subprocess.DEVNULL)
        os.close(requests_r)
        os.close(answers_w)
        hello = read_frame(self.answers_r)
        if hello is None or not hello.get("ready"):
            self._stop_worker()
            raise ScriptInitError(hello["error"] if hello else
                                  "The entry script's process exited before init() finished.")
        print(f"Entry script {self.spec.entry_script}: init() done", flush=True)

    def _call(self, body: str) -> tuple[int, bytes]:
        from runyard.serving.score_worker import read_frame, write_frame

        if self.requests_w is None:  # the last replacement failed in init(): try again
            try:
                self._start_worker()
            except ScriptInitError:
                return 503, json.dumps({"error": "The entry script's init() fails; see the "
                                                 "service logs."}).encode()
        try:
            write_frame(self.requests_w, {"body": body})
            answer = read_frame(self.answers_r)
        except OSError:
            answer = None
        if answer is None:  # the worker died (os._exit, a crash, killed): start another
            self._stop_worker()
            code = self.proc.returncode
            print(f"The entry script's process exited (code {code}) while answering a request; "
                  "starting a new one.", file=sys.stderr, flush=True)
            try:
                self._start_worker()
            except ScriptInitError:
                pass  # logged by the worker; the next request tries again
            return 500, json.dumps({"error": f"The scoring process exited (code {code}) while "
                                             "answering this request; see the service logs."}).encode()
        return answer["status"], answer["body"].encode()

    async def score(self, body: bytes) -> tuple[int, bytes]:
        text = body.decode("utf-8", errors="replace")
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._call, text)

    def _stop_worker(self) -> None:
        for fd in (self.requests_w, self.answers_r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.requests_w = self.answers_r = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self._stop_worker)
        self.executor.shutdown(wait=False)


class ScriptInitError(RuntimeError):
    """The entry script failed to import or its init() raised; the message is the traceback."""
