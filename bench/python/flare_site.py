"""The NVIDIA FLARE-style script of the python benchmarks (api = "nvflare"): FLARE's Client
API only, handling each task without training.

    flare_site.py unchanged        sends the received params back as they are (torch tensors,
                                   or numpy arrays with params = "numpy": views of the same memory)
    flare_site.py new TIMES_FILE   copies them into arrays of its own (kept from task to task,
                                   as a model's parameters are) and sends those; appends to
                                   TIMES_FILE how long flare.receive() and flare.send() took,
                                   cohort's part of the hand-off, apart from the script's copy
"""

import sys
import time

import numpy as np

import nvflare.client as flare

mode = sys.argv[1]
own = {}
flare.init()
while flare.is_running():
    start = time.perf_counter()
    model = flare.receive()
    received = time.perf_counter()
    params = model.params
    if mode == "new":
        for name, value in model.params.items():
            if name not in own or own[name].shape != value.shape:
                own[name] = np.empty_like(value)
            np.copyto(own[name], value)  # the script's own work: not cohort's
        params = own
    before_send = time.perf_counter()
    flare.send(flare.FLModel(params=params, meta={"NUM_STEPS_CURRENT_ROUND": 1}))
    if mode == "new":
        with open(sys.argv[2], "a") as times:
            times.write(f"{received - start} {time.perf_counter() - before_send}\n")
