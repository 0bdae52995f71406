"""Assault's RAM decoded to screen objects: known codes, round trips, and real ALE frames."""

from __future__ import annotations

import numpy as np
import pytest

from wm_eval.objects import assault, object_mask_for
from wm_eval.objects.assault import (
    ENEMY_Y,
    SCREEN,
    decode,
    decode_x,
    encode_x,
    object_boxes,
    object_mask,
)


@pytest.mark.parametrize("shift", [0, 1])
def test_coarse_fine_decode_round_trips_every_reachable_x(shift):
    reachable = np.unique(decode_x(np.arange(256), shift))
    assert reachable.min() <= 4 and reachable.max() >= 150  # the whole playfield
    for x in reachable:
        assert decode_x(np.array([encode_x(int(x), shift)]), shift)[0] == x
    with pytest.raises(ValueError, match="no position byte"):
        encode_x(500, shift)


def test_known_codes_read_off_rendered_frames():
    # (byte, shift, left edge of the sprite in the frame) from ALE Assault frames
    for code, shift, x in [(181, 0, 65), (53, 0, 57), (42, 0, 133), (170, 0, 141)]:
        assert decode_x(np.array([code]), shift)[0] == x
    for code, x in [(57, 102), (136, 98), (200, 94)]:  # mothership, one step apart each
        assert decode_x(np.array([code]), 1)[0] == x
    # raw bytes 57, 136, 200 for x = 102, 98, 94: far from linear in the byte
    assert decode_x(np.array([5]), 0)[0] == 60 and decode_x(np.array([16]), 0)[0] == 2


def _ram(n: int = 1) -> np.ndarray:
    return np.zeros((n, 128), dtype=np.uint8)


def test_quantities_heat_bits_bcd_score_lives_missile():
    ram = _ram(3)
    ram[:, 0:3] = [[0x01, 0x23, 0x45], [0, 0, 0x42], [0, 1, 0x47]]
    ram[:, 28:30] = [[252, 0], [255, 255], [192, 0]]
    ram[:, 21] = [70, 198, 70]
    ram[:, 101] = [4, 3, 1]
    ram[:, 67] = [79, 127, 15]
    ram[:, 39] = [102, 102, 229]
    ram[:, 54:57] = [[192, 0, 192], [0, 0, 0], [192, 192, 192]]
    d = decode(ram)
    np.testing.assert_array_equal(d["score"], [12345, 42, 147])
    np.testing.assert_array_equal(d["heat"], [6, 16, 2])  # gauge width / 4 pixels
    np.testing.assert_array_equal(d["overheat"], [True, False, True])
    np.testing.assert_array_equal(d["lives"], [4, 3, 1])
    np.testing.assert_array_equal(d["missile_active"], [True, False, True])
    assert d["missile_y"][0] == 143 and d["missile_y"][2] == 52
    np.testing.assert_array_equal(d["missile_x"][[0, 2]], [68, 61])
    np.testing.assert_array_equal(d["enemy_present"][0], [True, False, True])
    with pytest.raises(ValueError, match=r"\[N, 128\]"):
        decode(ram[:, :64])


def test_object_mask_scales_boxes_and_skips_absent_objects():
    ram = _ram(2)
    ram[:, 16] = encode_x(80)
    ram[:, 69] = encode_x(40, shift=1)
    ram[:, 33:36] = encode_x(20)
    ram[:, 54] = [192, 0]  # enemy 0 alive in row 0 only
    ram[:, 67] = 127  # no missile
    full = object_mask(ram, SCREEN)
    assert full.shape == (2, *SCREEN) and full.dtype == bool
    assert full[0, 180, 84] and full[1, 180, 84]  # player
    assert full[0, 20, 50] and not full[0, 20, 10]  # mothership spans x 40..72
    y0 = ENEMY_Y[0] + 4
    assert full[0, y0, 25] and not full[1, y0, 25]  # enemy 0 only where alive
    assert not full[:, ENEMY_Y[1] + 4].any()  # enemies 1, 2 never alive
    small = object_mask(ram[0], (64, 64))
    assert small.shape == (64, 64)
    assert small[int(182 * 64 / 210), int(84 * 64 / 160)]
    box, visible = object_boxes(ram)["enemy[0]"]
    np.testing.assert_array_equal(visible, [True, False])
    assert tuple(box[0]) == (ENEMY_Y[0], 20, 8, 16)


