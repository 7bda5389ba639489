"""Low-dimensional projections of embeddings: PCA (scikit-learn) and a 2-D map (UMAP with PCA fallback).

UMAP's code is compiled by numba on first use, in every process (umap-learn does not cache it on disk), and the
compiler holds the GIL for seconds. `MapWorker` keeps that compilation and every map in a process of its own."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

UMAP_MIN_POINTS = 6


@dataclass(frozen=True)
class Projection:
    coordinates: np.ndarray
    method: str
    explained_variance: list[float] | None = None


def pca(vectors: np.ndarray, dimensions: int) -> Projection:
    """Principal components fitted on these vectors (centred, full SVD), at most min(n, d) of them; missing ones are 0."""
    from sklearn.decomposition import PCA

    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.shape[0] == 0:
        return Projection(np.zeros((0, dimensions)), "pca", [])
    kept = min(dimensions, *vectors.shape)
    if not np.any(vectors - vectors[0]):  # one point: no direction to explain
        return Projection(np.zeros((vectors.shape[0], dimensions)), "pca", [0.0] * kept)
    fitted = PCA(n_components=kept, svd_solver="full")
    coordinates = fitted.fit_transform(vectors)
    if kept < dimensions:
        coordinates = np.hstack([coordinates, np.zeros((coordinates.shape[0], dimensions - kept))])
    return Projection(coordinates, "pca", [float(ratio) for ratio in fitted.explained_variance_ratio_])


def needs_umap(vectors: np.ndarray) -> bool:
    """Whether map_2d draws these vectors with UMAP: at least UMAP_MIN_POINTS of them, and as many distinct ones."""
    count = vectors.shape[0]
    return count >= UMAP_MIN_POINTS and np.unique(np.round(vectors, 6), axis=0).shape[0] >= UMAP_MIN_POINTS


def map_2d(vectors: np.ndarray, random_state: int = 0) -> Projection:
    """A 2-D map: UMAP (cosine, fixed random_state) when there are enough points, PCA otherwise."""
    vectors = np.asarray(vectors, dtype=np.float64)
    count = vectors.shape[0]
    if not needs_umap(vectors):
        return pca(vectors, 2)
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(15, count - 1),
        metric="cosine",
        init="random" if count < 20 else "spectral",
        random_state=random_state,
        n_jobs=1,
    )
    return Projection(np.asarray(reducer.fit_transform(vectors), dtype=np.float64), "umap")


def warm_up_map() -> Projection:
    """map_2d on a small random set, so that numba compiles UMAP's code (about 6 s of CPU) before a view needs it."""
    return map_2d(np.random.default_rng(0).normal(size=(UMAP_MIN_POINTS + 2, 8)))


def warm_up_at_low_priority() -> None:
    """warm_up_map in this thread at the lowest CPU priority (on Linux a thread has its own), errors ignored."""
    if sys.platform == "linux":  # elsewhere a native thread id is not a process id
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    with contextlib.suppress(Exception):  # a failed warm-up only leaves the compilation to the first map
        warm_up_map()


def serve_maps(connection: Connection) -> None:
    """The worker's loop: compile UMAP in a low-priority thread, and answer each (vectors, random_state) received with
    map_2d's coordinates and method, or the exception it raised, at normal priority until the connection closes."""
    threading.Thread(target=warm_up_at_low_priority, name="uqviz-umap-warm-up", daemon=True).start()
    with connection:
        while True:
            try:
                vectors, random_state = connection.recv()
            except EOFError:
                return
            try:
                projection = map_2d(vectors, random_state)
                connection.send((projection.coordinates, projection.method))
            except Exception as error:  # the caller raises it, as a RuntimeError since not every exception pickles
                connection.send(RuntimeError(f"{type(error).__name__}: {error}"))


# the worker's entry point; once its caller has gone it exits at once, even while its warm-up thread still compiles
WORKER_CODE = ("import os, sys; from multiprocessing.connection import Connection; from uqviz.engine.projection import serve_maps; "
               "serve_maps(Connection(int(sys.argv[1]))); os._exit(0)")


class MapWorker:
    """UMAP in a process of its own: it compiles numba's code there when started, at the lowest priority, then draws
    every 2-D map asked of it. The compiler never holds the GIL of the process whose work a person waits for
    (sampling), and a map that needs no UMAP is drawn here. A plain subprocess, not multiprocessing's spawn: that
    would run the parent's `__main__` again in the child, and Streamlit makes the page script `__main__`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.start()

    def start(self) -> None:
        """A new worker process, joined to this one by a socket pair, importing this very uqviz package."""
        mine, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[2])
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        with theirs:
            self.process = subprocess.Popen([sys.executable, "-c", WORKER_CODE, str(theirs.fileno())], pass_fds=[theirs.fileno()],
                                            stdin=subprocess.DEVNULL, env=environment)
        self.connection = Connection(mine.detach())

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def map_2d(self, vectors: np.ndarray, random_state: int = 0) -> Projection:
        """map_2d drawn by the worker; a worker that died (killed for memory, say) is started again once."""
        vectors = np.asarray(vectors, dtype=np.float64)
        if not needs_umap(vectors):
            return pca(vectors, 2)
        with self.lock:
            try:
                answer = self.ask(vectors, random_state)
            except (EOFError, OSError):
                self.close()
                self.start()
                answer = self.ask(vectors, random_state)
        if isinstance(answer, RuntimeError):
            raise answer
        coordinates, method = answer
        return Projection(coordinates, method)

    def ask(self, vectors: np.ndarray, random_state: int) -> tuple[np.ndarray, str] | RuntimeError:
        """One map asked of the worker and its answer."""
        self.connection.send((vectors, random_state))
        return self.connection.recv()

    def close(self) -> None:
        """Stop the worker process and close its connection."""
        self.connection.close()
        self.process.terminate()
        self.process.wait()
