"""Fault injection for collection and the replay store, with real processes and files:
collectors killed with SIGKILL at random points, a file-size limit while a store is written,
corrupt and foreign stores, a reader opening a store a collector is still writing, and the
command lines' one-line errors."""

from __future__ import annotations

import hashlib
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from wm_data import ReplayReader, StoreError, StoreMismatchError, WindowDataset, open_store
from wm_data.cli import collect_main, data_main
from wm_data.collect import collect

# A collector that prints a digest of every episode just before handing it to the store.
COLLECTOR = """
import hashlib, sys
import numpy as np
from wm_data import store
from wm_data.collect import collect

real_add = store.ReplayWriter.add_episode

def add_episode(self, frames, actions, rewards, terminated=None, truncated=None, ram=None,
                seed=-1):
    print("E", digest(frames, actions, rewards, ram), flush=True)
    return real_add(self, frames, actions, rewards, terminated, truncated, ram=ram, seed=seed)

def digest(frames, actions, rewards, ram):
    h = hashlib.sha256()
    for a, t in ((frames, np.uint8), (actions, np.int64), (rewards, np.float32), (ram, np.uint8)):
        h.update(np.ascontiguousarray(np.asarray(a, t)).tobytes())
    return h.hexdigest()

store.ReplayWriter.add_episode = add_episode
collect(sys.argv[1], size=16, max_episode_steps=30, num_envs=1, seed=int(sys.argv[3]),
        target_episodes=int(sys.argv[2]), target_steps=None, policy="random", progress=False)
"""

COLLECT_CLI = ["--no-progress", "--bind", "collect.size = 16", "--bind", "collect.num_envs = 1"]
COLLECT_CLI += ["--bind", "collect.max_episode_steps = 30", "--bind", "collect.policy = 'random'"]
COLLECT_CLI += ["--bind", "collect.target_steps = None"]


def digest(episode) -> str:
    h = hashlib.sha256()
    for a in (episode.frames, episode.actions, episode.rewards, episode.ram):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def stored_digests(path: Path) -> list[str]:
    with open_store(path) as reader:
        out = []
        for episode in reader:
            assert episode.frames.shape[0] == len(episode) + 1 == episode.ram.shape[0]
            assert episode.terminated[-1] or episode.truncated[-1]  # complete episodes only
            out.append(digest(episode))
        return out


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code not in (0, None) and code > 0, f"exit code {code}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


# ---------------------------------------------------------------- SIGKILL during collection


def test_collector_killed_at_random_points_keeps_every_complete_episode(tmp_path: Path) -> None:
    out = tmp_path / "store"
    script = tmp_path / "collector.py"
    script.write_text(COLLECTOR)
    rng = random.Random(8)
    kept: list[str] = []
    target = 40
    for attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(out), str(target), str(attempt)],
            stdout=subprocess.PIPE,
            text=True,
            env=env(),
        )
        printed: list[str] = []
        try:
            wait_for = rng.randint(1, 4)
            deadline = time.monotonic() + 120
            while len(printed) < wait_for and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                printed.append(line.split()[1])
            assert len(printed) == wait_for, "the collector wrote no episodes"
            time.sleep(rng.uniform(0.0, 0.05))  # anywhere: mid-episode or mid-write
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            printed += [line.split()[1] for line in proc.stdout.read().splitlines()]
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        state = folder_state(out)
        now = stored_digests(out)  # the killed writer's mark stays until a writer reopens it
        assert folder_state(out) == state
        # nothing written before is lost or changed; new episodes are exactly those handed over
        assert now[: len(kept)] == kept
        assert now[len(kept) :] == printed[: len(now) - len(kept)]
        assert len(now) - len(kept) >= len(printed) - 1  # at most the episode in flight is lost
        kept = now
    result = collect(
        out, size=16, max_episode_steps=30, num_envs=1, target_episodes=target,
        target_steps=None, policy="random", progress=False,
    )  # fmt: skip
    assert result.episodes == target
    assert stored_digests(out)[: len(kept)] == kept


# ---------------------------------------------------------------- disk full


