"""MNIST (both sources, same format) and the text corpus."""
import struct
import urllib.error

import numpy as np
import pytest
import torch

from tempguide import data


def test_subset_split_is_fixed_stratified_and_disjoint():
    train, test = data.subset_split_indices()
    assert len(train) == 4000 and len(test) == 1000
    assert not set(train) & set(test)
    _, y = data._subset_arrays()
    assert np.bincount(y[test], minlength=10).tolist() == [100] * 10
    assert np.bincount(y[train], minlength=10).tolist() == [400] * 10
    train2, test2 = data.subset_split_indices()
    assert (test == test2).all() and (train == train2).all()


def test_subset_format(capsys):
    x, y = data.load_mnist("test", source="subset")
    assert "subset" in capsys.readouterr().out
    assert x.shape == (1000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (1000,) and y.dtype == torch.int64
    assert x.min() == -1.0 and x.max() == 1.0


def _write_idx(root, prefix, images, labels):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with open(raw / f"{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(images), 28, 28) + images.tobytes())
    with open(raw / f"{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, len(labels)) + labels.tobytes())


def test_torchvision_path_reads_real_idx_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = {s: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8) for s, n in (("train", 12), ("t10k", 5))}
    labels = {s: rng.integers(0, 10, size=len(images[s]), dtype=np.uint8) for s in images}
    for s in images:
        _write_idx(tmp_path, s, images[s], labels[s])
    x, y = data.load_mnist("test", source="torchvision", root=tmp_path, download=False)
    assert "torchvision" in capsys.readouterr().out
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    expected = torch.from_numpy(images["t10k"]).float()[:, None] / 127.5 - 1
    torch.testing.assert_close(x, expected)
    assert y.tolist() == labels["t10k"].tolist()
    x, _ = data.load_mnist("train", source="torchvision", root=tmp_path, download=False)
    assert len(x) == 12


def test_download_failure_says_how_to_use_the_subset(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(RuntimeError, match="source='subset'") as err:
        data.load_mnist("train", source="torchvision", root=tmp_path)
    assert "no network" in str(err.value)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation", source="subset")
    with pytest.raises(ValueError, match="source"):
        data.load_mnist("train", source="kaggle")


def test_text_corpus_is_deterministic_and_in_vocabulary():
    corpus = data.load_text()
    assert len(corpus.train) > 300_000 and len(corpus.val) > 30_000
    assert 0.08 < len(corpus.val) / (len(corpus.train) + len(corpus.val)) < 0.12
    assert set(corpus.train + corpus.val) <= set(data.TEXT_VOCAB)
    assert corpus.train.endswith("\n\n")  # cut at a paragraph break
    data.load_text.cache_clear()
    assert data.load_text() == corpus
    assert len(data.TEXT_VOCAB) == 96 and len(set(data.TEXT_VOCAB)) == 96


def test_encode_decode_round_trip():
    text = data.normalize_text("“Quotes” — and tabs\t…")
    assert text == '"Quotes" -- and tabs    ...'
    assert data.decode(data.encode(text)) == text
    with pytest.raises(ValueError, match="TEXT_VOCAB"):
        data.encode("é")
