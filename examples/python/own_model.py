"""Your own model, federated with cohort's Client API: FashionNet (fashion_net.py, a CNN with
BatchNorm) trained on each site's share of Fashion-MNIST.

The server's initial global model is FashionNet's own: the recipe names the class
(`[model] python = "fashion_net.py:FashionNet"`), or a file of its weights (`initial`), or
leaves it to a site (`from_site = true`: this script answers the get_parameters task).

    cohort simulate recipes/migrate/own_model.toml
"""

import argparse

import torch

import cohort
from fashion_data import evaluate, load, train
from fashion_net import FashionNet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=0, help="at most this many training samples a site")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    cohort.init()
    train_x, train_y = load("train", cohort.site_index, cohort.num_sites, limit=args.limit)
    test_x, test_y = load("t10k", cohort.site_index, cohort.num_sites, seed=1, limit=2000)
    net = FashionNet()

    while cohort.is_running():
        received = cohort.receive()
        if cohort.is_get_parameters():  # [model] from_site: this site's model is the start
            cohort.send(cohort.Model(params=net.state_dict()))
            continue
        net.load_state_dict(received.params, strict=True)
        test_loss, accuracy = evaluate(net, test_x, test_y)
        metrics = {"accuracy": accuracy, "test_loss": test_loss, "test_examples": len(test_y)}
        if not cohort.is_train():
            cohort.send(cohort.Model(metrics=metrics))
            continue
        steps, loss = train(net, train_x, train_y, args.epochs, args.lr, seed=received.current_round * 131 + cohort.site_index)
        metrics.update(loss=loss, examples=len(train_y))
        cohort.send(cohort.Model(params=net.state_dict(), metrics=metrics, num_steps=steps))
        print(f"round {received.current_round}: {steps} steps, loss {loss:.4f}, received model accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
