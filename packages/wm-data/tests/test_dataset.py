from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wm_data.dataset import SPLITS, WindowDataset, episode_uniform, make_loader, split_episodes
from wm_data.store import open_store


def _decode(frames: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic frames carry (episode, time) in their first pixels."""
    f = frames.numpy().astype(np.int64)
    return f[..., 0, 0, 0], f[..., 0, 0, 1] + 256 * f[..., 0, 0, 2]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    context=st.integers(1, 5),
    horizon=st.integers(1, 4),
    in_memory=st.booleans(),
)
def test_windows_never_cross_episodes(
    tmp_path_factory, write_store, lengths, context, horizon, in_memory
):
    path = write_store(tmp_path_factory.mktemp("w") / "s.h5", lengths)
    ds = WindowDataset(
        path, context=context, horizon=horizon, split="all", in_memory=in_memory, include_ram=True
    )
    w = context + horizon
    assert len(ds) == sum(max(0, n + 2 - w) for n in lengths)
    if len(ds) == 0:
        return
    batch = ds.__getitems__(np.arange(len(ds)))
    ep, t = _decode(batch["frames"])
    assert (ep == ep[:, :1]).all(), "a window spans two episodes"
    assert (np.diff(t, axis=1) == 1).all(), "window frames are not consecutive"
    assert (t[:, -1] <= np.asarray(lengths)[ep[:, 0]]).all()
    # action/reward k leads from state k (frames k..k+T-1) to state k+1: env step t0+T-1+k
    step = t[:, context - 1 : context - 1 + horizon]
    expected_reward = ep[:, :1] * 1000 + step
    np.testing.assert_array_equal(batch["rewards"].numpy(), expected_reward)
    np.testing.assert_array_equal(batch["actions"].numpy(), expected_reward % 7)
    assert (batch["ram"][:, :, 0].numpy() == ep).all()
    assert (batch["ram"][:, :, 1].numpy() == t % 256).all()
    # every window position of every episode appears exactly once
    seen = {(int(a), int(b)) for a, b in zip(ep[:, 0], t[:, 0], strict=True)}
    assert len(seen) == len(ds)


def test_batch_contract(tiny_store: Path) -> None:
    ds = WindowDataset(tiny_store, context=4, horizon=2, split="all", include_ram=True)
    assert ds.frame_shape == (1, 16, 16) and ds.num_actions == 7
    assert ds.metadata["env_id"] == "ALE/Assault-v5"
    idx = [5, 0, len(ds) - 1]
    b = ds.__getitems__(idx)
    assert b["frames"].dtype == torch.uint8 and b["frames"].shape == (3, 6, 1, 16, 16)
    assert b["actions"].dtype == torch.int64 and b["actions"].shape == (3, 2)
    assert b["rewards"].dtype == torch.float32 and b["rewards"].shape == (3, 2)
    assert b["index"].tolist() == idx
    assert b["ram"].dtype == torch.uint8 and b["ram"].shape == (3, 6, 128)
    item = ds[5]
    assert item["frames"].shape == (6, 1, 16, 16) and int(item["index"]) == 5
    torch.testing.assert_close(item["frames"], b["frames"][0])
    with pytest.raises(IndexError):
        ds.__getitems__([len(ds)])


def test_real_windows_match_the_store(tiny_store: Path) -> None:
    ds = WindowDataset(tiny_store, context=3, horizon=1, split="all")
    reader = open_store(tiny_store)
    eps, offs = ds.window_episode(np.arange(len(ds)))
    b = ds.__getitems__(np.arange(len(ds)))
    for i in range(0, len(ds), 7):
        ep = reader.episode(int(eps[i]))
        o = int(offs[i])
        np.testing.assert_array_equal(b["frames"][i].numpy(), ep.frames[o : o + 4])
        assert int(b["actions"][i, 0]) == ep.actions[o + 2]


def test_streaming_equals_in_memory(tiny_store: Path) -> None:
    mem = WindowDataset(tiny_store, split="train", in_memory=True, include_ram=True)
    stream = WindowDataset(tiny_store, split="train", in_memory=False, include_ram=True)
    assert mem.in_memory and not stream.in_memory and len(mem) == len(stream)
    idx = np.random.default_rng(0).permutation(len(mem))[:40]
    a, b = mem.__getitems__(idx), stream.__getitems__(idx)
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_in_memory_default_follows_ram_budget(tiny_store: Path) -> None:
    assert WindowDataset(tiny_store).in_memory
    assert not WindowDataset(tiny_store, ram_budget_bytes=100).in_memory


def test_split_is_deterministic_and_disjoint(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "s.h5", [10] * 200)
    sets = {split: WindowDataset(path, split=split, split_seed=3) for split in SPLITS}
    ids = {split: set(ds.episode_ids) for split, ds in sets.items()}
    assert ids["train"].isdisjoint(ids["val"]) and ids["train"].isdisjoint(ids["test"])
    assert ids["val"].isdisjoint(ids["test"])
    assert ids["train"] | ids["val"] | ids["test"] == set(range(200))
    for split in ("val", "test"):  # 15% each, up to the hash's binomial spread
        assert 15 <= len(ids[split]) <= 45, (split, len(ids[split]))
    again = WindowDataset(path, split="test", split_seed=3)
    np.testing.assert_array_equal(sets["test"].episode_ids, again.episode_ids)
    assert set(WindowDataset(path, split="test", split_seed=4).episode_ids) != ids["test"]
    ep_train, _ = _decode(sets["train"].__getitems__(np.arange(len(sets["train"])))["frames"])
    ep_test, _ = _decode(sets["test"].__getitems__(np.arange(len(sets["test"])))["frames"])
    assert set(ep_train.ravel()).isdisjoint(set(ep_test.ravel()))


def test_split_is_stable_when_the_store_grows(tmp_path: Path, write_store) -> None:
    path = write_store(tmp_path / "g.h5", [5] * 40)
    before = {s: set(WindowDataset(path, split=s).episode_ids) for s in SPLITS}
    assert all(before.values())
    write_store(path, [5] * 40, episode_offset=40)
    after = {s: set(WindowDataset(path, split=s).episode_ids) for s in SPLITS}
    for split in SPLITS:  # every stored episode keeps its split; new ones join some split
        assert after[split] & set(range(40)) == before[split]
    assert set().union(*after.values()) == set(range(80))


def test_split_edge_cases(tmp_path: Path, write_store) -> None:
    table = open_store(write_store(tmp_path / "e.h5", [3, 3, 3])).episodes
    parts = split_episodes(table, 0.15, 0, 0.15)  # tiny: each split borrows one episode
    assert [len(parts[s]) for s in SPLITS] == [1, 1, 1]
    parts = split_episodes(table, 0.0, 0, 0.0)
    assert [len(parts[s]) for s in SPLITS] == [3, 0, 0]
    two = open_store(write_store(tmp_path / "two.h5", [3, 3])).episodes
    parts = split_episodes(two, 0.15, 0, 0.15)
    assert len(parts["train"]) == 1 and len(parts["val"]) + len(parts["test"]) == 1
    with pytest.raises(ValueError, match="val_fraction"):
        split_episodes(table, 1.0, 0)
    with pytest.raises(ValueError, match="leave training episodes"):
        split_episodes(table, 0.5, 0, 0.5)


def test_episode_numbers_are_uniform_and_identity_only(tmp_path: Path, write_store) -> None:
    table = np.zeros(500, dtype=[("shard", "i8"), ("index", "i8")])
    table["index"] = np.arange(500)
    u = episode_uniform(table, 0)
    assert ((u >= 0) & (u < 1)).all() and abs(u.mean() - 0.5) < 0.05
    np.testing.assert_array_equal(episode_uniform(table[:100], 0), u[:100])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"context": 0}, "context"), ({"horizon": 0}, "horizon"), ({"split": "valid"}, "split")],
)
def test_bad_arguments_name_the_field(tiny_store: Path, kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        WindowDataset(tiny_store, **kwargs)


def test_include_ram_needs_ram(tmp_path: Path, write_store) -> None:
    from wm_data.testing import make_tiny_store

    path = make_tiny_store(tmp_path / "noram.h5", episodes=1, max_episode_steps=10, ram=False)
    with pytest.raises(ValueError, match="has_ram"):
        WindowDataset(path, include_ram=True)


def test_loader_whole_batches_seeded_and_workers(tiny_store: Path) -> None:
    ds = WindowDataset(tiny_store, split="all", in_memory=False)
    clone = pickle.loads(pickle.dumps(ds))
    torch.testing.assert_close(clone[3]["frames"], ds[3]["frames"])
    order = [b["index"].tolist() for b in make_loader(ds, 16, shuffle=True, seed=1)]
    again = [b["index"].tolist() for b in make_loader(ds, 16, shuffle=True, seed=1)]
    assert order == again and sorted(i for b in order for i in b) == list(range(len(ds)))
    last = list(make_loader(ds, 16, shuffle=False, drop_last=True))
    assert all(b["frames"].shape[0] == 16 for b in last)
    workers = list(make_loader(ds, 16, shuffle=False, num_workers=2))
    assert sum(len(b["index"]) for b in workers) == len(ds)
    torch.testing.assert_close(workers[0]["frames"], ds.__getitems__(list(range(16)))["frames"])
