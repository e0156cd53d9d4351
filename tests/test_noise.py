from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alsofilter.data import noise as N
from alsofilter.io import atomic_path, write_json_atomic, write_text_atomic


def _labels(n=20000, c=10, seed=123):
    return np.random.default_rng(seed).integers(0, c, size=n)


# ---------------------------------------------------------------- determinism


def test_same_seed_identical_table_and_bytes(tmp_path):
    y = _labels(5000)
    images = np.random.default_rng(0).integers(0, 256, size=(5000, 1, 4, 4), dtype=np.uint8)
    for noise in N.NOISE_TYPES:
        a = N.make_noisy_labels(y, 10, noise, 0.4, 7, "cifar10", images=images)
        b = N.make_noisy_labels(y, 10, noise, 0.4, 7, "cifar10", images=images)
        pd.testing.assert_frame_equal(a, b)
        N.write_noise_table(a, tmp_path / f"{noise}_a.csv")
        N.write_noise_table(b, tmp_path / f"{noise}_b.csv")
        assert (tmp_path / f"{noise}_a.csv").read_bytes() == (tmp_path / f"{noise}_b.csv").read_bytes()
        c = N.make_noisy_labels(y, 10, noise, 0.4, 8, "cifar10", images=images)
        assert not np.array_equal(a["noisy_label"], c["noisy_label"])


def test_table_layout():
    y = _labels(100)
    t = N.make_noisy_labels(y, 10, "symmetric", 0.5, 0, "cifar10")
    assert list(t.columns) == ["index", "true_label", "noisy_label", "is_noisy"]
    assert t["index"].tolist() == list(range(100))
    assert t["true_label"].tolist() == y.tolist()
    assert t["is_noisy"].dtype == bool
    assert t["noisy_label"].dtype == np.int64
    assert (t["is_noisy"] == (t["true_label"] != t["noisy_label"])).all()
    assert t.attrs["seed"] == 0 and t.attrs["noise"] == "symmetric"


def test_rate_zero_is_clean():
    y = _labels(1000)
    t = N.make_noisy_labels(y, 10, "symmetric", 0.0, 1, "cifar10")
    assert not t["is_noisy"].any()


# ---------------------------------------------------------------- realised rates


@pytest.mark.parametrize("rate", [0.2, 0.4, 0.8])
def test_symmetric_rates(rate):
    c = 10
    y = _labels(20000, c)
    t = N.make_noisy_labels(y, c, "symmetric", rate, 3, "cifar10")
    assert abs(t["is_noisy"].mean() - rate * (c - 1) / c) < 0.01
    t2 = N.make_noisy_labels(y, c, "symmetric", rate, 3, "cifar10", include_true=False)
    assert abs(t2["is_noisy"].mean() - rate) < 0.01
    # flipped labels spread over all other classes
    flipped = t2[t2["is_noisy"]]
    counts = np.bincount(flipped["noisy_label"], minlength=c)
    assert (counts > 0).all()


def test_symmetric_noise_function_direct():
    rng = np.random.default_rng(0)
    y = np.zeros(10000, dtype=np.int64)
    out = N.symmetric_noise(y, 4, 0.6, rng, include_true=False)
    assert set(np.unique(out)) == {0, 1, 2, 3}
    assert abs((out != 0).mean() - 0.6) < 0.02


# ---------------------------------------------------------------- asymmetric


@pytest.mark.parametrize("dataset", ["cifar10", "digits", "mnist"])
def test_asymmetric_standard(dataset):
    mapping = N.ASYMMETRIC_MAPPINGS[dataset]
    y = _labels(20000)
    t = N.make_noisy_labels(y, 10, "asymmetric", 0.4, 5, dataset)
    for cls in range(10):
        rows = t[t["true_label"] == cls]
        if cls not in mapping:
            assert not rows["is_noisy"].any(), f"unmapped class {cls} changed"
        else:
            flipped = rows[rows["is_noisy"]]
            assert set(flipped["noisy_label"]) == {mapping[cls]}
            assert abs(rows["is_noisy"].mean() - 0.4) < 0.05
    assert t.attrs["mapping"] == {str(k): v for k, v in sorted(mapping.items())}


