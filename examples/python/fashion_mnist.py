"""Fashion-MNIST with PyTorch: an ordinary training script, federated by six cohort lines.

Each site trains the same MLP as cohort's C++ trainer (784-256-10, ReLU) with SGD on its
share of Debian's Fashion-MNIST (the gzip IDX files of the dataset-fashion-mnist package),
and reports the accuracy of the model it received on its share of the test set.

    cohort simulate recipes/fedavg_fashion_mnist_python.toml
"""

import argparse
import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import cohort


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip) as a numpy array: a magic number, the dimensions, the bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(data_dir: Path, split: str, site_index: int, num_sites: int, seed: int):
    """This site's IID share of a split: every num_sites-th sample of a fixed permutation."""
    images = read_idx(data_dir / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / f"{split}-labels-idx1-ubyte.gz")
    order = np.random.default_rng(seed).permutation(len(labels))[site_index::num_sites]
    x = torch.from_numpy(images[order].astype(np.float32) / 255.0)
    x = (x - 0.2860) / 0.3530  # Fashion-MNIST's mean and standard deviation
    return x.reshape(len(order), 28 * 28), torch.from_numpy(labels[order].astype(np.int64))


class Mlp(nn.Module):
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x)))


def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    net.eval()
    with torch.no_grad():
        logits = net(x)
        return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    cohort.init()
    train_x, train_y = load(args.data_dir, "train", cohort.site_index, cohort.num_sites, args.seed)
    test_x, test_y = load(args.data_dir, "t10k", cohort.site_index, cohort.num_sites, args.seed + 1)
    net = Mlp()

    while cohort.is_running():
        received = cohort.receive()
        net.load_state_dict(received.params)
        test_loss, accuracy = evaluate(net, test_x, test_y)
        metrics = {"accuracy": accuracy, "test_loss": test_loss, "test_examples": len(test_y)}
        if not cohort.is_train():
            cohort.send(cohort.Model(metrics=metrics))
            continue

        net.train()
        optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
        generator = torch.Generator().manual_seed(args.seed * 1000003 + received.current_round * 131 + cohort.site_index)
        steps, loss_sum = 0, 0.0
        for _ in range(args.epochs):
            for batch in torch.randperm(len(train_y), generator=generator).split(args.batch_size):
                optimizer.zero_grad()
                loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
                loss.backward()
                optimizer.step()
                loss_sum += loss.item()
                steps += 1
        cohort.log("loss", loss_sum / steps, step=steps)
        metrics.update(loss=loss_sum / steps, examples=len(train_y))
        cohort.send(cohort.Model(params=net.state_dict(), metrics=metrics, num_steps=steps))
        print(f"round {received.current_round}: {steps} steps, loss {loss_sum / steps:.4f}, "
              f"received model accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
