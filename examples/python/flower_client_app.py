"""A Flower client app (a NumPyClient in a ClientApp), written against Flower's API only: it
runs under cohort unchanged (`[executor.args] api = "flower"`, `client_app = "app"`).

    cohort simulate recipes/migrate/flower_client_app.toml
"""

from collections import OrderedDict

import torch
from flwr.client import ClientApp, NumPyClient
from flwr.common import Context

from fashion_data import evaluate, load, train
from fashion_net import FashionNet

torch.set_num_threads(1)


def get_weights(net):
    return [val.cpu().numpy() for _, val in net.state_dict().items()]


def set_weights(net, parameters):
    params_dict = zip(net.state_dict().keys(), parameters)
    state_dict = OrderedDict({k: torch.tensor(v) for k, v in params_dict})
    net.load_state_dict(state_dict, strict=True)


class FlowerClient(NumPyClient):
    def __init__(self, net, data, local_epochs, lr):
        self.net = net
        self.train_x, self.train_y, self.test_x, self.test_y = data
        self.local_epochs = local_epochs
        self.lr = lr

    def get_parameters(self, config):
        return get_weights(self.net)

    def fit(self, parameters, config):
        set_weights(self.net, parameters)
        steps, loss = train(self.net, self.train_x, self.train_y, self.local_epochs, self.lr,
                            seed=int(config["server_round"]))
        return get_weights(self.net), len(self.train_y), {"train_loss": loss}

    def evaluate(self, parameters, config):
        set_weights(self.net, parameters)
        loss, accuracy = evaluate(self.net, self.test_x, self.test_y)
        return loss, len(self.test_y), {"accuracy": accuracy}


_data = {}


def client_fn(context: Context):
    partition_id = context.node_config["partition-id"]
    num_partitions = context.node_config["num-partitions"]
    limit = int(context.run_config.get("limit", 0))
    if partition_id not in _data:  # read once per site, as Flower's examples cache the partition
        _data[partition_id] = (*load("train", partition_id, num_partitions, limit=limit),
                               *load("t10k", partition_id, num_partitions, seed=1, limit=2000))
    return FlowerClient(FashionNet(), _data[partition_id], int(context.run_config.get("local-epochs", 1)),
                        float(context.run_config.get("lr", 0.05))).to_client()


app = ClientApp(client_fn=client_fn)