def test_file_size_limit_while_collecting_gives_one_line_and_keeps_the_store(
    tmp_path: Path,
) -> None:
    out = tmp_path / "store"
    collect(out, size=16, max_episode_steps=30, num_envs=1, target_episodes=3,
            target_steps=None, policy="random", progress=False)  # fmt: skip
    before = stored_digests(out)
    limit = (out / "shard-000.h5").stat().st_size + 20_000

    def small_disk() -> None:  # writes past the limit fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, "-m", "wm_data.cli", *COLLECT_CLI,
         "--bind", f"collect.path = {str(out)!r}", "--bind", "collect.target_episodes = 100"],
        capture_output=True, text=True, env=env(), preexec_fn=small_disk, timeout=300,
    )  # fmt: skip
    assert_one_line_error(result.returncode, result.stderr, "shard-000.h5", "could not write")
    after = stored_digests(out)
    assert after[: len(before)] == before and len(after) < 100
    resumed = collect(out, size=16, max_episode_steps=30, num_envs=1,
                      target_episodes=len(after) + 1, target_steps=None, policy="random",
                      progress=False)  # fmt: skip
    assert resumed.episodes == len(after) + 1
    assert stored_digests(out)[: len(after)] == after


# ---------------------------------------------------------------- corrupt and foreign stores


