"""Fashion-MNIST with PyTorch: an ordinary training script, federated by six cohort lines.

Each site trains the same MLP as cohort's C++ trainer (784-256-10, ReLU) with SGD on its
share of Debian's Fashion-MNIST (fashion_data.py beside it reads the gzip IDX files of the
dataset-fashion-mnist package), and reports the accuracy of the model it received on its
share of the test set.

    cohort simulate recipes/fedavg_fashion_mnist_python.toml
"""

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

import cohort
from fashion_data import evaluate, load, train


class Mlp(nn.Module):
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    cohort.init()
    train_x, train_y = load("train", cohort.site_index, cohort.num_sites, args.seed)
    test_x, test_y = load("t10k", cohort.site_index, cohort.num_sites, args.seed + 1)
    net = Mlp()

    while cohort.is_running():
        received = cohort.receive()
        net.load_state_dict(received.params)
        test_loss, accuracy = evaluate(net, test_x, test_y)
        metrics = {"accuracy": accuracy, "test_loss": test_loss, "test_examples": len(test_y)}
        if not cohort.is_train():
            cohort.send(cohort.Model(metrics=metrics))
            continue

        seed = args.seed * 1000003 + received.current_round * 131 + cohort.site_index
        # Each batch's loss, as it happens, to the job's tracking/ (TensorBoard): one step per
        # batch, counted over the whole job.
        first_step = received.current_round * args.epochs * math.ceil(len(train_y) / args.batch_size)
        steps, loss = train(net, train_x, train_y, args.epochs, args.lr, seed, args.batch_size, args.momentum,
                            on_loss=lambda value, step: cohort.log("batch/loss", value, step=first_step + step))
        metrics.update(loss=loss, examples=len(train_y))
        cohort.send(cohort.Model(params=net.state_dict(), metrics=metrics, num_steps=steps))
        print(f"round {received.current_round}: {steps} steps, loss {loss:.4f}, "
              f"received model accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
