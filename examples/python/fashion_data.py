"""Fashion-MNIST for the example scripts: Debian's gzip IDX files (dataset-fashion-mnist),
each site's IID share, and the evaluation every example reports. Ordinary user code: the
scripts import it from beside them, and it travels with them in a submitted job."""

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a numpy array: a magic number, the dimensions, the bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(split: str, site_index: int, num_sites: int, seed: int = 0, limit: int = 0, data_dir: Path = DATA_DIR):
    """A site's IID share of a split (every num_sites-th sample of a fixed permutation), as
    normalized [N, 1, 28, 28] images and labels; at most `limit` samples when given."""
    images = read_idx(data_dir / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / f"{split}-labels-idx1-ubyte.gz")
    order = np.random.default_rng(seed).permutation(len(labels))[site_index::num_sites]
    if limit:
        order = order[:limit]
    x = torch.from_numpy(images[order].astype(np.float32) / 255.0)
    x = (x - 0.2860) / 0.3530  # Fashion-MNIST's mean and standard deviation
    return x.reshape(len(order), 1, 28, 28), torch.from_numpy(labels[order].astype(np.int64))


def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(loss, accuracy) of `net` on (x, y)."""
    net.eval()
    with torch.no_grad():
        logits = net(x)
        return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, seed: int,
          batch_size: int = 64, momentum: float = 0.9, on_loss=None) -> tuple[int, float]:
    """SGD over (x, y); returns (steps, mean loss). `on_loss(loss, step)` hears each batch's
    loss, `step` counting the batches from 0."""
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    generator = torch.Generator().manual_seed(seed)
    steps, loss_sum = 0, 0.0
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
            if on_loss is not None:
                on_loss(loss.item(), steps)
            steps += 1
    return steps, loss_sum / max(steps, 1)