def _flip_frame_chunk(path: Path) -> None:
    with h5py.File(path, "r") as f:
        info = f["frames"].id.get_chunk_info(0)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + info.size // 2)
        block = bytearray(handle.read(16))
        handle.seek(info.byte_offset + info.size // 2)
        handle.write(bytes(b ^ 0xFF for b in block))


def test_bit_flipped_frames_fail_with_a_store_error(tiny_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "flipped.h5"
    path.write_bytes(tiny_store.read_bytes())
    _flip_frame_chunk(path)
    with pytest.raises(StoreError, match=r"flipped\.h5"):
        stored_digests(path)
    with pytest.raises(StoreError, match=r"flipped\.h5"):
        WindowDataset(path, split="all", in_memory=True)


@pytest.mark.parametrize(
    "damage", ["truncated", "flipped", "not-hdf5", "empty-file", "newer-schema", "not-a-store"]
)
def test_wm_data_info_on_a_damaged_store_is_one_line(
    damage: str, tiny_store: Path, tmp_path: Path, capsys
) -> None:
    path = tmp_path / f"{damage}.h5"
    data = tiny_store.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "flipped":  # the superblock and root metadata
        path.write_bytes(data[:8] + bytes(b ^ 0x5A for b in data[8:2048]) + data[2048:])
    elif damage == "not-hdf5":
        path.write_text("episode,return\n1,3.0\n")
    elif damage == "newer-schema":
        path.write_bytes(data)
        with h5py.File(path, "r+") as f:
            f.attrs["version"] = 99
    elif damage == "not-a-store":
        with h5py.File(path, "w") as f:
            f["frames"] = np.zeros((2, 1, 4, 4), np.uint8)
    else:
        path.write_bytes(b"")
    before = path.read_bytes()
    code = data_main(["info", str(path)])
    assert_one_line_error(code, capsys.readouterr().err, path.name)
    assert path.read_bytes() == before


def folder_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under ``folder`` (hidden ones too) with its mtime and contents."""
    state = {".": (folder.stat().st_mtime_ns, b"")}
    for p in sorted(folder.rglob("*")):
        data = p.read_bytes() if p.is_file() else b""
        state[str(p.relative_to(folder))] = (p.stat().st_mtime_ns, data)
    return state


def _damage_shard(damage: str, data: bytes, path: Path) -> None:
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "flipped-superblock":
        path.write_bytes(data[:8] + bytes(b ^ 0x5A for b in data[8:2048]) + data[2048:])
    elif damage == "flipped-frames":
        path.write_bytes(data)
        _flip_frame_chunk(path)
    elif damage == "foreign-hdf5":
        with h5py.File(path, "w") as f:
            f["frames"] = np.zeros((2, 1, 4, 4), np.uint8)
    else:  # foreign file under a store name
        path.write_text("episode,return\n1,3.0\n")


@pytest.mark.parametrize(
    "damage", ["truncated", "flipped-superblock", "flipped-frames", "foreign-hdf5", "not-hdf5"]
)
def test_reading_a_damaged_store_changes_nothing_in_its_folder(
    damage: str, tiny_store: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    shard = folder / "shard-000.h5"
    _damage_shard(damage, tiny_store.read_bytes(), shard)
    os.utime(folder, ns=(1_000_000_000, 1_000_000_000))  # any later change shows in the mtime
    before = folder_state(folder)
    code = data_main(["info", str(folder)])
    err = capsys.readouterr().err
    if damage != "flipped-frames":  # the layout is intact there; the frames fail when read
        assert_one_line_error(code, err, "shard-000.h5")
    for target in (folder, shard, str(folder / "*.h5")):
        with pytest.raises(StoreError, match="shard-000"), ReplayReader(target) as reader:
            for _ in reader:
                pass
        with pytest.raises(StoreError, match="shard-000"):
            WindowDataset(target, split="all", in_memory=True)
    cli = subprocess.run(
        [sys.executable, "-c", "import sys; from wm_data.cli import data_main; "
         "sys.exit(data_main(sys.argv[1:]))", "info", str(folder), "--json"],
        capture_output=True, text=True, env=env(), timeout=120,
    )  # fmt: skip
    assert cli.returncode == (0 if damage == "flipped-frames" else 1), cli.stderr
    assert folder_state(folder) == before, "reading the store changed its folder"


def test_other_game_or_settings_than_the_config_are_refused_and_nothing_is_overwritten(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "store"
    collect(out, size=16, max_episode_steps=30, num_envs=1, target_episodes=2,
            target_steps=None, policy="random", progress=False)  # fmt: skip
    before = (out / "shard-000.h5").read_bytes()
    code = collect_main(
        [*COLLECT_CLI, "--bind", f"collect.path = {str(out)!r}",
         "--bind", "collect.target_episodes = 4", "--bind", "collect.env_id = 'ALE/Pong-v5'"]
    )  # fmt: skip
    assert_one_line_error(code, capsys.readouterr().err, "env_id", "ALE/Assault-v5", "ALE/Pong-v5")
    assert (out / "shard-000.h5").read_bytes() == before
    with pytest.raises(StoreMismatchError, match="env_id"):
        WindowDataset(out, expect={"env_id": "ALE/Pong-v5"})


def test_empty_store_is_valid_and_reported_as_empty(tmp_path: Path, store_meta, capsys) -> None:
    from wm_data import ReplayWriter

    empty = tmp_path / "empty.h5"
    ReplayWriter(empty, store_meta()).close()
    assert data_main(["info", str(empty)]) == 0  # a valid store; training refuses it clearly
    assert "episodes       0" in capsys.readouterr().out
    assert len(WindowDataset(empty)) == 0


# ---------------------------------------------------------------- a reader beside a writer


def test_reader_beside_a_running_collector_sees_only_complete_episodes(tmp_path: Path) -> None:
    out = tmp_path / "live"
    script = tmp_path / "collector.py"
    script.write_text(COLLECTOR)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), "100000", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    printed: list[str] = []  # filled by a thread: digests in the order they were written
    reader = threading.Thread(
        target=lambda: printed.extend(line.split()[1] for line in proc.stdout), daemon=True
    )
    reader.start()
    reads = []
    try:
        deadline = time.monotonic() + 60
        while not printed and time.monotonic() < deadline:
            time.sleep(0.01)
        while proc.poll() is None and time.monotonic() < deadline and len(reads) < 15:
            digests = stored_digests(out)
            reads.append(len(digests))
            # each digest is printed before its episode is written: wait for the pipe to catch up
            until = time.monotonic() + 10
            while len(printed) < len(digests) and time.monotonic() < until:
                time.sleep(0.01)
            assert digests == printed[: len(digests)]
    finally:
        proc.kill()
        proc.wait()
    assert len(reads) == 15 and reads[-1] > reads[0]  # it read while episodes were added


def test_layout_read_beside_a_live_writer_is_retried_and_otherwise_reported_at_once(
    tiny_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that lands on a chunk a live writer is rewriting is tried again; without a live
    writer the first failure is the answer (a corrupt store is not retried)."""
    from wm_data.store import reader as reader_module

    real, calls = reader_module.validate_layout, []

    def flaky(path, f):
        calls.append(path)
        if len(calls) < 3:
            raise StoreError(f"{path}: replay store is truncated or corrupt (filter failure)")
        return real(path, f)

    monkeypatch.setattr(reader_module, "validate_layout", flaky)
    monkeypatch.setattr(reader_module, "LIVE_PAUSE_S", 0.0)
    monkeypatch.setattr(reader_module, "writer_alive", lambda path: True)
    meta, episodes = reader_module.read_layout(tiny_store)
    assert len(calls) == 3 and len(episodes) > 0 and meta["format"] == "wm-replay"
    calls.clear()
    monkeypatch.setattr(reader_module, "writer_alive", lambda path: False)
    with pytest.raises(StoreError, match="filter failure"):
        reader_module.read_layout(tiny_store)
    assert len(calls) == 1


# ---------------------------------------------------------------- bad configuration


@pytest.mark.parametrize(
    ("binding", "needles"),
    [
        ("collect.target_step = 3", ["target_step", "Did you mean 'target_steps'?"]),
        ("colect.size = 16", ["colect", "Did you mean 'collect'?"]),
        ("collect.policy = 'randm'", ["policy", "'randm'", "random"]),
    ],
)
def test_bad_configuration_fails_before_any_work(
    binding: str, needles: list[str], tmp_path: Path, capsys
) -> None:
    out = tmp_path / "never"
    argv = [*COLLECT_CLI, "--bind", f"collect.path = {str(out)!r}", "--bind", binding]
    try:
        code = collect_main(argv)
    except SystemExit as exc:  # gin errors leave through argparse-style SystemExit(message)
        code, message = 2, str(exc.code)
    else:
        message = capsys.readouterr().err
    assert code != 0 and "Traceback" not in message
    assert len(message.strip().splitlines()) == 1, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert not out.exists()


COLLECT_GIN = Path(__file__).resolve().parents[3] / "configs" / "collect.gin"


@pytest.mark.skipif(not COLLECT_GIN.exists(), reason="runs from a repository checkout")
@pytest.mark.parametrize(
    ("binding", "needles"),
    [
        ("TARGET_STEP = 500", ["'TARGET_STEP'", "Did you mean 'TARGET_STEPS'?"]),
        ("colect.size = 16", ["'colect'", "Did you mean 'collect'?"]),
        ("collect.target_step = 3", ["'target_step'", "Did you mean 'target_steps'?"]),
        ("ENV_ID = 'ALE/NoSuchGame-v5'", ["collect.env_id", "'ALE/NoSuchGame-v5'", "ale-py"]),
        ("ENV_ID = 'ALE/Asault-v5'", ["collect.env_id", "Did you mean 'ALE/Assault-v5'?"]),
        ("ENV_ID = 'CartPole-v1'", ["collect.env_id", "not an Atari env"]),
        ("TARGET_STEPS = -5", ["collect.target_steps = -5", ">= 1"]),
        ("TARGET_STEPS = None", ["collect.target_steps", "collect.target_episodes"]),
        ("collect.num_envs = 0", ["collect.num_envs = 0", "[1, 1024]"]),
        ("collect.num_workers = 0", ["collect.num_workers = 0", "[1, 1024]"]),
        ("AGENT_STEPS = 0", ["collect.agent_steps = 0", ">= 1"]),
        ("MAX_EPISODE_STEPS = 0", ["collect.max_episode_steps = 0", ">= 1, or None"]),
        ("collect.epsilon = 1.5", ["collect.epsilon = 1.5", "[0, 1]"]),
        ("STICKY = -0.1", ["collect.sticky = -0.1", "[0, 1]"]),
        ("FRAMESKIP = 0", ["collect.frameskip = 0", "[1, 64]"]),
        ("FRAME_STACK = 0", ["collect.frame_stack = 0", "[1, 64]"]),
        ("FRAME_SIZE = 4", ["collect.size = 4", "[8, 512]"]),
        ("FRAME_SIZE = 16", ["collect.size = 16", "PPO agent", "36x36"]),
        ("GRAYSCALE = 1", ["collect.grayscale = 1", "True or False"]),
        ("SEED = -1", ["collect.seed = -1"]),
        ("collect.on_target = 'stopp'", ["collect.on_target", "Did you mean 'stop'?"]),
        ("collect.backend = 'native'", ["collect.backend", "collect.ram = False"]),
        ("collect.compression = 'zst'", ["collect.compression", "Did you mean 'zstd'?"]),
    ],
)
def test_refused_collect_config_creates_nothing(
    binding: str, needles: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # configs/collect.gin writes to data/assault: under tmp_path
    (tmp_path / "elsewhere").mkdir()
    before = folder_state(tmp_path)
    code = collect_main(["--gin", str(COLLECT_GIN), "--no-progress", "--bind", binding])
    captured = capsys.readouterr()
    assert_one_line_error(code, captured.err, *needles)
    assert captured.err.startswith("wm-collect: error: ")
    assert folder_state(tmp_path) == before, "a refused run created files"


@pytest.mark.skipif(not COLLECT_GIN.exists(), reason="runs from a repository checkout")
def test_refused_collect_process_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "pong"
    result = subprocess.run(
        [sys.executable, "-m", "wm_data.cli", "--gin", str(COLLECT_GIN), "--no-progress",
         "--bind", f"DATA_DIR = {str(data_dir)!r}", "--bind", "ENV_ID = 'ALE/NoSuchGame-v5'"],
        capture_output=True, text=True, env=env(), cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert_one_line_error(result.returncode, result.stderr, "collect.env_id", "NoSuchGame")
    assert result.stderr.startswith("wm-collect: error: ")
    assert list(tmp_path.iterdir()) == []