def test_standard_mappings_values():
    assert N.ASYMMETRIC_MAPPINGS["cifar10"] == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    assert N.ASYMMETRIC_MAPPINGS["digits"] == {2: 7, 3: 8, 5: 6, 6: 5, 7: 1}
    assert N.ASYMMETRIC_MAPPINGS["mnist"] == N.ASYMMETRIC_MAPPINGS["digits"]


def test_asymmetric_swap_uses_original_labels():
    rng = np.random.default_rng(0)
    y = np.array([3, 5] * 500)
    out = N.asymmetric_noise(y, 0.999999, {3: 5, 5: 3}, rng)
    assert np.array_equal(out, np.array([5, 3] * 500))


def test_random_pair_mapping():
    m = N.random_pair_mapping(10, np.random.default_rng(0))
    assert sorted(m) == list(range(10))
    assert all(m[c] != c and 0 <= m[c] < 10 for c in m)
    assert m == N.random_pair_mapping(10, np.random.default_rng(0))
    maps = [N.random_pair_mapping(10, np.random.default_rng(s)) for s in range(5)]
    assert len({tuple(sorted(x.items())) for x in maps}) > 1

    y = _labels(5000)
    t = N.make_noisy_labels(y, 10, "asymmetric", 0.3, 11, "anything", asymmetric_mapping="random-pairs")
    mapping = {int(k): v for k, v in t.attrs["mapping"].items()}
    flipped = t[t["is_noisy"]]
    assert (flipped["noisy_label"].to_numpy() == np.array([mapping[c] for c in flipped["true_label"]])).all()
    t2 = N.make_noisy_labels(y, 10, "asymmetric", 0.3, 11, "anything", asymmetric_mapping="random-pairs")
    pd.testing.assert_frame_equal(t, t2)


def test_next_in_superclass():
    f2c = np.array([1, 0, 1, 0, 1, 2])  # superclass 1: {0,2,4}, 0: {1,3}, 2: {5}
    m = N.next_in_superclass_mapping(f2c)
    assert m == {0: 2, 2: 4, 4: 0, 1: 3, 3: 1}

    f2c = np.repeat(np.arange(20), 5)[np.random.default_rng(0).permutation(100)]
    m = N.next_in_superclass_mapping(f2c)
    assert sorted(m) == list(range(100))
    assert all(f2c[k] == f2c[v] and k != v for k, v in m.items())
    y = np.arange(100).repeat(50)
    t = N.make_noisy_labels(y, 100, "asymmetric", 0.4, 0, "cifar100", fine_to_coarse=f2c)
    flipped = t[t["is_noisy"]]
    assert (f2c[flipped["true_label"]] == f2c[flipped["noisy_label"]]).all()
    assert (flipped["noisy_label"].to_numpy() == np.array([m[c] for c in flipped["true_label"]])).all()


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.2", None, True])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        N.make_noisy_labels(_labels(10), 10, "symmetric", rate, 0, "cifar10")


def test_unknown_noise_type():
    with pytest.raises(ValueError, match="'gaussian'.*symmetric, asymmetric"):
        N.make_noisy_labels(_labels(10), 10, "gaussian", 0.2, 0, "cifar10")


def test_asymmetric_no_mapping():
    with pytest.raises(ValueError, match="'svhn'.*random-pairs"):
        N.make_noisy_labels(_labels(10), 10, "asymmetric", 0.2, 0, "svhn")
    with pytest.raises(ValueError, match="'cifar100'.*fine_to_coarse"):
        N.make_noisy_labels(_labels(10, 100), 100, "asymmetric", 0.2, 0, "cifar100")
    with pytest.raises(ValueError, match="'nearest'"):
        N.make_noisy_labels(_labels(10), 10, "asymmetric", 0.2, 0, "cifar10", asymmetric_mapping="nearest")


