"""Makes the initial global model of a recipe's ``[model] python = "FILE.py:CLASS"``.

cohort's server runs it once per job, in a process of its own::

    python3 -m cohort._export_model FILE CLASS KWARGS_JSON OUT

It imports FILE (its folder first on ``sys.path``, so that the module's own imports from
beside it work), instantiates ``CLASS(**kwargs)`` and saves its ``state_dict()`` to OUT
with ``torch.save`` as a plain dict of contiguous CPU tensors, which the server reads.
Exit status: 0; 3 the module cannot be imported; 4 it has no such class; 5 the
constructor raised; 6 ``state_dict()`` is not a dict of tensors; 7 it is empty. What
went wrong is printed, with the traceback.
"""

import importlib.util
import inspect
import json
import os
import sys
import traceback


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python3 -m cohort._export_model FILE CLASS KWARGS_JSON OUT", file=sys.stderr)
        return 2
    file, name, kwargs_json, out = argv
    file = os.path.abspath(file)
    sys.path.insert(0, os.path.dirname(file))
    try:
        spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(file))[0], file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    except BaseException:
        traceback.print_exc()
        print(f"{os.path.basename(file)} cannot be imported")
        return 3
    cls = getattr(module, name, None)
    if cls is None:
        classes = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == module.__name__)
        print(f"{os.path.basename(file)} has no '{name}'; the classes it defines: {', '.join(classes) or 'none'}")
        return 4
    import torch

    try:
        model = cls(**json.loads(kwargs_json))
    except BaseException:
        traceback.print_exc()
        print(f"{name}(**{kwargs_json}) raised")
        return 5
    state = model.state_dict() if hasattr(model, "state_dict") else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        print(f"{name}().state_dict() is not a dict of tensors: is {name} a torch.nn.Module?")
        return 6
    if not state:
        print(f"{name}().state_dict() is empty: the model has no parameters or buffers")
        return 7
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    torch.save(tensors, out)
    print(f"{name}: {len(tensors)} tensors, {sum(t.numel() for t in tensors.values())} elements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