def test_object_mask_wraps_at_the_right_edge():
    ram = _ram()
    ram[0, 33] = encode_x(155)
    ram[0, 54] = 192
    ram[0, 16] = encode_x(80)
    m = object_mask(ram, SCREEN)[0]
    row = ENEMY_Y[0] + 2
    assert m[row, 157] and m[row, 5] and not m[row, 20]


def test_lookup_by_env_id():
    assert object_mask_for("ALE/Assault-v5") is assault.object_mask
    assert object_mask_for("AssaultNoFrameskip-v4") is assault.object_mask
    assert object_mask_for("ALE/Pong-v5") is None


STEPS = 300


@pytest.fixture(scope="module")
def rollout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB frames [N, 210, 160, 3], RAM [N, 128] and the foreground [N, 210, 160] of a seeded
    random-policy ALE rollout."""
    gym = pytest.importorskip("gymnasium")
    ale_py = pytest.importorskip("ale_py")
    gym.register_envs(ale_py)
    env = gym.make("ALE/Assault-v5", obs_type="rgb", frameskip=4, repeat_action_probability=0.0)
    rng = np.random.default_rng(1)
    frames, rams, action = [], [], 0
    env.reset(seed=1)
    for _ in range(STEPS):
        if rng.random() < 0.3:  # held actions, so the player travels and fires
            action = int(rng.integers(env.action_space.n))
        obs, _, term, trunc, _ = env.step(action)
        frames.append(obs)
        rams.append(env.unwrapped.ale.getRAM().copy())
        if term or trunc:
            env.reset()
    env.close()
    frames = np.stack(frames)
    return frames, np.stack(rams), _foreground(frames)


def _foreground(frames: np.ndarray) -> np.ndarray:
    """Pixels unlike each frame's background (its commonest colour in the playfield)."""
    packed = (frames.astype(np.int64) * (1, 256, 65536)).sum(-1)
    bg = np.array([np.bincount(p[40:170].ravel()).argmax() for p in packed])
    return packed != bg[:, None, None]


def _left_edge(band: np.ndarray, min_width: int) -> int | None:
    """Left edge of the first run of occupied columns at least ``min_width`` wide."""
    cols = np.flatnonzero(band.any(0))
    if len(cols) == 0:
        return None
    starts = np.r_[cols[0], cols[1:][np.diff(cols) > 1]]
    ends = np.r_[cols[:-1][np.diff(cols) > 1], cols[-1]] + 1
    return next((int(s) for s, e in zip(starts, ends, strict=True) if e - s >= min_width), None)


def _agreement(decoded: np.ndarray, bands: list[np.ndarray], width: int, min_w: int) -> float:
    pairs = [
        (x, m)
        for x, b in zip(decoded, bands, strict=True)
        if x + width <= SCREEN[1] and (m := _left_edge(b, min_w)) is not None
    ]
    assert len(pairs) > 0.5 * len(decoded)
    x, m = np.array(pairs).T
    assert np.mean(np.abs(x - m) <= 2) > 0.8
    return float(np.corrcoef(x, m)[0, 1] ** 2)