def test_mapping_outside_num_classes():
    with pytest.raises(ValueError, match="only 5 classes"):
        N.make_noisy_labels(_labels(10, 5), 5, "asymmetric", 0.2, 0, "cifar10")


@pytest.mark.parametrize("labels,msg", [([0, 1, 10], "found 10 at position 2"), ([0, -1], "found -1"),
                                        ([0.5, 1.0], "integers")])
def test_bad_labels(labels, msg):
    with pytest.raises(ValueError, match=msg):
        N.make_noisy_labels(labels, 10, "symmetric", 0.2, 0, "cifar10")


@pytest.mark.parametrize("seed", [1.5, "3", None, -1, True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        N.make_noisy_labels(_labels(10), 10, "symmetric", 0.2, seed, "cifar10")


def test_numpy_integer_seed_ok():
    a = N.make_noisy_labels(_labels(50), 10, "symmetric", 0.2, np.int64(4), "cifar10")
    b = N.make_noisy_labels(_labels(50), 10, "symmetric", 0.2, 4, "cifar10")
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------- files


def test_roundtrip_and_format(tmp_path):
    t = N.make_noisy_labels(_labels(300), 10, "symmetric", 0.5, 2, "cifar10")
    path = tmp_path / "sub" / "noise.csv"
    N.write_noise_table(t, path)
    text = path.read_bytes()
    assert text.startswith(b"index,true_label,noisy_label,is_noisy\n")
    assert b"\r" not in text and b"." not in text and text.endswith(b"\n")
    assert set(line.rsplit(b",", 1)[1] for line in text.splitlines()[1:]) == {b"0", b"1"}
    back = N.read_noise_table(path)
    for col in N.NOISE_TABLE_COLUMNS:
        assert back[col].tolist() == t[col].tolist()
    assert back["is_noisy"].dtype == bool and back["true_label"].dtype == np.int64
    assert sorted(p.name for p in path.parent.iterdir()) == ["noise.csv"]


def test_atomic_write_leaves_no_temp_on_error(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith("out.tmp-") and tmp.suffix == ".csv"
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    # an invalid table is rejected before anything is written
    bad = pd.DataFrame({"index": [0], "true_label": [1], "noisy_label": [2], "is_noisy": [False]})
    with pytest.raises(ValueError, match="inconsistent"):
        N.write_noise_table(bad, tmp_path / "bad.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_json_and_text_atomic(tmp_path):
    write_json_atomic(tmp_path / "a" / "m.json", {"b": np.int64(2), "a": [np.float32(0.5)], "c": np.bool_(True)})
    assert (tmp_path / "a" / "m.json").read_text() == '{\n  "a": [\n    0.5\n  ],\n  "b": 2,\n  "c": true\n}\n'
    write_text_atomic(tmp_path / "t.txt", "x\ny\n")
    assert (tmp_path / "t.txt").read_bytes() == b"x\ny\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "t.txt"]


def _write(tmp_path, text):
    p = tmp_path / "doctored.csv"
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,msg", [
    ("index,true_label,noisy_label,is_noisy\n0,1,2,0\n", "inconsistent"),
    ("index,true_label,noisy_label,is_noisy\n0,1,1,1\n", "inconsistent"),
    ("index,true_label,noisy_label,is_noisy\n1,1,1,0\n", "'index'"),
    ("index,true_label,noisy_label,is_noisy\n0,1,1,0\n0,2,2,0\n", "'index'"),
    ("index,true_label,noisy,is_noisy\n0,1,1,0\n", "expected columns"),
    ("index,true_label,noisy_label,is_noisy\n0,1.5,1,0\n", "'true_label'"),
    ("index,true_label,noisy_label,is_noisy\n0,1,1,maybe\n", "'is_noisy'"),
    ("index,true_label,noisy_label,is_noisy\n0,-1,-1,0\n", "negative"),
    ("", "empty"),
])
def test_read_rejects_doctored(tmp_path, text, msg):
    p = _write(tmp_path, text)
    with pytest.raises(ValueError, match=msg) as info:
        N.read_noise_table(p)
    assert "doctored.csv" in str(info.value)


def test_read_rejects_edited_real_file(tmp_path):
    t = N.make_noisy_labels(_labels(50), 10, "symmetric", 0.5, 2, "cifar10")
    p = tmp_path / "doctored.csv"
    N.write_noise_table(t, p)
    lines = p.read_text().splitlines()
    i, true, noisy, flag = lines[5].split(",")
    lines[5] = ",".join([i, true, str((int(true) + 1) % 10), "0"])
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="doctored.csv.*inconsistent"):
        N.read_noise_table(p)


# ---------------------------------------------------------------- instance-dependent noise


def _digits():
    from alsofilter.data.loading import load_pipeline_dataset

    return load_pipeline_dataset("digits", None, None)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_instance_rate_on_digits(seed):
    """The demo's data: the realised rate is within 0.01 of the requested 0.4 (systematic sampling
    leaves only the spread of the mean flip rate, 0.1 / sqrt(1437))."""
    data = _digits()
    t = N.make_noisy_labels(data.y_train, 10, "instance", 0.4, seed, "digits", images=data.x_train)
    assert abs(t["is_noisy"].mean() - 0.4) < 0.01
    assert t.attrs["noise"] == "instance" and t.attrs["flip_std"] == 0.1


def test_instance_wrong_label_depends_on_the_image():
    """Two copies of each image: where both flip, they agree on the wrong label far more often than
    the 1/(C-1) of chance (the softmax of x·W picks mostly one class per image)."""
    data = _digits()
    n = len(data.y_train)
    x = np.concatenate([data.x_train, data.x_train])
    y = np.concatenate([data.y_train, data.y_train])
    t = N.make_noisy_labels(y, 10, "instance", 0.4, 11, "digits", images=x)
    noisy, flipped = t["noisy_label"].to_numpy(), t["is_noisy"].to_numpy()
    both = flipped[:n] & flipped[n:]
    assert both.sum() > 100                      # ~0.4^2 of 1437
    agree = (noisy[:n][both] == noisy[n:][both]).mean()
    assert agree > 0.6 > 3 * (1 / 9)
    # the same images under symmetric noise: chance agreement
    s = N.make_noisy_labels(y, 10, "symmetric", 0.4, 11, "digits", include_true=False)
    sn, sf = s["noisy_label"].to_numpy(), s["is_noisy"].to_numpy()
    sboth = sf[:n] & sf[n:]
    assert (sn[:n][sboth] == sn[n:][sboth]).mean() < 0.25


def test_instance_noise_properties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, size=4000)
    x = rng.integers(0, 256, size=(4000, 3, 4, 4), dtype=np.uint8)
    noisy, q = N.instance_noise(y, x, 5, 0.3, np.random.default_rng(1))
    assert q.min() >= 0 and q.max() <= 1 and abs(q.mean() - 0.3) < 0.01 and abs(q.std() - 0.1) < 0.01
    flips = noisy != y
    assert abs(flips.sum() - q.sum()) <= 1        # systematic sampling: Σ q flips, rounded
    assert noisy.min() >= 0 and noisy.max() < 5
    # samples with a higher flip rate flip more often (each flips with probability q_i)
    assert flips[q > 0.4].mean() > flips[q < 0.2].mean() + 0.2
    again, _ = N.instance_noise(y, x, 5, 0.3, np.random.default_rng(1))
    assert np.array_equal(noisy, again)
    clean, q0 = N.instance_noise(y, x, 5, 0.0, np.random.default_rng(1))
    assert np.array_equal(clean, y) and not q0.any()
    with pytest.raises(ValueError, match="one image per label"):
        N.instance_noise(y, x[:10], 5, 0.3, np.random.default_rng(1))
    with pytest.raises(ValueError, match="pass images"):
        N.make_noisy_labels(y, 5, "instance", 0.3, 1, "mine")
