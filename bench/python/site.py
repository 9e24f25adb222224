"""The script of the python benchmarks: handles each task without training.

    site.py unchanged   sends the received tensors back as they are (the hand-off alone)
    site.py trained     copies them into its own parameters (as load_state_dict does into a
                        network's), changes those, and sends them (copied back into the
                        shared memory)
"""

import sys

import torch

import cohort

mode = sys.argv[1]
own = {}  # the script's own parameters, kept from task to task as a network's are
cohort.init()
while cohort.is_running():
    model = cohort.receive()
    if mode == "trained":
        for name, t in model.params.items():
            if name not in own or own[name].shape != t.shape:
                own[name] = torch.empty_like(t)
            own[name].copy_(t).add_(1.0)
        params = own
    else:
        params = model.params
    cohort.send(cohort.Model(params=params, num_steps=1, metrics={"loss": 1.0}))