def test_decoded_positions_match_the_rendered_sprites(rollout):
    _, ram, fg = rollout
    d = decode(ram)
    r2 = _agreement(d["player_x"], list(fg[:, 183:187]), 8, 5)
    assert r2 > 0.99
    assert np.corrcoef(ram[:, 16], d["player_x"])[0, 1] ** 2 < 0.3  # the raw byte is not x
    assert _agreement(d["mothership_x"], list(fg[:, 22:30]), 32, 20) > 0.99
    for j, y in enumerate(ENEMY_Y):
        alive = d["enemy_present"][:, j]
        bands = fg[:, y + 1 : y + 7]
        assert _agreement(d["enemy_x"][alive, j], list(bands[alive]), 16, 3) > 0.99
        seen = np.array([_left_edge(b, 8) is not None for b in bands])
        assert seen[alive].mean() > 0.95  # alive: a sprite in its row
        if (~alive).sum() >= 20:
            assert seen[~alive].mean() < 0.5  # not alive: mostly an empty row (debris aside)


def test_decoded_missile_heat_lives_match_the_frames(rollout):
    frames, ram, fg = rollout
    d = decode(ram)
    flying = np.flatnonzero(d["missile_active"] & (d["missile_y"] >= 50) & (d["missile_y"] < 178))
    assert len(flying) >= 10
    hits = [
        fg[t, d["missile_y"][t] : d["missile_y"][t] + 8, d["missile_x"][t]].any() for t in flying
    ]
    assert np.mean(hits) > 0.95
    hud = frames[:, 190:200]
    bar = np.any(hud[:, :, 88:] != 0, axis=-1)
    np.testing.assert_array_equal(bar.any(1).sum(1), 4 * d["heat"])
    red = np.all(hud[:, :, 88:] == (200, 72, 72), axis=-1).any((1, 2))
    np.testing.assert_array_equal(red, d["overheat"])
    icons = [np.sum(np.diff(np.r_[0, np.any(h[:, :88] != 0, axis=(0, 2)), 0]) == 1) for h in hud]
    np.testing.assert_array_equal(np.array(icons), np.maximum(d["lives"] - 1, 0))


def test_object_mask_covers_the_moving_objects(rollout):
    _, ram, fg = rollout
    mask = object_mask(ram, SCREEN)
    play = np.zeros(SCREEN, dtype=bool)
    play[14:187, 8:] = True  # below the score, above the ground, right of the ticks
    recall = (fg & mask & play).sum() / (fg & play).sum()
    assert recall > 0.9  # what is left: enemy missiles, sideways shots, debris
    assert mask.mean() < 0.05


def test_store_frames_agree_with_their_ram(tmp_path):
    """The collector's resized grayscale frames and RAM rows line up: player x and mask."""
    from wm_data import WindowDataset
    from wm_data.testing import make_tiny_store

    size = 160  # rows 1.3 screen rows tall: the player's lowest rows stay clear of the ground
    path = make_tiny_store(tmp_path, episodes=1, max_episode_steps=200, size=size, ram=True)
    ds = WindowDataset([str(path)], context=1, horizon=1, split="all", include_ram=True)
    batch = ds.__getitems__(list(range(len(ds))))
    frames = batch["frames"][:, 0, 0].numpy().astype(np.int64)
    ram = batch["ram"][:, 0].numpy()
    scale = size / SCREEN[0]
    bg = np.array(
        [np.bincount(f[int(40 * scale) : int(170 * scale)].ravel()).argmax() for f in frames]
    )
    fg = np.abs(frames - bg[:, None, None]) > 8
    row = int(185.5 * scale)  # the player's lowest rows, clear of sideways shots
    centre = (decode(ram)["player_x"] + 4) * size / SCREEN[1]
    seen = fg[:, row].any(1)
    assert seen.mean() > 0.8
    measured = np.array([np.flatnonzero(r).mean() for r in fg[seen, row]])
    assert np.corrcoef(centre[seen], measured)[0, 1] ** 2 > 0.95
    mask = object_mask(ram, (size, size))
    play = np.zeros((size, size), dtype=bool)
    play[int(14 * scale) : int(186 * scale), 8:] = True
    assert (fg & mask & play).sum() / (fg & play).sum() > 0.8
