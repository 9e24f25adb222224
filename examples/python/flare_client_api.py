"""An NVIDIA FLARE Client API script, as FLARE's hello-world examples are written: it
imports nvflare.client and nothing of cohort, and runs under cohort unchanged
(`[executor.args] api = "nvflare"`).

    cohort simulate recipes/migrate/nvflare_client_api.toml
"""

import argparse

import torch

import nvflare.client as flare
from nvflare.client.tracking import SummaryWriter

from fashion_data import evaluate, load, train
from simple_network import SimpleNetwork


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    net = SimpleNetwork()
    flare.init()
    sys_info = flare.system_info()
    client_name = sys_info["site_name"]
    site_index = int(client_name.rsplit("-", 1)[-1]) - 1
    train_x, train_y = load("train", site_index, 2, limit=args.limit)
    test_x, test_y = load("t10k", site_index, 2, seed=1, limit=2000)
    summary_writer = SummaryWriter()

    while flare.is_running():
        input_model = flare.receive()
        print(f"site={client_name}, current_round={input_model.current_round}")
        net.load_state_dict(input_model.params)
        _, accuracy = evaluate(net, test_x, test_y)
        if flare.is_evaluate():
            flare.send(flare.FLModel(metrics={"accuracy": accuracy}))
            continue

        steps, loss = train(net, train_x, train_y, args.epochs, args.lr, seed=input_model.current_round,
                            on_loss=lambda value, step: step % 50 == 0 and summary_writer.add_scalar(
                                tag="loss_for_each_batch", scalar=value, global_step=step))
        print(f"site={client_name}: finished training, loss {loss:.4f}")
        output_model = flare.FLModel(
            params=net.cpu().state_dict(),
            metrics={"accuracy": accuracy},
            meta={"NUM_STEPS_CURRENT_ROUND": steps},
        )
        flare.send(output_model)


if __name__ == "__main__":
    main()
